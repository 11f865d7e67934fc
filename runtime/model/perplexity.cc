#include "runtime/model/perplexity.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "absl/strings/str_cat.h"

namespace tandem::runtime {

absl::StatusOr<PerplexityResult> ComputePerplexity(Model& model, const std::vector<int32_t>& tokens,
                                                   int64_t window) {
  if (window < 2) return absl::InvalidArgumentError("perplexity window must be at least 2 tokens");
  if (window > model.max_context()) {
    return absl::InvalidArgumentError(absl::StrCat("perplexity window ", window,
                                                   " exceeds the context length ", model.max_context()));
  }
  if (tokens.size() < 2) return absl::InvalidArgumentError("perplexity needs at least 2 tokens");
  const int64_t vocab = model.config().vocab_size;
  PerplexityResult result;
  double total_nll = 0;
  std::vector<float> logits;
  for (int64_t start = 0; start + 1 < static_cast<int64_t>(tokens.size()); start += window) {
    const int64_t n = std::min<int64_t>(window, static_cast<int64_t>(tokens.size()) - start);
    absl::StatusOr<std::unique_ptr<Session>> session = model.NewSession();
    if (!session.ok()) return session.status();
    ForwardItem item{session->get(), std::span<const int32_t>(tokens.data() + start, n), true, &logits};
    if (absl::Status s = model.Forward(std::span<ForwardItem>(&item, 1)); !s.ok()) return s;
    for (int64_t i = 0; i + 1 < n; ++i) {
      const float* row = logits.data() + i * vocab;
      double mx = row[0];
      for (int64_t v = 1; v < vocab; ++v) mx = std::max(mx, static_cast<double>(row[v]));
      double sum = 0;
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - mx);
      const int32_t next = tokens[start + i + 1];
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
