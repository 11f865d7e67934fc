#include "decoding/registry/strategy_params.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/util/absl_compat.h"

namespace tandem::decoding {
namespace {


// Parses all of `value` as a T; false for an empty, partial or out-of-type
// value.
template <typename T>
bool ParseWhole(const std::string& value, T* v) {
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, *v);
  return !value.empty() && ec == std::errc() && ptr == end;
}

template <typename T>
absl::Status ParseInteger(const std::string& key, const std::string& value, T lo, T hi, T* out) {
  T v = 0;
  if (!ParseWhole(value, &v)) return BadParam(key, absl::StrCat("'", value, "' is not an integer"));
  if (v < lo || v > hi) return BadParam(key, absl::StrCat("must be in [", lo, ", ", hi, "], got ", v));
  *out = v;
  return absl::OkStatus();
}

}  // namespace

absl::Status BadParam(std::string_view key, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("params.", AbslView(key), ": ", AbslView(what)));
}

absl::Status ParseIntParam(const std::string& key, const std::string& value, int lo, int hi, int* out) {
  return ParseInteger(key, value, lo, hi, out);
}

absl::Status ParseInt64Param(const std::string& key, const std::string& value, int64_t lo, int64_t hi,
                             int64_t* out) {
  return ParseInteger(key, value, lo, hi, out);
}

absl::Status ParseRealParam(const std::string& key, const std::string& value, double lo, double hi, double* out) {
  double v = 0;
  if (!ParseWhole(value, &v) || !std::isfinite(v)) {
    return BadParam(key, absl::StrCat("'", value, "' is not a finite number"));
  }
  if (v < lo || v > hi) return BadParam(key, absl::StrCat("must be in [", lo, ", ", hi, "], got ", value));
  *out = v;
  return absl::OkStatus();
}

absl::Status ParsePositiveRealParam(const std::string& key, const std::string& value, double hi, double* out) {
  double v = 0;
  if (absl::Status s = ParseRealParam(key, value, 0, hi, &v); !s.ok()) return s;
  if (!(v > 0)) return BadParam(key, "must be > 0");
  *out = v;
  return absl::OkStatus();
}

absl::Status ParseBoolParam(const std::string& key, const std::string& value, bool* out) {
  if (value == "true" || value == "1") {
    *out = true;
  } else if (value == "false" || value == "0") {
    *out = false;
  } else {
    return BadParam(key, absl::StrCat("'", value, "' is not true/false"));
  }
  return absl::OkStatus();
}

}  // namespace tandem::decoding
