#include "decoding/strategies/rsd/rsd.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/rng.h"
#include "decoding/generation/output.h"
#include "decoding/strategies/reward_guided/target_likelihood.h"

namespace tandem::decoding {
namespace {

constexpr uint64_t kRsdRngStream = 0x727364ULL;  // "rsd": the stochastic-ω draws

// The text of one step, built token by token, and where its delimiter is.
class StepText {
 public:
  StepText(const Vocabulary& vocab, const std::string& delimiter, std::string carry)
      : decoder_(vocab.NewDecoder()), delimiter_(delimiter), text_(std::move(carry)) {}

  // Adds a token's text; true once the text contains the delimiter.
  bool Push(int32_t token) {
    text_ += decoder_->Push(token);
    const size_t from = scanned_ >= delimiter_.size() ? scanned_ - (delimiter_.size() - 1) : 0;
    scanned_ = text_.size();
    if (found_ == std::string::npos) found_ = text_.find(delimiter_, from);
    return found_ != std::string::npos;
  }
  // What the PRM sees as this step: the text before the first delimiter (all
  // of it when the step ended otherwise).
  std::string step() const { return found_ == std::string::npos ? text_ : text_.substr(0, found_); }
  // The text after the delimiter (and after further delimiters right behind
  // it): the start of the next step.
  std::string carry() const {
    if (found_ == std::string::npos) return {};
    size_t end = found_ + delimiter_.size();
    while (text_.compare(end, delimiter_.size(), delimiter_) == 0) end += delimiter_.size();
    return text_.substr(end);
  }

