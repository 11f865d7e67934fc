#include "decoding/strategies/best_of_n/best_of_n_strategy.h"

#include "decoding/strategies/best_of_n/best_of_n.h"
#include "decoding/strategies/reward_guided/reward_params.h"

namespace tandem::decoding {
namespace {

using O = BestOfNOptions;

ParamTable<O> Params() {
  ParamTable<O> t;
  AddRewardParams(t, "reward", "reward_options", [](O& o) -> RewardSpec& { return o.reward; }, "reward scorer");
  return t.Int("n", 1, 64, [](O& o) -> int& { return o.n; }, "Responses sampled.")
      .Int("parallel", 1, O::kMaxParallel, [](O& o) -> int& { return o.parallel; },
           "Responses sampled at once, each on its own thread (a batching target decodes them in shared "
           "forward passes); 1 = one after another. Same result either way.");
}

}  // namespace

const StrategyDefinition& BestOfNStrategy() {
  static const StrategyDefinition& definition = DefineStrategy<O>({
      .name = "best_of_n",
      .description = "Best-of-N: N responses sampled with the request's sampling parameters (forks of one "
                     "prompt prefill), scored in one reward call; the best is returned (streamed at the end).",
      .params = Params(),
      .finish = nullptr,
      .needs = [](const O&) { return PortNeeds{.reward = true}; },
      .stats = spec::kStatsReward,
      .run = [](const O& o, const StrategyCall& c) -> absl::Status {
        auto reward = RequireRewardScorer(c.ports, "best_of_n");
        if (!reward.ok()) return reward.status();
        return RunBestOfN(c.request, o, *c.ports.verifier, **reward, c.vocab, c.on_chunk, c.result);
      },
  });
  return definition;
}

}  // namespace tandem::decoding
