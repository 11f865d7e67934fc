#include "decoding/registry/strategy_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "decoding/strategies/args/args_strategy.h"
#include "decoding/strategies/best_of_n/best_of_n_strategy.h"
#include "decoding/strategies/cards/cards_strategy.h"
#include "decoding/strategies/draft_only/draft_only_strategy.h"
#include "decoding/strategies/rapid/rapid_strategy.h"
#include "decoding/strategies/rsd/rsd_strategy.h"
#include "decoding/strategies/speculative/speculative_strategy.h"
#include "decoding/strategies/target_only/target_only_strategy.h"

namespace tandem::decoding {

const std::vector<const StrategyDefinition*>& Strategies() {
  // Immutable after first use (function-local static, thread-safe init).
  static const std::vector<const StrategyDefinition*> strategies = {
      &TargetOnlyStrategy(),
      &SpeculativeStrategy(),
      &CardsStrategy(),
      &BestOfNStrategy(),
      &ArgsStrategy(),
      &RapidStrategy(),
      &DraftOnlyStrategy(),
      &RsdStrategy(),
  };
  return strategies;
}

const StrategyDefinition* FindStrategy(std::string_view name) {
  for (const StrategyDefinition* s : Strategies()) {
    if (s->name() == name) return s;
  }
  return nullptr;
}

std::string StrategyNames() {
  std::vector<std::string> names;
  for (const StrategyDefinition* s : Strategies()) names.emplace_back(s->name());
  return absl::StrJoin(names, ", ");
}

std::string LogprobStrategyNames() {
  std::vector<std::string> names;
  for (const StrategyDefinition* s : Strategies()) {
    if (s->logprobs()) names.emplace_back(s->name());
  }
  if (names.size() <= 1) return absl::StrJoin(names, "");
  const std::string last = names.back();
  names.pop_back();
  return absl::StrCat(absl::StrJoin(names, ", "), " and ", last);
}

absl::StatusOr<PreparedStrategy> PrepareStrategy(std::string_view name,
                                                 const std::map<std::string, std::string>& params) {
  const StrategyDefinition* definition = FindStrategy(name);
  if (definition == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("strategy: unknown strategy '",
                                                   absl::string_view(name.data(), std::min<size_t>(name.size(), 64)),
                                                   "' (known: ", StrategyNames(), ")"));
  }
  return definition->Prepare(params);
}

}  // namespace tandem::decoding
