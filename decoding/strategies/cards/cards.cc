#include "decoding/strategies/cards/cards.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/rng.h"
#include "decoding/generation/output.h"
#include "decoding/strategies/reward_guided/reward_guided.h"
#include "decoding/strategies/reward_guided/target_likelihood.h"

namespace tandem::decoding {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr uint64_t kCalibrationRngStream = 0x63616c6962ULL;  // "calib"

absl::Status BadParam(const char* name, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("params.", name, ": ", what));
}

struct Candidate {
  std::vector<int32_t> tokens;
  float reward = 0;
  bool has_next = false;  // `next` is the info after the candidate (false: it ends the response)
  NextTokenInfo next;
};

// The proposal side of one request: samples segments (or whole calibration
// responses) from top_k of softmax(z / beta) on a verifier session.
class Proposer {
 public:
  Proposer(const CardsOptions& o, const Vocabulary& vocab, spec::RequestStats* stats)
      : o_(o), vocab_(vocab), stats_(stats) {}

  // Samples up to `budget` tokens after the session's S, whose next-token
  // info is `start`. With `segment`, stops before the first position past
  // min_segment whose entropy reaches tau_u, and at max_segment tokens; a
  // sampled end-of-generation token always ends the proposal. Every sampled
  // token except a final one (end-of-generation, or the budget used up) is
  // teacher-forced, so `out->next` is the info after the proposal.
  absl::Status Propose(VerifySession& session, const NextTokenInfo& start, int budget, bool segment,
                       runtime::Rng& rng, Candidate* out) {
    out->tokens.clear();
    out->has_next = true;
    out->next = start;
    const int max_len = segment ? std::min(budget, o_.max_segment) : budget;
    while (static_cast<int>(out->tokens.size()) < max_len) {
      const NextTokenInfo& cur = out->next;
      if (segment && static_cast<int>(out->tokens.size()) >= o_.min_segment && cur.entropy >= o_.tau_u) break;
      const size_t k = std::min<size_t>(cur.top_tokens.size(), static_cast<size_t>(o_.top_k));
      auto v = SampleAmong(std::span<const int32_t>(cur.top_tokens).first(k),
                           std::span<const float>(cur.top_logits).first(k), static_cast<float>(o_.beta), rng);
      if (!v.ok()) return v.status();
      out->tokens.push_back(*v);
      if (vocab_.IsEndOfGeneration(*v) || static_cast<int>(out->tokens.size()) >= budget) {
        out->has_next = false;
        break;
      }
      const int32_t token = *v;
      NextTokenInfo next;
      if (absl::Status s = AppendAndQuery(session, {&token, 1}, o_.top_k, vocab_.vocab_size(), &next, stats_);
          !s.ok()) {
        return s;
      }
      out->next = std::move(next);
    }
    return absl::OkStatus();
  }

 private:
  const CardsOptions& o_;
  const Vocabulary& vocab_;
  spec::RequestStats* stats_;
};

