#include "decoding/request/field_validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/tokenizer/unicode.h"
#include "runtime/util/absl_compat.h"

namespace tandem::decoding {

absl::Status InvalidField(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", AbslView(what)));
}

bool IsValidUtf8(std::string_view text) {
  // One UTF-8 validator in the project (strict: no overlong forms,
  // surrogates or code points above U+10FFFF).
  return tokenizer::IsValidUtf8(text);
}

absl::Status ValidateUtf8Field(std::string_view value, std::string_view field, size_t max_bytes,
                               size_t min_bytes) {
  if (value.size() < min_bytes) {
    return InvalidField(field, absl::StrCat("must be at least ", min_bytes, " bytes, got ", value.size()));
  }
  if (value.size() > max_bytes) {
    return InvalidField(field, absl::StrCat("must be at most ", max_bytes, " bytes, got ", value.size()));
  }
  if (!IsValidUtf8(value)) return InvalidField(field, "is not valid UTF-8");
  return absl::OkStatus();
}

absl::Status ValidateRange(int64_t value, int64_t lo, int64_t hi, std::string_view field) {
  if (value < lo || value > hi) {
    return InvalidField(field, absl::StrCat("must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateRange(double value, double lo, double hi, std::string_view field) {
  if (!std::isfinite(value)) return InvalidField(field, absl::StrCat("must be finite, got ", value));
  if (value < lo || value > hi) {
    return InvalidField(field, absl::StrCat("must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateId(std::string_view id, std::string_view field, bool allow_empty) {
  if (id.empty()) {
    return allow_empty ? absl::OkStatus() : InvalidField(field, "must not be empty");
  }
  if (id.size() > 128) return InvalidField(field, absl::StrCat("must be at most 128 bytes, got ", id.size()));
  for (size_t i = 0; i < id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    if (c < 0x21 || c > 0x7E) {
      return InvalidField(field, absl::StrCat("byte ", i, " is not printable ASCII"));
    }
  }
  return absl::OkStatus();
}

}  // namespace tandem::decoding
