#include "services/orchestrator/server/reward_strategies.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/orchestrator/server/strategy_params.h"

namespace tandem::orchestrator::server {
namespace {

// r_star: a number, "-inf" (hard mode then accepts everything) or
// "auto:<q>" (per-request calibration at quantile q).
absl::Status RStar(const std::string& key, const std::string& value, CardsOptions* o) {
  constexpr std::string_view kAuto = "auto:";
  if (value == "-inf") {
    o->r_star = -std::numeric_limits<double>::infinity();
    o->r_star_quantile.reset();
    return absl::OkStatus();
  }
  if (value.compare(0, kAuto.size(), kAuto) == 0) {
    double q = 0;
    if (absl::Status s = ParseRealParam(key, value.substr(kAuto.size()), 0, 1, &q); !s.ok()) {
      return BadParam(key, absl::StrCat("'", value, "': auto:<q> needs a quantile q in [0, 1]"));
    }
    o->r_star_quantile = q;
    return absl::OkStatus();
  }
  o->r_star_quantile.reset();
  return ParseRealParam(key, value, -1e30, 1e30, &o->r_star);
}

const ParamSpec kRewardBackend{
    "reward", "Reward backend name (services/reward/README.md: judge, gguf, similarity, length, ...).",
    "the reward scorer's default (judge)"};
const ParamSpec kRewardOptions{"reward_options",
                               "Options of the reward backend as 'key=value;key=value' (backend-specific).", ""};

}  // namespace

std::vector<StrategySpec> RewardGuidedStrategies() {
  std::vector<StrategySpec> out;
  out.push_back(
      {"cards",
       "CARDS: segment-level rejection sampling guided by a reward model (segments end before a "
       "high-entropy token; each is accepted against a reward threshold that ramps to r_star, "
       "rejected ones are rolled back).",
       {kRewardBackend,
        kRewardOptions,
        {"r_star", "Target reward on the backend's scale: a number, -inf (hard mode then accepts every "
                   "segment), or auto:<q> = the q-quantile of the rewards of calibration_samples responses "
                   "the policy samples for this prompt (costs up to calibration_samples * max_tokens target "
                   "calls and one reward call).",
         "0.8 (judge: P(yes) in [0, 1])"},
        {"calibration_samples", "Responses sampled for r_star=auto:<q>, 1..64.", "4"},
        {"alpha", "Weight of r_star in the initial threshold r0 = (1-alpha) R(prompt) + alpha r_star, [0, 1].",
         "0.5"},
        {"beta", "Proposal temperature (top_k of softmax(z/beta)) and soft-acceptance temperature, (0, 100].",
         "0.7"},
        {"accept_beta", "Soft-acceptance temperature when it should differ from beta (rewards on a small "
                        "scale such as the judge's [0, 1] need a smaller one), (0, 100].",
         "beta"},
        {"tau_u", "Segment boundary: next-token entropy in nats (temperature 1, full vocabulary).", "3.0"},
        {"top_k", "Proposal candidates per token, 1..1024.", "40"},
        {"min_segment", "Minimum segment length in tokens, 1..max_segment.", "4"},
        {"max_segment", "Maximum segment length in tokens, <= 4096.", "64"},
        {"max_rejections", "Rejections after which the best candidate so far is accepted, 0..1000.", "20"},
        {"acceptance", "'soft': accept with probability min(1, exp((r - tau)/beta)); 'hard': accept iff r >= tau.",
         "soft"},
        {"stop_at_eos", "true/false: an end-of-generation token ends the response (the reference runs to "
                        "max_tokens and treats it as text).",
         "true"},
        {"eos_threshold", "'r_star': a segment that ends the response (end-of-generation) must reach r_star "
                          "itself; 'ramp': the length ramp applies to it too (the spec read literally).",
         "r_star"}},
       true});
  out.push_back({"best_of_n",
                 "Best-of-N: N responses sampled with the request's sampling parameters (forks of one "
                 "prompt prefill), scored in one reward call; the best is returned (streamed at the end).",
                 {kRewardBackend,
                  kRewardOptions,
                  {"n", "Responses sampled, 1..64.", "4"},
                  {"parallel", "Responses sampled at once, 1..16, each on its own thread (a batching target "
                               "decodes them in shared forward passes); 1 = one after another. Same result "
                               "either way.",
                   "16"}},
                 true});
  out.push_back({"args",
                 "ARGS: per token, the target's top_k tokens are scored by the reward model (one call) "
                 "and the token maximizing logit + w * reward is taken (or sampled).",
                 {kRewardBackend,
                  kRewardOptions,
                  {"top_k", "Candidates per token, 1..256.", "10"},
                  {"w", "Reward weight.", "1.0"},
                  {"mode", "'greedy' (argmax) or 'sample' (softmax(s / tau) over the candidates).", "greedy"},
                  {"tau", "Sampling temperature of mode=sample, (0, 100].", "0.7"}},
                 true});
  return out;
}

absl::Status ParseRewardOptions(const std::string& value, std::map<std::string, std::string>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(value, ';', absl::SkipWhitespace())) {
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return BadParam("reward_options", absl::StrCat("expected key=value, got '", part, "'"));
    }
    std::string k(part.substr(0, eq));
    if (!out->emplace(k, std::string(part.substr(eq + 1))).second) {
      return BadParam("reward_options", absl::StrCat("option '", k, "' given twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyRewardGuidedParam(const std::string& key, const std::string& value, StrategyChoice* choice) {
  const std::string& name = choice->strategy;
  RewardSpec* reward = name == "cards" ? &choice->cards.reward
                       : name == "best_of_n" ? &choice->best_of_n.reward
                                             : &choice->args.reward;
  if (key == "reward") {
    reward->backend = value;
    return absl::OkStatus();
  }
  if (key == "reward_options") return ParseRewardOptions(value, &reward->options);
  if (name == "best_of_n") {
    if (key == "n") return ParseIntParam(key, value, 1, 64, &choice->best_of_n.n);
    if (key == "parallel") {
      return ParseIntParam(key, value, 1, BestOfNOptions::kMaxParallel, &choice->best_of_n.parallel);
    }
  } else if (name == "args") {
    ArgsOptions& a = choice->args;
    if (key == "top_k") return ParseIntParam(key, value, 1, 256, &a.top_k);
    if (key == "w") return ParseRealParam(key, value, -1e6, 1e6, &a.w);
    if (key == "tau") return ParsePositiveRealParam(key, value, 100, &a.tau);
    if (key == "mode") {
      if (value != "greedy" && value != "sample") {
        return BadParam(key, absl::StrCat("'", value, "' is not a mode (greedy, sample)"));
      }
      a.greedy = value == "greedy";
      return absl::OkStatus();
    }
  } else if (name == "cards") {
    CardsOptions& c = choice->cards;
    if (key == "r_star") return RStar(key, value, &c);
    if (key == "calibration_samples") return ParseIntParam(key, value, 1, 64, &c.calibration_samples);
    if (key == "alpha") return ParseRealParam(key, value, 0, 1, &c.alpha);
    if (key == "beta") return ParsePositiveRealParam(key, value, 100, &c.beta);
    if (key == "accept_beta") {
      double v = 0;
      if (absl::Status s = ParsePositiveRealParam(key, value, 100, &v); !s.ok()) return s;
      c.accept_beta = v;
      return absl::OkStatus();
    }
    if (key == "tau_u") return ParseRealParam(key, value, 0, 1e6, &c.tau_u);
    if (key == "top_k") return ParseIntParam(key, value, 1, 1024, &c.top_k);
    if (key == "min_segment") return ParseIntParam(key, value, 1, 4096, &c.min_segment);
    if (key == "max_segment") return ParseIntParam(key, value, 1, 4096, &c.max_segment);
    if (key == "max_rejections") return ParseIntParam(key, value, 0, 1000, &c.max_rejections);
    if (key == "stop_at_eos") return ParseBoolParam(key, value, &c.stop_at_eos);
    if (key == "eos_threshold") {
      if (value != "r_star" && value != "ramp") {
        return BadParam(key, absl::StrCat("'", value, "' is not r_star or ramp"));
      }
      c.eos_threshold_r_star = value == "r_star";
      return absl::OkStatus();
    }
    if (key == "acceptance") {
      if (value != "soft" && value != "hard") {
        return BadParam(key, absl::StrCat("'", value, "' is not soft or hard"));
      }
      c.hard = value == "hard";
      return absl::OkStatus();
    }
  }
  return BadParam(key, absl::StrCat("not a parameter of '", name, "'"));
}

bool IsRewardGuided(const std::string& strategy) {
  return strategy == "cards" || strategy == "best_of_n" || strategy == "args";
}

absl::Status RunRewardGuided(const StrategyChoice& choice, const GenerationRequest& request,
                             const GenerationPorts& ports, const Vocabulary& vocab,
                             const StreamCallback& on_chunk, GenerationResult* result) {
  if (ports.reward == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("strategy '", choice.strategy,
                                                      "' needs a reward scorer, which this deployment lacks"));
  }
  if (choice.strategy == "cards") {
    return RunCards(request, choice.cards, *ports.verifier, *ports.reward, vocab, on_chunk, result);
  }
  if (choice.strategy == "best_of_n") {
    return RunBestOfN(request, choice.best_of_n, *ports.verifier, *ports.reward, vocab, on_chunk, result);
  }
  if (choice.strategy == "args") {
    return RunArgs(request, choice.args, *ports.verifier, *ports.reward, vocab, on_chunk, result);
  }
  return absl::InvalidArgumentError(absl::StrCat("strategy: '", choice.strategy, "' is not reward-guided"));
}

}  // namespace tandem::orchestrator::server
