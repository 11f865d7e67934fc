#include "decoding/strategies/rsd/rsd_strategy.h"

#include "absl/strings/str_cat.h"
#include "decoding/registry/strategy_params.h"
#include "decoding/strategies/reward_guided/reward_params.h"
#include "decoding/strategies/reward_guided/target_likelihood.h"
#include "decoding/strategies/rsd/rsd.h"

namespace tandem::decoding {
namespace {

using O = RsdOptions;

ParamTable<O> Params() {
  ParamTable<O> t;
  t.Real("delta", -1e6, 1e6, [](O& o) -> double& { return o.delta; },
         "Threshold on the PRM reward (binary omega keeps a step iff r >= delta).")
      .Text("omega", "binary",
            [](const std::string& key, const std::string& value, O& o) -> absl::Status {
              absl::Status s = ParseRsdOmega(value, &o.omega);
              return s.ok() ? s : BadParam(key, std::string(s.message()));
            },
            "Acceptance weight omega(r): binary, constant, clipping, sigmoidal or logistic.")
      .Real("omega_constant", 0, 1, [](O& o) -> double& { return o.omega_constant; }, "p of omega=constant.")
      .PositiveReal("logistic_alpha", 1e6, [](O& o) -> double& { return o.logistic_alpha; },
                    "Slope alpha of omega=logistic 1/(1+exp(-alpha (r - delta))).")
      .Choice("stochastic", {"auto", "true", "false"}, "auto",
              [](const std::string& v, O& o) {
                o.stochastic = v == "auto" ? std::nullopt : std::optional<bool>(v == "true");
              },
              "true: keep a step with probability omega(r) (seeded); false: iff r >= delta, omega=binary only "
              "(INVALID_ARGUMENT otherwise); auto: false for binary, true for every other omega.");
  AddRewardParams(t, "prm", "prm_options", [](O& o) -> RewardSpec& { return o.prm; },
                  "PRM (a reward scorer with ScoreSteps)",
                  " Or target_likelihood: exp(mean target log-probability) of the drafted step, scored on the "
                  "target, no reward scorer needed (docs/algorithms.md).");
  return t
      .Text("delimiter", "\\n\\n",
            [](const std::string& key, const std::string& value, O& o) -> absl::Status {
              if (absl::Status s = UnescapeParam(key, value, &o.delimiter); !s.ok()) return s;
              return o.delimiter.empty() ? BadParam(key, "must not be empty") : absl::OkStatus();
            },
            "Step delimiter; \\n, \\t and \\\\ are unescaped.")
      .Int("max_steps", 1, 100000, [](O& o) -> int& { return o.max_steps; }, "Most steps.")
      .Int("step_max_tokens", 1, 4096, [](O& o) -> int& { return o.step_max_tokens; },
           "Most tokens in one step. A draft step cut there is unfinished: not scored, the target writes that "
           "step; a target step cut there goes on as the next step.")
      .Int("draft_chunk", 1, 64, [](O& o) -> int& { return o.draft_chunk; },
           "Tokens per draft call while drafting a step.")
      .Real("prm_parameters", 0, 1e15, [](O& o) -> double& { return o.prm_parameters; },
            "Parameter count of the PRM for the FLOPs estimate (0 = unknown).");
}

}  // namespace

absl::Status UnescapeParam(const std::string& key, const std::string& value, std::string* out) {
  out->clear();
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\\') {
      out->push_back(value[i]);
      continue;
    }
    if (i + 1 == value.size()) return BadParam(key, "ends with a lone backslash");
    const char c = value[++i];
    if (c == 'n') {
      out->push_back('\n');
    } else if (c == 't') {
      out->push_back('\t');
    } else if (c == '\\') {
      out->push_back('\\');
    } else {
      return BadParam(key, absl::StrCat("unknown escape '\\", std::string(1, c), "' (\\n, \\t, \\\\)"));
    }
  }
  return absl::OkStatus();
}

const StrategyDefinition& RsdStrategy() {
  static const StrategyDefinition& definition = DefineStrategy<O>({
      .name = "rsd",
      .description = "RSD, reward-guided speculative decoding: the draft model writes each step (text up to the "
                     "delimiter), a process reward model scores it, the step is kept if omega(r) accepts, "
                     "otherwise the target writes that step. Lossy by design.",
      .params = Params(),
      .finish = [](O& o) -> absl::Status {
        if (IsTargetLikelihood(o.prm)) {
          if (absl::Status s = ValidateTargetLikelihoodSpec(o.prm, "prm_options"); !s.ok()) return s;
        }
        return ValidateRsdOptions(o);  // e.g. stochastic=false with a non-binary omega
      },
      // prm=target_likelihood scores on the target: no reward scorer needed.
      .needs = [](const O& o) { return PortNeeds{.draft_model = true, .reward = !IsTargetLikelihood(o.prm)}; },
      .stats = spec::kStatsSpeculation | spec::kStatsReward | spec::kStatsRsd,
      .run = [](const O& options, const StrategyCall& c) -> absl::Status {
        auto drafter = RequireModelDrafter(c.ports, "rsd");
        if (!drafter.ok()) return drafter.status();
        if (c.ports.reward == nullptr && !IsTargetLikelihood(options.prm)) {
          return absl::FailedPreconditionError("rsd: needs a reward scorer (the PRM), which this deployment lacks");
        }
        O o = options;
        o.draft_parameters = DraftParameters(c.ports);
        o.target_parameters = static_cast<double>(c.ports.target.parameters);
        return RunRsd(c.request, o, **drafter, *c.ports.verifier, c.ports.reward, c.vocab, c.on_chunk, c.result);
      },
  });
  return definition;
}

}  // namespace tandem::decoding
