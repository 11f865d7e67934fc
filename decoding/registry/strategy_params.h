// Parsing of one strategy parameter value (GenerateRequest.params and
// `tandem generate --param` carry them as strings). Every strategy's
// Apply*Param uses these, so that a value means the same and fails with the
// same "params.<key>: ..." INVALID_ARGUMENT whatever the strategy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace tandem::decoding {

// INVALID_ARGUMENT "params.<key>: <what>".
absl::Status BadParam(std::string_view key, std::string_view what);

// A decimal integer (no sign '+', no spaces) within [lo, hi].
absl::Status ParseIntParam(const std::string& key, const std::string& value, int lo, int hi, int* out);
absl::Status ParseInt64Param(const std::string& key, const std::string& value, int64_t lo, int64_t hi,
                             int64_t* out);

// A finite number (std::from_chars: no locale, no sign '+', no spaces)
// within [lo, hi].
absl::Status ParseRealParam(const std::string& key, const std::string& value, double lo, double hi, double* out);

// As ParseRealParam over (0, hi]: temperatures and slopes where 0 would
// divide by zero.
absl::Status ParsePositiveRealParam(const std::string& key, const std::string& value, double hi, double* out);

// "true"/"1" or "false"/"0".
absl::Status ParseBoolParam(const std::string& key, const std::string& value, bool* out);

}  // namespace tandem::decoding
