// Debian's Abseil is built with its own absl::string_view (not an alias of
// std::string_view), so std::string_view must be converted before it goes
// into absl::StrCat / StrJoin / StrContains.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace tandem {

inline absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace tandem
