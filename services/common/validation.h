// Request validation helpers. Every check returns INVALID_ARGUMENT with a
// message that starts with the offending field's name ("sampling.top_p: ..."),
// so clients can tell exactly what to fix. Nothing here trusts its input.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "decoding/request/field_validation.h"
#include "google/protobuf/repeated_field.h"
#include "tandem/v1/common.pb.h"

namespace tandem::services {

// The protobuf-free field checks (decoding/request/field_validation.h),
// named here too so service code keeps one validation vocabulary.
using decoding::IsValidUtf8;
using decoding::ValidateId;
using decoding::ValidateRange;
using decoding::ValidateUtf8Field;

// Token ids: count in [min_count, max_count], each in [0, vocab_size).
absl::Status ValidateTokenIds(const google::protobuf::RepeatedField<int32_t>& ids,
                              int32_t vocab_size, std::string_view field, size_t min_count,
                              size_t max_count);

// Ranges documented on tandem.v1.SamplingParams; `field` is the prefix
// ("sampling"), vocab_size bounds top_k and the logit_bias tokens.
absl::Status ValidateSamplingParams(const tandem::v1::SamplingParams& params, int32_t vocab_size,
                                    std::string_view field);

}  // namespace tandem::services
