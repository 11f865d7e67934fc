// Field checks every front end (CLI, gRPC, HTTP) applies to what a client
// sends. Every check returns INVALID_ARGUMENT with a message that starts
// with the offending field's name ("stop[2]: ..."), so clients can tell
// exactly what to fix. Nothing here trusts its input; no protobuf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace tandem::decoding {

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

// INVALID_ARGUMENT "<field>: <what>".
absl::Status InvalidField(std::string_view field, std::string_view what);

}  // namespace tandem::decoding
