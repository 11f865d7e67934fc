#include "services/gateway/completion_choices.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <utility>

#include "services/gateway/openai_response.h"

namespace tandem::gateway {

using nlohmann::json;

void AddChoices(decoding::PreparedRequest prepared, int n, int first_index,
                const std::optional<LogprobsWriter>& logprobs, const std::shared_ptr<const Echo>& echo,
                std::vector<ChoiceRun>* choices) {
  const uint64_t seed = prepared.generation.sampling.seed;
  for (int j = 0; j < n; ++j) {
    ChoiceRun& c = choices->emplace_back();
    c.index = first_index + j;
    c.prepared = j + 1 == n ? std::move(prepared) : prepared;
    c.prepared.generation.sampling.seed = seed + static_cast<uint64_t>(j);
    c.logprobs = logprobs;
    c.echo = echo;
  }
}

std::optional<size_t> ReportedFailure(const std::vector<absl::Status>& failures) {
  std::optional<size_t> first;
  for (size_t i = 0; i < failures.size(); ++i) {
    if (failures[i].ok()) continue;
    if (failures[i].code() != absl::StatusCode::kCancelled) return i;
    if (!first.has_value()) first = i;
  }
  return first;
}

std::vector<size_t> RankByTokenLogprob(const std::vector<const decoding::GenerationResult*>& candidates, int n) {
  std::vector<double> score(candidates.size(), -std::numeric_limits<double>::infinity());
  for (size_t i = 0; i < candidates.size(); ++i) {
    const std::vector<float>& lp = candidates[i]->logprobs;
    if (!lp.empty()) score[i] = std::accumulate(lp.begin(), lp.end(), 0.0) / static_cast<double>(lp.size());
  }
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  order.resize(std::min(order.size(), static_cast<size_t>(std::max(n, 0))));
  return order;
}

json ChoicesUsage(const std::vector<const decoding::spec::RequestStats*>& stats, int n) {
  int64_t prompt = 0, completion = 0;
  for (size_t i = 0; i < stats.size(); ++i) {
    if (i % static_cast<size_t>(n) == 0) prompt += stats[i]->prompt_tokens;
    completion += stats[i]->generated_tokens;
  }
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

json ChoicesTandemStats(std::vector<json> stats) {
  if (stats.size() == 1) return std::move(stats.front());
  return json(std::move(stats));
}

}  // namespace tandem::gateway
