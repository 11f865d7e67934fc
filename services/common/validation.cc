#include "services/common/validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/tokenizer/unicode.h"
#include "services/common/absl_compat.h"

namespace tandem::services {
namespace {

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", AbslView(what)));
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  // One UTF-8 validator in the project (strict: no overlong forms,
  // surrogates or code points above U+10FFFF).
  return tokenizer::IsValidUtf8(text);
}

absl::Status ValidateUtf8Field(std::string_view value, std::string_view field, size_t max_bytes,
                               size_t min_bytes) {
  if (value.size() < min_bytes) {
    return Invalid(field, absl::StrCat("must be at least ", min_bytes, " bytes, got ", value.size()));
  }
  if (value.size() > max_bytes) {
    return Invalid(field, absl::StrCat("must be at most ", max_bytes, " bytes, got ", value.size()));
  }
  if (!IsValidUtf8(value)) return Invalid(field, "is not valid UTF-8");
  return absl::OkStatus();
}

absl::Status ValidateRange(int64_t value, int64_t lo, int64_t hi, std::string_view field) {
  if (value < lo || value > hi) {
    return Invalid(field, absl::StrCat("must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateRange(double value, double lo, double hi, std::string_view field) {
  if (!std::isfinite(value)) return Invalid(field, absl::StrCat("must be finite, got ", value));
  if (value < lo || value > hi) {
    return Invalid(field, absl::StrCat("must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateId(std::string_view id, std::string_view field, bool allow_empty) {
  if (id.empty()) {
    return allow_empty ? absl::OkStatus() : Invalid(field, "must not be empty");
  }
  if (id.size() > 128) return Invalid(field, absl::StrCat("must be at most 128 bytes, got ", id.size()));
  for (size_t i = 0; i < id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    if (c < 0x21 || c > 0x7E) {
      return Invalid(field, absl::StrCat("byte ", i, " is not printable ASCII"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTokenIds(const google::protobuf::RepeatedField<int32_t>& ids,
                              int32_t vocab_size, std::string_view field, size_t min_count,
                              size_t max_count) {
  const size_t n = static_cast<size_t>(ids.size());
  if (n < min_count || n > max_count) {
    return Invalid(field, absl::StrCat("must have between ", min_count, " and ", max_count,
                                       " tokens, got ", n));
  }
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return Invalid(absl::StrCat(AbslView(field), "[", i, "]"),
                     absl::StrCat("token id ", ids[i], " is outside [0, ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSamplingParams(const tandem::v1::SamplingParams& params, int32_t vocab_size,
                                    std::string_view field) {
  if (auto s = ValidateRange(params.temperature(), 0.0, 100.0, absl::StrCat(AbslView(field), ".temperature")); !s.ok()) return s;
  if (auto s = ValidateRange(int64_t{params.top_k()}, 0, vocab_size, absl::StrCat(AbslView(field), ".top_k")); !s.ok()) return s;
  if (auto s = ValidateRange(params.top_p(), 0.0, 1.0, absl::StrCat(AbslView(field), ".top_p")); !s.ok()) return s;
  if (auto s = ValidateRange(params.min_p(), 0.0, 1.0, absl::StrCat(AbslView(field), ".min_p")); !s.ok()) return s;
  if (auto s = ValidateRange(params.repetition_penalty(), 0.0, 10.0, absl::StrCat(AbslView(field), ".repetition_penalty")); !s.ok()) return s;
  if (params.has_repetition_window()) {
    if (auto s = ValidateRange(int64_t{params.repetition_window()}, 0, 1 << 20, absl::StrCat(AbslView(field), ".repetition_window")); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace tandem::services
