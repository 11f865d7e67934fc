#include "decoding/strategies/cards/cards_strategy.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "decoding/strategies/cards/cards.h"
#include "decoding/strategies/reward_guided/reward_params.h"
#include "decoding/strategies/reward_guided/target_likelihood.h"

namespace tandem::decoding {
namespace {

using O = CardsOptions;

// r_star: a number, "-inf" (hard mode then accepts everything) or
// "auto:<q>" (per-request calibration at quantile q).
absl::Status SetRStar(const std::string& key, const std::string& value, O& o) {
  constexpr std::string_view kAuto = "auto:";
  if (value == "-inf") {
    o.r_star = -std::numeric_limits<double>::infinity();
    o.r_star_quantile.reset();
    return absl::OkStatus();
  }
  if (value.compare(0, kAuto.size(), kAuto) == 0) {
    double q = 0;
    if (absl::Status s = ParseRealParam(key, value.substr(kAuto.size()), 0, 1, &q); !s.ok()) {
      return BadParam(key, absl::StrCat("'", value, "': auto:<q> needs a quantile q in [0, 1]"));
    }
    o.r_star_quantile = q;
    return absl::OkStatus();
  }
  o.r_star_quantile.reset();
  return ParseRealParam(key, value, -1e30, 1e30, &o.r_star);
}

ParamTable<O> Params() {
  ParamTable<O> t;
  AddRewardParams(t, "reward", "reward_options", [](O& o) -> RewardSpec& { return o.reward; }, "reward scorer",
                  " Or target_likelihood: exp(mean target log-probability) of the segment, scored on the target, "
                  "no reward scorer needed (docs/algorithms.md).");
  return t
      .Text("r_star", "0.8 (judge: P(yes) in [0, 1])", SetRStar,
            "Target reward on the backend's scale: a number, -inf (hard mode then accepts every segment), or "
            "auto:<q> = the q-quantile of the rewards of calibration_samples responses the policy samples for "
            "this prompt (costs up to calibration_samples * max_tokens target calls and one reward call).")
      .Int("calibration_samples", 1, 64, [](O& o) -> int& { return o.calibration_samples; },
           "Responses sampled for r_star=auto:<q>.")
      .Real("alpha", 0, 1, [](O& o) -> double& { return o.alpha; },
            "Weight of r_star in the initial threshold r0 = (1-alpha) R(prompt) + alpha r_star.")
      .PositiveReal("beta", 100, [](O& o) -> double& { return o.beta; },
                    "Proposal temperature (top_k of softmax(z/beta)) and soft-acceptance temperature.")
      .Text("accept_beta", "beta",
            [](const std::string& key, const std::string& value, O& o) -> absl::Status {
              double v = 0;
              if (absl::Status s = ParsePositiveRealParam(key, value, 100, &v); !s.ok()) return s;
              o.accept_beta = v;
              return absl::OkStatus();
            },
            "Soft-acceptance temperature when it should differ from beta (rewards on a small scale such as "
            "the judge's [0, 1] need a smaller one), (0, 100].")
      .Real("tau_u", 0, 1e6, [](O& o) -> double& { return o.tau_u; },
            "Segment boundary: next-token entropy in nats (temperature 1, full vocabulary).")
      .Int("top_k", 1, 1024, [](O& o) -> int& { return o.top_k; }, "Proposal candidates per token.")
      .Int("min_segment", 1, 4096, [](O& o) -> int& { return o.min_segment; },
           "Minimum segment length in tokens (<= max_segment).")
      .Int("max_segment", 1, 4096, [](O& o) -> int& { return o.max_segment; }, "Maximum segment length in tokens.")
      .Int("max_rejections", 0, 1000, [](O& o) -> int& { return o.max_rejections; },
           "Rejections after which the best candidate so far is accepted.")
      .Choice("acceptance", {"soft", "hard"}, "soft", [](const std::string& v, O& o) { o.hard = v == "hard"; },
              "'soft': accept with probability min(1, exp((r - tau)/beta)); 'hard': accept iff r >= tau.")
      .Bool("stop_at_eos", [](O& o) -> bool& { return o.stop_at_eos; },
            "An end-of-generation token ends the response (the reference runs to max_tokens and treats it as "
            "text).")
      .Choice("eos_threshold", {"r_star", "ramp"}, "r_star",
              [](const std::string& v, O& o) { o.eos_threshold_r_star = v == "r_star"; },
              "'r_star': a segment that ends the response (end-of-generation) must reach r_star itself; "
              "'ramp': the length ramp applies to it too (the spec read literally).");
}

}  // namespace

const StrategyDefinition& CardsStrategy() {
  static const StrategyDefinition& definition = DefineStrategy<O>({
      .name = "cards",
      .description = "CARDS: segment-level rejection sampling guided by a reward model (segments end before a "
                     "high-entropy token; each is accepted against a reward threshold that ramps to r_star, "
                     "rejected ones are rolled back).",
      .params = Params(),
      .finish = [](O& o) -> absl::Status {
        return IsTargetLikelihood(o.reward) ? ValidateTargetLikelihoodSpec(o.reward, "reward_options")
                                            : absl::OkStatus();
      },
      // reward=target_likelihood scores on the target: no reward scorer needed.
      .needs = [](const O& o) { return PortNeeds{.reward = !IsTargetLikelihood(o.reward)}; },
      .stats = spec::kStatsReward | spec::kStatsCards,
      .own_token_rule = true,
      .run = [](const O& options, const StrategyCall& c) -> absl::Status {
        O o = options;
        o.target_parameters = static_cast<double>(c.ports.target.parameters);
        if (IsTargetLikelihood(o.reward)) {
          return RunCards(c.request, o, *c.ports.verifier, c.ports.reward, c.vocab, c.on_chunk, c.result);
        }
        auto reward = RequireRewardScorer(c.ports, "cards");
        if (!reward.ok()) return reward.status();
        return RunCards(c.request, o, *c.ports.verifier, *reward, c.vocab, c.on_chunk, c.result);
      },
  });
  return definition;
}

}  // namespace tandem::decoding
