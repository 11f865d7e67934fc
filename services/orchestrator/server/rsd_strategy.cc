#include "services/orchestrator/server/rsd_strategy.h"

#include "absl/strings/str_cat.h"
#include "services/orchestrator/server/reward_strategies.h"
#include "services/orchestrator/server/strategy_params.h"

namespace tandem::orchestrator::server {
namespace {

absl::StatusOr<Drafter*> FindModelDrafter(const GenerationPorts& ports, const std::string& strategy) {
  Drafter* drafter = ports.FindDrafter("model");
  if (drafter == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        strategy, ": this deployment has no draft model (drafter 'model'); configure one, e.g. "
                  "`tandem generate --draft-model NAME` or a draft service"));
  }
  return drafter;
}

double DraftParameters(const GenerationPorts& ports) {
  return ports.drafts.empty() ? 0.0 : static_cast<double>(ports.drafts.front().parameters);
}

}  // namespace

std::vector<StrategySpec> RsdStrategies() {
  std::vector<StrategySpec> out;
  out.push_back({"draft_only",
                 "Every token from the draft model alone (the deployment's 'model' drafter; RSD's delta = 0 "
                 "end point).",
                 {{"chunk", "Tokens per draft call (one round trip to a draft service), 1..64.", "16"}},
                 true});
  out.push_back(
      {"rsd",
       "RSD, reward-guided speculative decoding: the draft model writes each step (text up to the "
       "delimiter), a process reward model scores it, the step is kept if omega(r) accepts, otherwise the "
       "target writes that step. Lossy by design.",
       {{"delta", "Threshold on the PRM reward (binary omega keeps a step iff r >= delta).", "0.7"},
        {"omega", "Acceptance weight: binary, constant, clipping, sigmoidal or logistic.", "binary"},
        {"omega_constant", "p of omega=constant, [0, 1].", "0.5"},
        {"logistic_alpha", "Slope alpha of omega=logistic 1/(1+exp(-alpha (r - delta))), (0, 1e6].", "10"},
        {"stochastic", "true: keep a step with probability omega(r) (seeded); false: iff omega(r) >= delta "
                       "(logistic: >= 0.5).",
         "false"},
        {"prm", "PRM backend of the reward scorer (services/reward/README.md; a backend with ScoreSteps).",
         "the reward scorer's default (judge)"},
        {"prm_options", "Options of the PRM backend as 'key=value;key=value'.", ""},
        {"delimiter", "Step delimiter; \\n, \\t and \\\\ are unescaped.", "\\n\\n"},
        {"max_steps", "Most steps, 1..100000.", "100"},
        {"step_max_tokens", "Most tokens in one step, 1..4096 (a longer step is cut and scored as is).", "256"},
        {"draft_chunk", "Tokens per draft call while drafting a step, 1..64.", "8"},
        {"prm_parameters", "Parameter count of the PRM for the FLOPs estimate (0 = unknown).", "0"}},
       true});
  return out;
}

bool IsRsdFamily(const std::string& strategy) { return strategy == "rsd" || strategy == "draft_only"; }

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

absl::Status ApplyRsdParam(const std::string& key, const std::string& value, StrategyChoice* choice) {
  if (choice->strategy == "draft_only") {
    if (key == "chunk") return ParseIntParam(key, value, 1, 64, &choice->draft_only.chunk);
    return BadParam(key, "not a parameter of 'draft_only'");
  }
  RsdOptions& o = choice->rsd;
  if (key == "delta") return ParseRealParam(key, value, -1e6, 1e6, &o.delta);
  if (key == "omega") {
    absl::Status s = ParseRsdOmega(value, &o.omega);
    return s.ok() ? s : BadParam(key, std::string(s.message()));
  }
  if (key == "omega_constant") return ParseRealParam(key, value, 0, 1, &o.omega_constant);
  if (key == "logistic_alpha") return ParsePositiveRealParam(key, value, 1e6, &o.logistic_alpha);
  if (key == "stochastic") return ParseBoolParam(key, value, &o.stochastic);
  if (key == "prm") {
    o.prm.backend = value;
    return absl::OkStatus();
  }
  if (key == "prm_options") return ParseRewardOptions(value, &o.prm.options);
  if (key == "delimiter") {
    if (absl::Status s = UnescapeParam(key, value, &o.delimiter); !s.ok()) return s;
    return o.delimiter.empty() ? BadParam(key, "must not be empty") : absl::OkStatus();
  }
  if (key == "max_steps") return ParseIntParam(key, value, 1, 100000, &o.max_steps);
  if (key == "step_max_tokens") return ParseIntParam(key, value, 1, 4096, &o.step_max_tokens);
  if (key == "draft_chunk") return ParseIntParam(key, value, 1, 64, &o.draft_chunk);
  if (key == "prm_parameters") return ParseRealParam(key, value, 0, 1e15, &o.prm_parameters);
  return BadParam(key, "not a parameter of 'rsd'");
}

absl::Status RunRsdFamily(const StrategyChoice& choice, const GenerationRequest& request,
                          const GenerationPorts& ports, const Vocabulary& vocab, const StreamCallback& on_chunk,
                          GenerationResult* result) {
  auto drafter = FindModelDrafter(ports, choice.strategy);
  if (!drafter.ok()) return drafter.status();
  if (choice.strategy == "draft_only") {
    DraftOnlyOptions o = choice.draft_only;
    o.draft_parameters = DraftParameters(ports);
    return RunDraftOnly(request, o, **drafter, vocab, on_chunk, result);
  }
  if (choice.strategy != "rsd") {
    return absl::InvalidArgumentError(absl::StrCat("strategy: '", choice.strategy, "' is not rsd or draft_only"));
  }
  if (ports.reward == nullptr) {
    return absl::FailedPreconditionError("rsd: needs a reward scorer (the PRM), which this deployment lacks");
  }
  RsdOptions o = choice.rsd;
  o.draft_parameters = DraftParameters(ports);
  o.target_parameters = static_cast<double>(ports.target.parameters);
  return RunRsd(request, o, **drafter, *ports.verifier, *ports.reward, vocab, on_chunk, result);
}

}  // namespace tandem::orchestrator::server
