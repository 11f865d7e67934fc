// Pieces shared by the reward-guided strategies (cards, best_of_n, args):
// turning token sequences into the (prompt, response) text the reward port
// scores, one counted and checked reward call, and sampling among a verifier's
// top-k candidates exactly as runtime::Sampler samples the full vocabulary.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/sampling/rng.h"
#include "decoding/ports/reward_scorer.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/spec/request_stats.h"
#include "decoding/generation/generation.h"
#include "decoding/generation/output.h"

namespace tandem::decoding {

// Random stream ids split from the request seed. Proposals have their own
// stream so that accept/reject draws never shift which tokens are sampled
// (hard CARDS with r* = -inf then samples exactly like the sampler alone).
inline constexpr uint64_t kProposalRngStream = 0x70726f706fULL;  // "propo"
inline constexpr uint64_t kAcceptRngStream = 0x6163636570ULL;    // "accep"
inline constexpr uint64_t kForkSeedStream = 0x666f726b73ULL;     // "forks"

// Text of `tokens` for the reward model: end-of-generation tokens are left
// out (they are not text the client sees). FailedPrecondition when the
// vocabulary has no decoder.
absl::StatusOr<std::string> ResponseText(const Vocabulary& vocab, std::span<const int32_t> tokens);

// The prompt as the reward model should see it: request.prompt_text when
// the caller supplied it, else the prompt tokens decoded.
absl::StatusOr<std::string> PromptText(const GenerationRequest& request, const Vocabulary& vocab);

// Scores responses for one prompt in one reward call (the backend can batch
// them), counts the call in `stats` and rejects a wrong count or a
// non-finite score (Internal, naming the backend).
class RewardClient {
 public:
  RewardClient(RewardScorer& scorer, RewardSpec spec, std::string prompt, const Vocabulary& vocab,
               spec::RequestStats* stats)
      : scorer_(scorer), spec_(std::move(spec)), prompt_(std::move(prompt)), vocab_(vocab), stats_(stats) {}

  absl::StatusOr<std::vector<float>> ScoreTokens(std::span<const std::vector<int32_t>> responses);
  absl::StatusOr<std::vector<float>> ScoreTexts(std::span<const std::string> responses);

 private:
  RewardScorer& scorer_;
  const RewardSpec spec_;
  const std::string prompt_;
  const Vocabulary& vocab_;
  spec::RequestStats* stats_;
};

// Checks what a verifier returned for a next-token query: matching sizes,
// ids inside the vocabulary, at least one candidate, finite entropy.
absl::Status ValidateNextTokenInfo(const NextTokenInfo& info, int32_t vocab_size);

// Draws one of `tokens` with probability softmax(logits / temperature) over
// those candidates only (temperature > 0). The arithmetic is runtime::Sampler's
// with the candidates in ascending id order, so when `tokens` is the top-k of
// a row this equals Sampler{temperature, top_k = k} on the whole row followed
// by Sampler::Sample with the same Rng (one Uniform() per draw).
absl::StatusOr<int32_t> SampleAmong(std::span<const int32_t> tokens, std::span<const float> logits,
                                    float temperature, runtime::Rng& rng);

// Index of the largest value; ties go to the candidate with the lowest token id.
size_t ArgmaxAmong(std::span<const int32_t> tokens, std::span<const float> values);

// Teacher-forces `tokens` (may be empty) and reads the next-token info:
// one target call, counted and timed in `stats`, the answer validated.
absl::Status AppendAndQuery(VerifySession& session, std::span<const int32_t> tokens, int top_k,
                            int32_t vocab_size, NextTokenInfo* info, spec::RequestStats* stats);

// The common end of a token-level reward-guided run (cards, args): flushes
// the output; when a stop string cut the response short of the tokens last
// scored, re-scores the text the client actually gets (not when `reward` is
// null: cards' target-likelihood reward scores tokens, not text); closes the
// session and the output. Returns the first error: `status`, the re-score,
// Close.
absl::Status FinishRewardGuided(absl::Status status, RewardClient* reward, Output& out,
                                VerifySession& session, GenerationResult* result);

}  // namespace tandem::decoding