 private:
  std::unique_ptr<TokenDecoder> decoder_;
  const std::string& delimiter_;
  std::string text_;
  size_t scanned_ = 0;
  size_t found_ = std::string::npos;
};

enum class StepEnd { kDelimiter, kEndOfGeneration, kCap, kContext };

}  // namespace

absl::Status ParseRsdOmega(const std::string& name, RsdOmega* out) {
  if (name == "binary") {
    *out = RsdOmega::kBinary;
  } else if (name == "constant") {
    *out = RsdOmega::kConstant;
  } else if (name == "clipping") {
    *out = RsdOmega::kClipping;
  } else if (name == "sigmoidal") {
    *out = RsdOmega::kSigmoidal;
  } else if (name == "logistic") {
    *out = RsdOmega::kLogistic;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "omega: '", name, "' is not one of binary, constant, clipping, sigmoidal, logistic"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRsdOptions(const RsdOptions& o) {
  if (!std::isfinite(o.delta)) return absl::InvalidArgumentError("delta must be finite");
  if (!(o.omega_constant >= 0 && o.omega_constant <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("omega_constant must be in [0, 1], got ", o.omega_constant));
  }
  if (!(o.logistic_alpha > 0) || !std::isfinite(o.logistic_alpha)) {
    return absl::InvalidArgumentError(absl::StrCat("logistic_alpha must be > 0, got ", o.logistic_alpha));
  }
  if (o.omega != RsdOmega::kBinary && o.stochastic == false) {
    // Thresholding a non-binary ω is binary ω at another δ at best (clipping,
    // logistic) and all-or-nothing at worst (sigmoidal with rewards in [0, 1]
    // stays below 0.5 and never accepts at δ = 0.7: silently target-only).
    return absl::InvalidArgumentError(
        "stochastic: a non-binary omega accepts a step with probability omega(r); stochastic=false is only "
        "meaningful with omega=binary (use omega=binary with delta as the threshold)");
  }
  if (o.delimiter.empty()) return absl::InvalidArgumentError("delimiter must not be empty");
  if (o.max_steps < 1) return absl::InvalidArgumentError(absl::StrCat("max_steps must be >= 1, got ", o.max_steps));
  if (o.step_max_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("step_max_tokens must be >= 1, got ", o.step_max_tokens));
  }
  if (o.draft_chunk < 1 || o.draft_chunk > 64) {
    return absl::InvalidArgumentError(absl::StrCat("draft_chunk must be in [1, 64], got ", o.draft_chunk));
  }
  if (o.draft_parameters < 0 || o.target_parameters < 0 || o.prm_parameters < 0) {
    return absl::InvalidArgumentError("parameter counts must be >= 0");
  }
  return absl::OkStatus();
}

double RsdOmegaWeight(const RsdOptions& o, double r) {
  switch (o.omega) {
    case RsdOmega::kBinary: return r >= o.delta ? 1.0 : 0.0;
    case RsdOmega::kConstant: return o.omega_constant;
    case RsdOmega::kClipping: return std::clamp(r, 0.0, 1.0);
    case RsdOmega::kSigmoidal: return r > 0 ? r / (1.0 + r) : 0.0;
    case RsdOmega::kLogistic: return 1.0 / (1.0 + std::exp(-o.logistic_alpha * (r - o.delta)));
  }
  return 0.0;
}

absl::Status RunRsd(const GenerationRequest& request, const RsdOptions& options, Drafter& drafter,
                    Verifier& verifier, RewardScorer* prm, const Vocabulary& vocab,
                    const StreamCallback& on_chunk, GenerationResult* result) {
  if (absl::Status s = Output::ValidateRequest(request, vocab); !s.ok()) return s;
  if (absl::Status s = ValidateRsdOptions(options); !s.ok()) return s;
  // prm=target_likelihood: the target scores each draft step on its own
  // session (one forward over the step, the prefix's KV reused), no reward
  // scorer involved.
  const bool target_prm = IsTargetLikelihood(options.prm);
  if (!target_prm && prm == nullptr) {
    return absl::FailedPreconditionError("rsd: needs a reward scorer (the PRM), which this deployment lacks");
  }
  if (vocab.NewDecoder() == nullptr) {
    return absl::FailedPreconditionError("rsd: finding step delimiters needs detokenized text, unavailable here");
  }
  *result = {};
  auto& stats = result->stats;
  stats.strategy = "rsd";
  stats.drafter = std::string(drafter.name());
  Output out(request, vocab, on_chunk, result);

  const std::string question =
      request.prompt_text.empty() ? DecodeTokens(vocab, request.prompt).value_or("") : request.prompt_text;
  RewardSpec prm_spec = options.prm;
  prm_spec.options.emplace("delimiter", options.delimiter);  // an explicit PRM option wins
  runtime::Rng rng = runtime::Rng(request.sampling.seed).Split(kRsdRngStream);
  // Binary ω is a threshold; every other ω accepts with probability ω(r)
  // (ValidateRsdOptions rejects thresholding a non-binary ω). Binary with
  // stochastic=true draws too, ω in {0, 1} making the same decisions.
  const bool stochastic = options.stochastic.value_or(options.omega != RsdOmega::kBinary);
  auto keep = [&](double r) {
    const double w = RsdOmegaWeight(options, r);
    return stochastic ? rng.Uniform() < w : w > 0.5;
  };

  double t0 = out.ElapsedMs();
  auto draft = drafter.Open(request.prompt, request.sampling, {.return_distributions = false});
  if (!draft.ok()) return draft.status();
  stats.draft_time_ms += out.ElapsedMs() - t0;
  std::unique_ptr<VerifySession> target;  // opened at the first rejected step (target PRM: at once)
  if (target_prm) {
    t0 = out.ElapsedMs();
    auto opened = verifier.Open(request.prompt, request.sampling, {});
    stats.target_time_ms += out.ElapsedMs() - t0;
    if (!opened.ok()) {
      (*draft)->Close().IgnoreError();
      return opened.status();
    }
    target = std::move(*opened);
  }

  const int64_t prompt_len = static_cast<int64_t>(request.prompt.size());
  std::vector<int32_t> y;               // committed response tokens (EOS included)
  std::vector<int32_t> target_pending;  // kept draft steps the target has not seen yet
  std::vector<std::string> steps;       // the PRM's view of the committed steps
  std::string carry;                    // text that starts the next step
  DraftDelta delta;                     // applied by the next Propose
  DraftProposal proposal;
  int64_t draft_forward = prompt_len, target_forward = target_prm ? prompt_len : 0, prm_forward = 0;
  absl::Status status;

  int step_index = 0;
  for (; step_index < options.max_steps && !out.done(); ++step_index) {
    if (out.cancelled()) {
      out.Abort();
      break;
    }
    const int budget = std::min(options.step_max_tokens, out.remaining());

    // 1. The draft writes a step.
    std::vector<int32_t> step;
    StepText draft_text(vocab, options.delimiter, carry);
    StepEnd end = StepEnd::kCap;
    bool ended = false;
    while (!ended && !out.cancelled()) {  // a long step still notices a cancel (checked below)
      const int g = std::min(options.draft_chunk, budget - static_cast<int>(step.size()));
      t0 = out.ElapsedMs();
      status = (*draft)->Propose(delta, g, &proposal);
      stats.draft_time_ms += out.ElapsedMs() - t0;
      ++stats.draft_calls;
      if (!status.ok()) break;
      delta = {};
      draft_forward += static_cast<int64_t>(proposal.tokens.size());
      if (proposal.tokens.empty()) {  // context window or KV budget full
        end = StepEnd::kContext;
        break;
      }
      size_t used = 0;
      for (int32_t t : proposal.tokens) {
        ++used;
        step.push_back(t);
        if (vocab.IsEndOfGeneration(t)) {
          end = StepEnd::kEndOfGeneration;
          ended = true;
        } else if (draft_text.Push(t)) {
          end = StepEnd::kDelimiter;
          ended = true;
        } else if (static_cast<int>(step.size()) >= budget) {
          end = StepEnd::kCap;
          ended = true;
        }
        if (ended) break;
      }
      // Tokens drafted past the step's end are dropped by the next Propose;
      // they are no rejected step, so "discarded" does not count them (the
      // FLOPs estimate does, through draft_forward).
      delta.accepted = static_cast<int>(used);
    }
    if (!status.ok()) break;
    if (out.cancelled()) {
      out.Abort();
      break;
    }
    if (step.empty()) {  // nothing fits any more
      out.EndsAtContextLimit(absl::OutOfRangeError("draft context full"));
      break;
    }

    // A step cut by step_max_tokens is unfinished. The PRM judges complete
    // steps (each closed by the delimiter), so it is not scored; it cannot be
    // kept unjudged either, so the target writes this step instead. (The
    // response's last step, cut by max_tokens, is scored as it is: the
    // response ends there.)
    const bool cut = end == StepEnd::kCap && options.step_max_tokens < out.remaining();
    bool kept = false;
    if (!cut && target_prm) {
      // 2. The target scores it: S = prompt + y (kept steps were appended
      // when scored), so one forward over the step's tokens; the step stays
      // in the target's KV and is rolled back if rejected.
      auto reward = AppendTargetLikelihood(*target, step, &stats);
      if (!reward.ok()) {
        status = reward.status();
        if (out.EndsAtContextLimit(status)) status = absl::OkStatus();
        break;
      }
      prm_forward += static_cast<int64_t>(step.size());
      stats.rsd.step_rewards.push_back(*reward);
      kept = keep(*reward);
      ++stats.rsd.steps_drafted;
    } else if (!cut) {
      // 2. The PRM scores it (the reward of the last step given all before).
      steps.push_back(draft_text.step());
      t0 = out.ElapsedMs();
      auto rewards = prm->ScoreSteps(prm_spec, question, steps);
      stats.reward.time_ms += out.ElapsedMs() - t0;
      ++stats.reward.calls;
      ++stats.reward.items;
      steps.pop_back();
      if (!rewards.ok()) {
        status = rewards.status();
        break;
      }
      if (rewards->size() != steps.size() + 1) {
        status = absl::InternalError(absl::StrCat("rsd: the PRM returned ", rewards->size(), " rewards for ",
                                                  steps.size() + 1, " steps"));
        break;
      }
      const double r = rewards->back();
      prm_forward += prompt_len + static_cast<int64_t>(y.size() + step.size());
      stats.rsd.step_rewards.push_back(r);
      kept = keep(r);
      ++stats.rsd.steps_drafted;  // scored draft steps (one reward each)
    }

    // 3. Keep it, or let the target write this step.
    std::string step_text, next_carry;
    bool open_step = false;  // the target's step was cut: its text goes on in the next step
    if (kept) {
      ++stats.rsd.steps_accepted;
      stats.rsd.draft_tokens_accepted += static_cast<int64_t>(step.size());
      // (The target PRM already appended it to the target.)
      if (!target_prm) target_pending.insert(target_pending.end(), step.begin(), step.end());
      step_text = draft_text.step();
      next_carry = draft_text.carry();
    } else {
      stats.rsd.draft_tokens_discarded += static_cast<int64_t>(step.size());
      t0 = out.ElapsedMs();
      const int64_t committed = prompt_len + static_cast<int64_t>(y.size());
      if (target != nullptr && target->committed_length() > committed) {
        // The target PRM's scored step: rolled back, the prefix's KV kept.
        status = target->Truncate(committed);
        if (!status.ok()) break;
      }
      if (target == nullptr) {
        std::vector<int32_t> context = request.prompt;
        context.insert(context.end(), y.begin(), y.end());
        auto opened = verifier.Open(context, request.sampling, {});
        if (!opened.ok()) {
          status = opened.status();
          break;
        }
        target = std::move(*opened);
        target_forward += static_cast<int64_t>(context.size());
        target_pending.clear();
      } else if (!target_pending.empty()) {
        status = target->Append(target_pending, 0, nullptr);
        ++stats.target_calls;
        if (!status.ok()) {
          stats.target_time_ms += out.ElapsedMs() - t0;
          if (out.EndsAtContextLimit(status)) status = absl::OkStatus();
          break;
        }
        target_forward += static_cast<int64_t>(target_pending.size());
        target_pending.clear();
      }
      step.clear();
      StepText target_text(vocab, options.delimiter, carry);
      end = StepEnd::kCap;
      VerifyResult next;
      while (static_cast<int>(step.size()) < budget && !out.cancelled()) {
        status = target->Verify({}, {}, &next);
        ++stats.target_calls;
        if (!status.ok()) break;
        ++target_forward;
        step.push_back(next.next_token);
        if (vocab.IsEndOfGeneration(next.next_token)) {
          end = StepEnd::kEndOfGeneration;
          break;
        }
        if (target_text.Push(next.next_token)) {
          end = StepEnd::kDelimiter;
          break;
        }
      }
      stats.target_time_ms += out.ElapsedMs() - t0;
      if (out.cancelled()) {
        out.Abort();
        break;
      }
      if (!status.ok()) {
        if (!out.EndsAtContextLimit(status)) break;
        status = absl::OkStatus();
        end = StepEnd::kContext;
      }
      ++stats.rsd.steps_target;
      stats.rsd.target_tokens += static_cast<int64_t>(step.size());
      // The draft drops its rejected step and takes the target's instead.
      delta = {};
      delta.truncate_to = prompt_len + static_cast<int64_t>(y.size());
      delta.append = step;
      draft_forward += static_cast<int64_t>(step.size());
      step_text = target_text.step();
      next_carry = target_text.carry();
      open_step = end == StepEnd::kCap && options.step_max_tokens < out.remaining();
    }

    // 4. y <- y + step. A target step cut by step_max_tokens has no
    // delimiter: its text starts the next step, so the PRM never reads a
    // delimiter that is not in the response.
    ++stats.rsd.steps;
    y.insert(y.end(), step.begin(), step.end());
    if (open_step) {
      carry = std::move(step_text);
    } else {
      steps.push_back(std::move(step_text));
      carry = std::move(next_carry);
    }
    for (int32_t t : step) {
      if (!out.Push(t)) break;
    }
    if (end == StepEnd::kContext) out.EndsAtContextLimit(absl::OutOfRangeError("context full"));
    status = out.FlushChunk();
    if (!status.ok()) break;
  }
  // 5. max_steps reached with budget left: a length stop.
  if (status.ok() && !out.done() && step_index >= options.max_steps) result->finish_reason = FinishReason::kLength;
  if (status.ok()) status = out.FlushChunk();

  stats.speculation.num_drafts = stats.rsd.steps_drafted;
  stats.speculation.drafted_tokens = stats.rsd.draft_tokens_accepted + stats.rsd.draft_tokens_discarded;
  stats.speculation.accepted_tokens = stats.rsd.draft_tokens_accepted;
  stats.rsd.target_step_fraction =
      stats.rsd.steps > 0 ? static_cast<double>(stats.rsd.steps_target) / stats.rsd.steps : 0.0;
  stats.flops.draft = 2.0 * options.draft_parameters * static_cast<double>(draft_forward);
  stats.flops.target = 2.0 * options.target_parameters * static_cast<double>(target_forward);
  // The target PRM runs on the target: its forwards cost the target's weights.
  stats.flops.prm = 2.0 * (target_prm ? options.target_parameters : options.prm_parameters) *
                    static_cast<double>(prm_forward);

  absl::Status closed = (*draft)->Close();
  if (target != nullptr) {
    absl::Status c = target->Close();
    if (closed.ok()) closed = c;
  }
  out.Close();
  return status.ok() ? closed : status;
}

}  // namespace tandem::decoding
