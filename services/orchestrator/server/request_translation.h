// tandem.v1.GenerateRequest -> the decoding layer's DecodeRequest (a field
// copy plus the checks only the wire format needs: sampling ranges as the
// proto documents them, request id), then the shared PrepareRequest. Errors
// are INVALID_ARGUMENT whose message starts with the offending field.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "decoding/request/request_translation.h"
#include "tandem/v1/generation.pb.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {

struct TranslatedRequest {
  decoding::PreparedRequest prepared;
  bool tokens_only = false;
};

// `default_strategy` is used when request.strategy is empty. A missing seed
// becomes `fallback_seed`.
absl::StatusOr<TranslatedRequest> TranslateRequest(const tandem::v1::GenerateRequest& request,
                                                   const GenerationPorts& ports,
                                                   std::string_view default_strategy,
                                                   uint64_t fallback_seed);

}  // namespace tandem::orchestrator::server
