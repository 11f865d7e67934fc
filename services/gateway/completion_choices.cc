#include "services/gateway/completion_choices.h"

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
