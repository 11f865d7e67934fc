#include "decoding/strategies/reward_guided/reward_params.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "decoding/registry/strategy_params.h"

namespace tandem::decoding {

absl::Status ParseRewardOptions(const std::string& key, const std::string& value,
                                std::map<std::string, std::string>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(value, ';', absl::SkipWhitespace())) {
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return BadParam(key, absl::StrCat("expected key=value, got '", part, "'"));
    }
    std::string k(part.substr(0, eq));
    if (!out->emplace(k, std::string(part.substr(eq + 1))).second) {
      return BadParam(key, absl::StrCat("option '", k, "' given twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace tandem::decoding
