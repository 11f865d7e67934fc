// Perplexity of a model on a token sequence, the numerics check users know
// from llama.cpp.
//
// Method: the tokens are cut into non-overlapping windows of `window` tokens
// (the last window may be shorter; a final window of a single token is
// dropped). Each window is evaluated in a fresh session, and every token of
// the window except the first is scored by the log-probability the model gave
// it after the tokens before it in the same window. perplexity =
// exp(total negative log-likelihood / tokens scored). Log-softmax runs in
// double precision. (llama.cpp's `perplexity` tool scores only the second half
// of each window, so its numbers are lower than these for the same window.)
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/model/model.h"

namespace tandem::runtime {

struct PerplexityResult {
  double perplexity = 0;
  double mean_nll = 0;      // nats per scored token
  int64_t tokens_scored = 0;
  int64_t windows = 0;
};

absl::StatusOr<PerplexityResult> ComputePerplexity(Model& model, const std::vector<int32_t>& tokens,
                                                   int64_t window);

}  // namespace tandem::runtime
