#include "services/gateway/completion_handler.h"

#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "httplib.h"
#include "services/gateway/openai_error.h"
#include "services/gateway/openai_response.h"

namespace tandem::gateway {
namespace {

using nlohmann::json;
using orchestrator::server::RequestRunner;
using orchestrator::server::RunCallbacks;
using orchestrator::server::RunOutcome;

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

void SendError(httplib::Response& res, const HttpError& e) {
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  SendJson(res, e.status, e.body);
}

// What a streamed request needs after the handler returned (the content
// provider runs later, on the same connection's thread).
struct StreamState {
  RequestRunner* runner = nullptr;
  decoding::PreparedRequest prepared;
  ResponseHeader header;
  bool include_usage = false;
  RequestRunner::Clock::time_point arrival;
};

// Runs the request, writing each text delta as an event. Returns false when
// the client is gone (httplib then closes the connection).
bool StreamCompletion(StreamState& st, httplib::DataSink& sink) {
  auto send = [&sink](const std::string& event) { return sink.write(event.data(), event.size()); };
  std::string request_id;
  bool started = false;
  // The first chunk (chat: the assistant role) goes out with the first text,
  // once the request id (part of every chunk) is known.
  auto start = [&] {
    if (started) return true;
    started = true;
    st.header.id = ResponseId(st.header.endpoint, request_id);
    return send(SseEvent(FirstChunk(st.header)));
  };
  RunCallbacks callbacks;
  callbacks.write = [&](const decoding::StreamChunk& chunk) {
    if (!start()) return false;
    // Tokens that end inside a UTF-8 character come with empty text.
    return chunk.text.empty() || send(SseEvent(TextChunk(st.header, chunk.text)));
  };
  absl::StatusOr<RunOutcome> outcome = st.runner->Run(std::move(st.prepared), &request_id, st.arrival, callbacks);
  if (outcome.ok() && outcome->client_gone) return false;
  // Errors after the 200 status line travel as an error event, which the
  // official clients raise as APIError.
  absl::Status failed = outcome.ok() ? outcome->status : outcome.status();
  json tandem_stats;
  if (failed.ok()) {
    auto stats = TandemStats(outcome->result.stats);
    if (stats.ok()) tandem_stats = *std::move(stats);
    failed = stats.status();
  }
  if (!failed.ok()) {
    send(SseEvent(ToHttpError(failed, st.header.endpoint).body));
  } else if (!outcome->aborted) {
    if (!start()) return false;
    json finish = FinishChunk(st.header, outcome->result.finish_reason);
    // The last chunk before [DONE] carries the tandem statistics.
    if (!st.include_usage) finish["tandem"] = tandem_stats;
    if (!send(SseEvent(finish))) return false;
    if (st.include_usage) {
      json usage = UsageChunk(st.header, Usage(outcome->result.stats));
      usage["tandem"] = tandem_stats;
      if (!send(SseEvent(usage))) return false;
    }
  }
  if (!send(std::string(kSseDone))) return false;
  sink.done();
  return true;
}

}  // namespace

void HandleCompletion(RequestRunner& runner, Endpoint endpoint, const httplib::Request& req,
                      httplib::Response& res) {
  const RequestRunner::Clock::time_point arrival = RequestRunner::Clock::now();
  auto body = ParseJsonBody(req.body);
  if (!body.ok()) return SendError(res, ToHttpError(body.status(), endpoint));
  auto parsed = ParseOpenAiRequest(endpoint, *body);
  if (!parsed.ok()) {
    runner.RecordRejected("", parsed.status());
    return SendError(res, ToHttpError(parsed.status(), endpoint));
  }
  decoding::TranslationDefaults defaults;
  defaults.default_strategy = runner.default_strategy();
  defaults.fallback_seed = std::random_device{}();
  auto prepared = decoding::PrepareRequest(parsed->decode, runner.ports(), defaults);
  if (!prepared.ok()) {
    runner.RecordRejected(parsed->decode.strategy, prepared.status());
    return SendError(res, ToHttpError(prepared.status(), endpoint));
  }
  ResponseHeader header;
  header.endpoint = endpoint;
  header.created = static_cast<int64_t>(std::time(nullptr));
  header.model = runner.ports().target.name;

  if (parsed->stream) {
    auto st = std::make_shared<StreamState>();
    st->runner = &runner;
    st->prepared = *std::move(prepared);
    st->header = std::move(header);
    st->include_usage = parsed->include_usage;
    st->arrival = arrival;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream",
                                     [st](size_t, httplib::DataSink& sink) { return StreamCompletion(*st, sink); });
    return;
  }

  std::string request_id;
  RunCallbacks callbacks;
  // The text is in the result; nothing to write until the end.
  callbacks.write = [](const decoding::StreamChunk&) { return true; };
  auto outcome = runner.Run(*std::move(prepared), &request_id, arrival, callbacks);
  if (!outcome.ok()) return SendError(res, ToHttpError(outcome.status(), endpoint));
  if (!outcome->status.ok()) return SendError(res, ToHttpError(outcome->status, endpoint));
  if (outcome->aborted) {
    // Only Abort (gRPC, by request id) cancels a request whose client is here.
    return SendError(res, MakeHttpError(409, "the request was aborted", "invalid_request_error", "aborted"));
  }
  auto stats = TandemStats(outcome->result.stats);
  if (!stats.ok()) return SendError(res, ToHttpError(stats.status(), endpoint));
  header.id = ResponseId(endpoint, request_id);
  SendJson(res, 200,
           CompletionBody(header, outcome->result.text, outcome->result.finish_reason, Usage(outcome->result.stats),
                          *stats));
}

}  // namespace tandem::gateway
