#include "runtime/model/perplexity.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "absl/strings/str_cat.h"

namespace tandem::runtime {

absl::StatusOr<PerplexityResult> ComputePerplexity(Model& model, const std::vector<int32_t>& tokens,
                                                   int64_t window, PerplexityScoring scoring) {
  if (window < 2) return absl::InvalidArgumentError("perplexity window must be at least 2 tokens");
  if (window > model.max_context()) {
    return absl::InvalidArgumentError(absl::StrCat("perplexity window ", window,
                                                   " exceeds the context length ", model.max_context()));
  }
  if (tokens.size() < 2) return absl::InvalidArgumentError("perplexity needs at least 2 tokens");
  const bool llama_cpp = scoring == PerplexityScoring::kLlamaCpp;
  const int64_t total = static_cast<int64_t>(tokens.size());
  if (llama_cpp && window < 3) {
    return absl::InvalidArgumentError("llama-cpp scoring needs a window of at least 3 tokens (it scores the second half)");
  }
  if (llama_cpp && total < window) {
    return absl::InvalidArgumentError(absl::StrCat("llama-cpp scoring needs at least one full window of ", window,
                                                   " tokens, got ", total));
  }
  const auto& tok = model.tokenizer();
  const bool bos_first = llama_cpp && tok.add_bos() && tok.bos_id() >= 0;
  // llama.cpp scores rows first .. window - 2 (predicting tokens first + 1 ..
  // window - 1); here: from row 0.
  const int64_t first_row = llama_cpp ? window / 2 : 0;
  const int64_t vocab = model.config().vocab_size;
  PerplexityResult result;
  double total_nll = 0;
  std::vector<float> logits;
  std::vector<int32_t> chunk;
  for (int64_t start = 0; start + 1 < total; start += window) {
    const int64_t n = std::min<int64_t>(window, total - start);
    if (llama_cpp && n < window) break;  // full windows only
    chunk.assign(tokens.begin() + start, tokens.begin() + start + n);
    if (bos_first) chunk[0] = tok.bos_id();
    absl::StatusOr<std::unique_ptr<Session>> session = model.NewSession();
    if (!session.ok()) return session.status();
    ForwardItem item{session->get(), std::span<const int32_t>(chunk.data(), n), true, &logits};
    if (absl::Status s = model.Forward(std::span<ForwardItem>(&item, 1)); !s.ok()) return s;
    for (int64_t i = first_row; i + 1 < n; ++i) {
      const float* row = logits.data() + i * vocab;
      double mx = row[0];
      for (int64_t v = 1; v < vocab; ++v) mx = std::max(mx, static_cast<double>(row[v]));
      double sum = 0;
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - mx);
      const int32_t next = chunk[i + 1];
      total_nll += mx + std::log(sum) - static_cast<double>(row[next]);
      ++result.tokens_scored;
    }
    ++result.windows;
  }
  result.mean_nll = total_nll / static_cast<double>(result.tokens_scored);
  result.perplexity = std::exp(result.mean_nll);
  return result;
}

}  // namespace tandem::runtime