// r* as the quantile of the rewards of the policy's own responses. `reward`
// null: the target-likelihood reward, scored on each fork (one forward over
// the response, counted in *scored_tokens).
absl::StatusOr<double> CalibrateRStar(VerifySession& session, const NextTokenInfo& start,
                                      const GenerationRequest& request, const CardsOptions& o,
                                      Proposer& proposer, RewardClient* reward, spec::RequestStats* stats,
                                      int64_t* scored_tokens) {
  runtime::Rng rng = runtime::Rng(request.sampling.seed).Split(kCalibrationRngStream);
  runtime::Rng fork_seeds = runtime::Rng(request.sampling.seed).Split(kForkSeedStream);
  std::vector<std::vector<int32_t>> responses;
  std::vector<float> target_scores;
  for (int i = 0; i < o.calibration_samples; ++i) {
    auto fork = session.Fork(fork_seeds.NextU64());
    if (!fork.ok()) return fork.status();
    Candidate c;
    absl::Status s = proposer.Propose(**fork, start, request.max_tokens, /*segment=*/false, rng, &c);
    if (s.ok() && reward == nullptr) {
      s = (*fork)->Truncate(session.committed_length());
      if (s.ok()) {
        auto r = AppendTargetLikelihood(**fork, c.tokens, stats);
        s = r.status();
        if (r.ok()) target_scores.push_back(static_cast<float>(*r));
        *scored_tokens += static_cast<int64_t>(c.tokens.size());
      }
    }
    absl::Status closed = (*fork)->Close();
    if (!s.ok()) return s;
    if (!closed.ok()) return closed;
    responses.push_back(std::move(c.tokens));
  }
  if (reward == nullptr) return Quantile(std::move(target_scores), *o.r_star_quantile);
  auto scores = reward->ScoreTokens(responses);
  if (!scores.ok()) return scores.status();
  return Quantile(*scores, *o.r_star_quantile);
}

}  // namespace

absl::Status CardsOptions::Validate() const {
  if (std::isnan(r_star) || r_star == std::numeric_limits<double>::infinity()) {
    return BadParam("r_star", "must be a finite number, -inf or auto:<q>");
  }
  if (r_star_quantile.has_value() && !(*r_star_quantile >= 0 && *r_star_quantile <= 1)) {
    return BadParam("r_star", "the calibration quantile must be in [0, 1]");
  }
  if (calibration_samples < 1 || calibration_samples > 64) {
    return BadParam("calibration_samples", absl::StrCat("must be in [1, 64], got ", calibration_samples));
  }
  if (!(alpha >= 0 && alpha <= 1)) return BadParam("alpha", absl::StrCat("must be in [0, 1], got ", alpha));
  if (!(beta > 0 && beta <= 100)) return BadParam("beta", absl::StrCat("must be in (0, 100], got ", beta));
  if (accept_beta.has_value() && !(*accept_beta > 0 && *accept_beta <= 100)) {
    return BadParam("accept_beta", absl::StrCat("must be in (0, 100], got ", *accept_beta));
  }
  if (!(tau_u >= 0 && std::isfinite(tau_u))) {
    return BadParam("tau_u", absl::StrCat("must be a finite number >= 0, got ", tau_u));
  }
  if (top_k < 1 || top_k > 1024) return BadParam("top_k", absl::StrCat("must be in [1, 1024], got ", top_k));
  if (min_segment < 1 || min_segment > max_segment) {
    return BadParam("min_segment", absl::StrCat("must be in [1, max_segment = ", max_segment, "], got ",
                                                min_segment));
  }
  if (max_segment > 4096) return BadParam("max_segment", absl::StrCat("must be <= 4096, got ", max_segment));
  if (max_rejections < 0 || max_rejections > 1000) {
    return BadParam("max_rejections", absl::StrCat("must be in [0, 1000], got ", max_rejections));
  }
  return absl::OkStatus();
}

double CardsThreshold(double r0, double r_star, int64_t length, int64_t l_max) {
  if (r_star == kNegInf || r0 == kNegInf) return r_star == kNegInf ? kNegInf : r_star;
  const double ramp = r0 + static_cast<double>(length) * (r_star - r0) / static_cast<double>(l_max);
  return std::min(r_star, ramp);
}

double CardsInitialReward(double prompt_reward, double r_star, double alpha) {
  if (alpha == 0) return prompt_reward;
  if (alpha == 1) return r_star;
  return (1 - alpha) * prompt_reward + alpha * r_star;
}

double Quantile(std::vector<float> values, double q) {
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return values[lo] + frac * (static_cast<double>(values[hi]) - values[lo]);
}

