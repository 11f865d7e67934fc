// Perplexity of a model on a token sequence, the numerics check users know
// from llama.cpp.
//
// Method: the tokens are cut into non-overlapping windows of `window` tokens
// (the last window may be shorter; a final window of a single token is
// dropped). Each window is evaluated in a fresh session, and every token of
// the window except the first is scored by the log-probability the model gave
// it after the tokens before it in the same window. perplexity =
// exp(total negative log-likelihood / tokens scored). Log-softmax runs in
// double precision.
//
// PerplexityScoring::kLlamaCpp reproduces llama.cpp's `perplexity` tool
// (examples/perplexity, perplexity()): only full windows of `window` tokens
// count (a shorter tail is dropped); when the model adds BOS, each window's
// first token is replaced by BOS; and only the second half of each window is
// scored: the tokens at positions window/2 + 1 .. window - 1, each by the row
// before it. Every scored token then has at least window/2 tokens of context,
// so these numbers are lower than kAllTokens' for the same window and compare
// with llama.cpp's published ones.
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

enum class PerplexityScoring {
  kAllTokens,  // every token of each window but the first (the default)
  kLlamaCpp,   // the second half of each full window, BOS first (llama.cpp's tool)
};

// INVALID_ARGUMENT for a window < 2 (kLlamaCpp: < 3) or beyond the context,
// fewer than 2 tokens, or (kLlamaCpp) fewer tokens than one full window.
absl::StatusOr<PerplexityResult> ComputePerplexity(Model& model, const std::vector<int32_t>& tokens,
                                                   int64_t window,
                                                   PerplexityScoring scoring = PerplexityScoring::kAllTokens);

}  // namespace tandem::runtime
