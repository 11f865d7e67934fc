// Parameters every reward-guided strategy (cards, best_of_n, args, and rsd's
// PRM) shares: which reward backend scores, and that backend's options.
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "decoding/ports/reward_scorer.h"
#include "decoding/registry/param_table.h"

namespace tandem::decoding {

// "k1=v1;k2=v2" -> options; keys must be non-empty and unique.
// INVALID_ARGUMENT naming params.<key>.
absl::Status ParseRewardOptions(const std::string& key, const std::string& value,
                                std::map<std::string, std::string>* out);

// Adds the rows `backend_name` (a reward backend, services/reward/README.md)
// and `options_name` ('key=value;...') bound to the RewardSpec `field`
// returns. `more` ends the backend row's description (backends the strategy
// computes itself, e.g. target_likelihood).
template <typename Options, typename Field>
ParamTable<Options>& AddRewardParams(ParamTable<Options>& table, const std::string& backend_name,
                                     const std::string& options_name, Field field, const std::string& what,
                                     const std::string& more = "") {
  return table
      .Text(backend_name, "the reward scorer's default (judge)",
            [field](const std::string&, const std::string& value, Options& o) {
              field(o).backend = value;
              return absl::OkStatus();
            },
            absl::StrCat("Backend of the ", what, " (services/reward/README.md: judge, gguf, similarity, length, ...).",
                         more))
      .Text(options_name, "",
            [field](const std::string& key, const std::string& value, Options& o) {
              return ParseRewardOptions(key, value, &field(o).options);
            },
            absl::StrCat("Options of the ", what, " backend as 'key=value;key=value' (backend-specific)."));
}

}  // namespace tandem::decoding
