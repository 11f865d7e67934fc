#include "decoding/strategies/args/args_strategy.h"

#include "decoding/strategies/args/args.h"
#include "decoding/strategies/reward_guided/reward_params.h"

namespace tandem::decoding {
namespace {

using O = ArgsOptions;

ParamTable<O> Params() {
  ParamTable<O> t;
  AddRewardParams(t, "reward", "reward_options", [](O& o) -> RewardSpec& { return o.reward; }, "reward scorer");
  return t.Int("top_k", 1, 256, [](O& o) -> int& { return o.top_k; }, "Candidates per token.")
      .Real("w", -1e6, 1e6, [](O& o) -> double& { return o.w; }, "Reward weight.")
      .Choice("mode", {"greedy", "sample"}, "greedy", [](const std::string& v, O& o) { o.greedy = v == "greedy"; },
              "'greedy' (argmax) or 'sample' (softmax(s / tau) over the candidates).")
      .PositiveReal("tau", 100, [](O& o) -> double& { return o.tau; }, "Sampling temperature of mode=sample.");
}

}  // namespace

const StrategyDefinition& ArgsStrategy() {
  static const StrategyDefinition& definition = DefineStrategy<O>({
      .name = "args",
      .description = "ARGS: per token, the target's top_k tokens are scored by the reward model (one call) "
                     "and the token maximizing logit + w * reward is taken (or sampled).",
      .params = Params(),
      .finish = nullptr,
      .needs = [](const O&) { return PortNeeds{.reward = true}; },
      .stats = spec::kStatsReward,
      .own_token_rule = true,
      .run = [](const O& o, const StrategyCall& c) -> absl::Status {
        auto reward = RequireRewardScorer(c.ports, "args");
        if (!reward.ok()) return reward.status();
        return RunArgs(c.request, o, *c.ports.verifier, **reward, c.vocab, c.on_chunk, c.result);
      },
  });
  return definition;
}

}  // namespace tandem::decoding
