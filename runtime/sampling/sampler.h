// Logits -> processed distribution -> token.
//
// Process() applies, in this order (llama.cpp's for the bias and penalties,
// then HF transformers' default processor list, which the papers' reference
// code uses):
//   1. logit bias: each listed token's bias added to its logit;
//   2. penalties over the distinct tokens among the last `repetition_window`
//      history tokens: the CTRL repetition penalty (positive logits divided
//      by it, negative ones multiplied), then minus frequency_penalty times
//      the token's count in the window and presence_penalty;
//   3. temperature; temperature 0 short-circuits to greedy: a one-hot on the
//      argmax, ties to the lowest id (truncation cannot change the argmax);
//   4. softmax (fp32 values, fp64 sum);
//   5. top-k: the k most probable tokens (ties at the boundary: lowest ids);
//   6. top-p: the smallest most-probable prefix whose mass is >= top_p of the
//      remaining mass (always at least one token);
//   7. min-p: drop tokens with p < min_p * p_max;
//   8. renormalise.
// Tokens with logit -inf get probability 0 and never enter a sparse support.
// NaN or +inf logits, or all logits -inf, are InvalidArgument.
//
// Output layout: dense when nothing was truncated or the surviving support is
// more than half the vocabulary (a dense row is then the smaller encoding),
// else sparse. A Sampler owns scratch buffers sized to the vocabulary: reuse
// one per sequence (it is not thread-safe) and Process() allocates nothing
// after the first call.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/rng.h"
#include "runtime/sampling/sampling_params.h"

namespace tandem::runtime {

class Sampler {
 public:
  // `params` should have passed Validate(); Process() re-checks cheaply.
  explicit Sampler(const SamplingParams& params) : params_(params) {}

  const SamplingParams& params() const { return params_; }

  // `history` is the sequence the next token follows (prompt included); only
  // the penalties read it.
  absl::Status Process(std::span<const float> logits, std::span<const int32_t> history,
                       Distribution* out);

  // Draws one token id from `dist` with one Uniform() from `rng`.
  static int32_t Sample(const Distribution& dist, Rng& rng);

 private:
  SamplingParams params_;
  std::vector<float> work_;      // penalised logits, then unnormalised probs
  std::vector<uint32_t> counts_; // penalties: occurrences in the window, all-zero between calls
  std::vector<int32_t> order_;   // candidate ids for truncation
};

}  // namespace tandem::runtime
