// tandem.v1.GenerateRequest -> the strategy-level GenerationRequest, with
// every field validated. Errors are INVALID_ARGUMENT whose message starts
// with the offending field ("sampling.top_p: ..."), UNIMPLEMENTED for a
// reserved strategy that does not exist yet.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "services/orchestrator/server/generation_ports.h"
#include "services/orchestrator/server/strategy_catalog.h"
#include "services/orchestrator/strategies/generation.h"
#include "tandem/v1/generation.pb.h"

namespace tandem::orchestrator::server {

// Limits from generation.proto.
inline constexpr size_t kMaxPromptBytes = 1 << 20;
inline constexpr size_t kMaxContextBytes = 4 << 20;
inline constexpr int kMaxMessages = 1024;
inline constexpr int kMaxParams = 64;
inline constexpr int kMaxStops = 16;
inline constexpr int kDefaultMaxTokens = 256;

struct TranslatedRequest {
  StrategyChoice choice;
  GenerationRequest generation;  // `cancelled` is left for the caller to set
  bool ignore_eos = false;
  bool tokens_only = false;
};

// `default_strategy` is used when request.strategy is empty. A missing seed
// becomes `fallback_seed`.
absl::StatusOr<TranslatedRequest> TranslateRequest(const tandem::v1::GenerateRequest& request,
                                                   const GenerationPorts& ports,
                                                   std::string_view default_strategy,
                                                   uint64_t fallback_seed);

}  // namespace tandem::orchestrator::server