absl::Status RunCards(const GenerationRequest& request, const CardsOptions& options, Verifier& verifier,
                      RewardScorer* reward_scorer, const Vocabulary& base_vocab,
                      const StreamCallback& on_chunk, GenerationResult* result) {
  if (absl::Status s = Output::ValidateRequest(request, base_vocab); !s.ok()) return s;
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  // reward=target_likelihood: each candidate segment is scored by the target
  // on this request's session (reward_guided/target_likelihood.h).
  const bool target_reward = IsTargetLikelihood(options.reward);
  if (!target_reward && reward_scorer == nullptr) {
    return absl::FailedPreconditionError("cards: needs a reward scorer, which this deployment lacks");
  }
  EosFreeVocabulary eos_free(base_vocab);
  const Vocabulary& vocab = options.stop_at_eos ? base_vocab : static_cast<const Vocabulary&>(eos_free);
  auto prompt_text = PromptText(request, vocab);
  if (!prompt_text.ok()) return prompt_text.status();

  *result = {};
  auto& stats = result->stats;
  stats.strategy = "cards";
  Output out(request, vocab, on_chunk, result);
  std::optional<RewardClient> reward_client;
  if (!target_reward) reward_client.emplace(*reward_scorer, options.reward, *prompt_text, vocab, &stats);
  RewardClient* reward = reward_client.has_value() ? &*reward_client : nullptr;
  int64_t target_scored_tokens = 0;  // tokens the target-likelihood reward forwarded (flops.prm)
  Proposer proposer(options, vocab, &stats);
  runtime::Rng propose_rng = runtime::Rng(request.sampling.seed).Split(kProposalRngStream);
  runtime::Rng accept_rng = runtime::Rng(request.sampling.seed).Split(kAcceptRngStream);
  const int64_t l_max = request.max_tokens;

  double t0 = out.ElapsedMs();
  auto opened = verifier.Open(request.prompt, request.sampling, {});
  if (!opened.ok()) return opened.status();
  stats.target_time_ms += out.ElapsedMs() - t0;
  VerifySession& session = **opened;

  // Everything below may fail; the session is closed on every path.
  absl::Status status = [&]() -> absl::Status {
    NextTokenInfo prefix_info;  // next-token info after the accepted prefix x + y
    absl::Status s = AppendAndQuery(session, {}, options.top_k, vocab.vocab_size(), &prefix_info, &stats);
    if (!s.ok()) return out.EndsAtContextLimit(s) ? absl::OkStatus() : s;

    double r_star = options.r_star;
    if (options.r_star_quantile.has_value()) {
      auto calibrated =
          CalibrateRStar(session, prefix_info, request, options, proposer, reward, &stats, &target_scored_tokens);
      if (!calibrated.ok()) return calibrated.status();
      r_star = *calibrated;
    }
    stats.cards.r_star = r_star;
    double r0 = kNegInf;
    if (r_star != kNegInf && reward == nullptr) {
      // The target likelihood of the empty response is 1: r0 >= r* whenever
      // r* <= 1, so the threshold is r* from the first segment on.
      r0 = CardsInitialReward(TargetLikelihoodScore({}), r_star, options.alpha);
    } else if (r_star != kNegInf) {  // with r* = -inf every threshold is -inf: R(x) is not needed
      const std::string empty;
      auto prompt_reward = reward->ScoreTexts({&empty, 1});
      if (!prompt_reward.ok()) return prompt_reward.status();
      r0 = CardsInitialReward((*prompt_reward)[0], r_star, options.alpha);
    }

    std::vector<int32_t> y;  // accepted response tokens
    const int64_t prompt_length = session.committed_length();
    std::vector<Candidate> candidates;
    std::vector<int32_t> scored;
    while (!out.done()) {
      if (out.cancelled()) {
        out.Abort();
        break;
      }
      const int64_t accepted_length = prompt_length + static_cast<int64_t>(y.size());
      const int budget = out.remaining();
      candidates.clear();
      size_t best = 0;
      int rejections = 0;
      bool forced = false;
      while (true) {
        Candidate c;
        s = proposer.Propose(session, prefix_info, budget, /*segment=*/true, propose_rng, &c);
        if (!s.ok()) return out.EndsAtContextLimit(s) ? absl::OkStatus() : s;
        ++stats.cards.segments_proposed;
        if (reward == nullptr) {
          // The segment's target likelihood given x + y: rolled back to the
          // accepted prefix and forwarded again in one pass (the proposal fed
          // it token by token), which leaves the session at x + y + segment.
          if (s = session.Truncate(accepted_length); !s.ok()) return s;
          auto r = AppendTargetLikelihood(session, c.tokens, &stats);
          if (!r.ok()) return out.EndsAtContextLimit(r.status()) ? absl::OkStatus() : r.status();
          target_scored_tokens += static_cast<int64_t>(c.tokens.size());
          c.reward = static_cast<float>(*r);
        } else {
          scored.assign(y.begin(), y.end());
          scored.insert(scored.end(), c.tokens.begin(), c.tokens.end());
          auto r = reward->ScoreTokens({&scored, 1});
          if (!r.ok()) return r.status();
          c.reward = (*r)[0];
        }
        candidates.push_back(std::move(c));
        const Candidate& last = candidates.back();
        if (last.reward > candidates[best].reward) best = candidates.size() - 1;
        // A candidate that ends the response with end-of-generation is a
        // complete response: with eos_threshold_r_star it must meet r*
        // itself (the ramp's value at L_max) rather than the lower threshold
        // meant for a partial response of its length.
        const bool completes = !last.tokens.empty() && vocab.IsEndOfGeneration(last.tokens.back());
        const int64_t length = completes && options.eos_threshold_r_star
                                   ? l_max
                                   : static_cast<int64_t>(y.size() + last.tokens.size());
        const double tau = CardsThreshold(r0, r_star, length, l_max);
        if (rejections >= options.max_rejections) {
          forced = true;
          break;
        }
        bool accept = false;
        if (options.hard) {
          accept = last.reward >= tau;
        } else {
          const double p = std::min(1.0, std::exp((last.reward - tau) / options.acceptance_beta()));
          accept = accept_rng.UniformOpenClosed() <= p;
        }
        if (accept) {
          best = candidates.size() - 1;
          break;
        }
        ++rejections;
        ++stats.cards.segments_rejected;
        // Roll the candidate back: the accepted prefix's KV stays.
        if (s = session.Truncate(accepted_length); !s.ok()) return s;
      }

      Candidate& chosen = candidates[best];
      if (best + 1 != candidates.size()) {
        // Forced fallback to an earlier candidate: the session holds the last
        // one. Swap it for the chosen one by teacher forcing (one forward over
        // the segment; the prefix is kept).
        if (s = session.Truncate(accepted_length); !s.ok()) return s;
        if (chosen.has_next) {
          NextTokenInfo info;
          s = AppendAndQuery(session, chosen.tokens, options.top_k, vocab.vocab_size(), &info, &stats);
          if (!s.ok()) return out.EndsAtContextLimit(s) ? absl::OkStatus() : s;
        }
      }
      ++stats.cards.segments_accepted;
      if (forced) ++stats.cards.segments_forced;
      stats.cards.rejections_per_segment.push_back(rejections);
      stats.reward.final_reward = chosen.reward;
      y.insert(y.end(), chosen.tokens.begin(), chosen.tokens.end());
      for (int32_t t : chosen.tokens) {
        if (!out.Push(t)) break;
      }
      if (s = out.FlushChunk(); !s.ok()) return s;
      if (!chosen.has_next) break;  // the segment ended the response (end-of-generation or length)
      prefix_info = std::move(chosen.next);
    }
    return absl::OkStatus();
  }();
  if (target_reward) stats.flops.prm = 2.0 * options.target_parameters * static_cast<double>(target_scored_tokens);
  return FinishRewardGuided(std::move(status), reward, out, session, result);
}

}  // namespace tandem::decoding
