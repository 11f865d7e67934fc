// OpenAI response bodies from a finished (or streaming) tandem request:
// chat.completion / text_completion objects, their streamed chunks, usage,
// and the "tandem" statistics object (tandem.v1.Stats in its JSON mapping,
// so that it follows the proto's layout: a common core plus one section per
// strategy family).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "decoding/generation/generation.h"
#include "decoding/spec/request_stats.h"
#include "nlohmann/json.hpp"
#include "services/gateway/openai_request.h"

namespace tandem::gateway {

// What every object of one response shares.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::kChatCompletions;
  std::string id;  // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
};

// "chatcmpl-REQUEST_ID" or "cmpl-REQUEST_ID".
std::string ResponseId(Endpoint endpoint, std::string_view request_id);

// "stop" (end of generation, a stop string) or "length" (max_tokens, the
// context window); OpenAI has no other reason a finished request can give.
std::string_view OpenAiFinishReason(decoding::FinishReason reason);

// The stats as tandem.v1.Stats's JSON mapping (proto field names).
absl::StatusOr<nlohmann::json> TandemStats(const decoding::spec::RequestStats& stats);

// One finished choice of a non-streaming response. `logprobs`: the
// choice's (openai_logprobs.h), null when the request did not ask for them.
struct FinishedChoice {
  std::string text;
  decoding::FinishReason finish_reason = decoding::FinishReason::kLength;
  nlohmann::json logprobs = nullptr;
};

// The non-streaming response; choices are indexed in order.
nlohmann::json CompletionBody(const ResponseHeader& header, const std::vector<FinishedChoice>& choices,
                              const nlohmann::json& usage, const nlohmann::json& tandem_stats);

// Streamed chunks of choice `index`: the first (chat: the assistant role),
// one per text delta (with the logprobs of the tokens it carries, when asked
// for), the last with the finish reason; and (stream_options.include_usage)
// one with usage and no choices.
nlohmann::json FirstChunk(const ResponseHeader& header, int index = 0);
nlohmann::json TextChunk(const ResponseHeader& header, std::string_view text,
                         const nlohmann::json& logprobs = nullptr, int index = 0);
nlohmann::json FinishChunk(const ResponseHeader& header, decoding::FinishReason reason, int index = 0);
nlohmann::json UsageChunk(const ResponseHeader& header, const nlohmann::json& usage);

// Compact JSON text; invalid UTF-8 is replaced, never thrown.
std::string DumpJson(const nlohmann::json& value);

// One server-sent event: "data: JSON\n\n".
std::string SseEvent(const nlohmann::json& data);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace tandem::gateway
