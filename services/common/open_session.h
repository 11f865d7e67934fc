// The checks every session-based model service (draft, target) runs on an
// OpenSession request before it touches its model: one implementation, so the
// two services cannot drift apart in what they accept or how errors read.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_field.h"
#include "runtime/sampling/sampling_params.h"
#include "tandem/v1/common.pb.h"

namespace tandem::services {

// Validates session_id, prompt_tokens (1 .. context length, each < vocab),
// sampling and the optional model name against `info` (errors are
// INVALID_ARGUMENT naming the field; `service_kind` — "draft" or "target" —
// appears in the unknown-model message) and returns the runtime sampling
// parameters. A request without a seed gets a fresh random one (the protocol
// says such runs are not reproducible).
absl::StatusOr<runtime::SamplingParams> ValidateOpenSession(
    const tandem::v1::ModelInfo& info, std::string_view service_kind, const std::string& session_id,
    const google::protobuf::RepeatedField<int32_t>& prompt_tokens,
    const tandem::v1::SamplingParams& sampling, const std::string& model);

}  // namespace tandem::services
