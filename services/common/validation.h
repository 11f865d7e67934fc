// Request validation helpers. Every check returns INVALID_ARGUMENT with a
// message that starts with the offending field's name ("sampling.top_p: ..."),
// so clients can tell exactly what to fix. Nothing here trusts its input.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/repeated_field.h"
#include "tandem/v1/common.pb.h"

namespace tandem::services {

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, nothing
// above U+10FFFF).
bool IsValidUtf8(std::string_view text);

// `value` must be valid UTF-8 of at most max_bytes bytes (and at least
// min_bytes).
absl::Status ValidateUtf8Field(std::string_view value, std::string_view field, size_t max_bytes,
                               size_t min_bytes = 0);

// Inclusive range checks. Doubles also reject NaN/inf.
absl::Status ValidateRange(int64_t value, int64_t lo, int64_t hi, std::string_view field);
absl::Status ValidateRange(double value, double lo, double hi, std::string_view field);

// Request/session ids: 1..128 printable ASCII bytes (0x21..0x7e). Empty is
// allowed when allow_empty (the server assigns one then).
absl::Status ValidateId(std::string_view id, std::string_view field, bool allow_empty);

// Token ids: count in [min_count, max_count], each in [0, vocab_size).
absl::Status ValidateTokenIds(const google::protobuf::RepeatedField<int32_t>& ids,
                              int32_t vocab_size, std::string_view field, size_t min_count,
                              size_t max_count);

// Ranges documented on tandem.v1.SamplingParams; `field` is the prefix
// ("sampling"), vocab_size bounds top_k.
absl::Status ValidateSamplingParams(const tandem::v1::SamplingParams& params, int32_t vocab_size,
                                    std::string_view field);

}  // namespace tandem::services
