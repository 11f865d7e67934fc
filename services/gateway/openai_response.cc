#include "services/gateway/openai_response.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "services/common/stats_convert.h"
#include "tandem/v1/common.pb.h"

namespace tandem::gateway {
namespace {

using nlohmann::json;

bool IsChat(const ResponseHeader& h) { return h.endpoint == Endpoint::kChatCompletions; }

json Envelope(const ResponseHeader& h, bool chunk) {
  std::string_view object = IsChat(h) ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
}

// One choice of a chunk: a chat delta or a completion's text piece.
json ChunkChoice(const ResponseHeader& h, int index, json delta_or_text, json finish_reason,
                 json logprobs = nullptr) {
  json choice = {{"index", index}};
  if (IsChat(h)) {
    choice["delta"] = std::move(delta_or_text);
  } else {
    choice["text"] = std::move(delta_or_text);
  }
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = std::move(finish_reason);
  return choice;
}

}  // namespace

std::string ResponseId(Endpoint endpoint, std::string_view request_id) {
  return absl::StrCat(endpoint == Endpoint::kChatCompletions ? "chatcmpl-" : "cmpl-",
                      absl::string_view(request_id.data(), request_id.size()));
}

std::string_view OpenAiFinishReason(decoding::FinishReason reason) {
  switch (reason) {
    case decoding::FinishReason::kLength:
    case decoding::FinishReason::kContextLength: return "length";
    default: return "stop";
  }
}

absl::StatusOr<json> TandemStats(const decoding::spec::RequestStats& stats) {
  // Through the proto, so that the object follows tandem.v1.Stats's layout
  // whatever it becomes; fields at their defaults are left out.
  tandem::v1::Stats proto;
  services::StatsToProto(stats, &proto);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = false;
  std::string text;
  if (auto s = google::protobuf::util::MessageToJsonString(proto, &text, options); !s.ok()) {
    return absl::InternalError(absl::StrCat("stats: ", std::string(s.message())));
  }
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return absl::InternalError("stats: the proto JSON mapping is not valid JSON");
  return parsed;
}

json CompletionBody(const ResponseHeader& h, const std::vector<FinishedChoice>& choices, const json& usage,
                    const json& tandem_stats) {
  json body = Envelope(h, /*chunk=*/false);
  json list = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const FinishedChoice& c = choices[i];
    json choice = {{"index", i}};
    if (IsChat(h)) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    } else {
      choice["text"] = c.text;
    }
    choice["logprobs"] = c.logprobs;
    choice["finish_reason"] = std::string(OpenAiFinishReason(c.finish_reason));
    list.push_back(std::move(choice));
  }
  body["choices"] = std::move(list);
  body["usage"] = usage;
  body["tandem"] = tandem_stats;
  return body;
}

json FirstChunk(const ResponseHeader& h, int index) {
  json chunk = Envelope(h, /*chunk=*/true);
  json first = IsChat(h) ? json{{"role", "assistant"}, {"content", ""}} : json("");
  chunk["choices"] = json::array({ChunkChoice(h, index, std::move(first), nullptr)});
  return chunk;
}

json TextChunk(const ResponseHeader& h, std::string_view text, const json& logprobs, int index) {
  json chunk = Envelope(h, /*chunk=*/true);
  json piece = IsChat(h) ? json{{"content", std::string(text)}} : json(std::string(text));
  chunk["choices"] = json::array({ChunkChoice(h, index, std::move(piece), nullptr, logprobs)});
  return chunk;
}

json FinishChunk(const ResponseHeader& h, decoding::FinishReason reason, int index) {
  json chunk = Envelope(h, /*chunk=*/true);
  json empty = IsChat(h) ? json::object() : json("");
  chunk["choices"] =
      json::array({ChunkChoice(h, index, std::move(empty), std::string(OpenAiFinishReason(reason)))});
  return chunk;
}

json UsageChunk(const ResponseHeader& h, const json& usage) {
  json chunk = Envelope(h, /*chunk=*/true);
  chunk["choices"] = json::array();
  chunk["usage"] = usage;
  return chunk;
}

std::string SseEvent(const json& data) { return absl::StrCat("data: ", DumpJson(data), "\n\n"); }

std::string DumpJson(const json& value) {
  // Model text is valid UTF-8 (the detokenizer never splits a character);
  // replacing rather than throwing keeps a bad byte from killing a response.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tandem::gateway
