#include "services/gateway/completion_handler.h"

#include <ctime>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "decoding/request/field_validation.h"
#include "httplib.h"
#include "services/gateway/openai_error.h"
#include "services/gateway/openai_logprobs.h"
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

// The prompt that completions' echo sends back: as the client wrote it, or
// the text of the token ids it sent. INVALID_ARGUMENT ("echo: ...") when
// ids cannot be turned into text here.
absl::StatusOr<std::string> EchoText(const decoding::DecodeRequest& request, std::span<const int32_t> prompt,
                                     const decoding::GenerationPorts& ports) {
  if (request.prompt.has_value()) return *request.prompt;
  std::optional<std::string> text =
      ports.vocabulary != nullptr ? decoding::DecodeTokens(*ports.vocabulary, prompt) : std::nullopt;
  if (!text.has_value()) {
    return decoding::InvalidField("echo", "a prompt of token ids needs a detokenizer, which this deployment lacks");
  }
  return *std::move(text);
}

// Completions' echo: the prompt's text, and its tokens for the logprobs.
struct Echo {
  std::string text;
  std::vector<int32_t> prompt;
};

// What a streamed request needs after the handler returned (the content
// provider runs later, on the same connection's thread).
struct StreamState {
  RequestRunner* runner = nullptr;
  decoding::PreparedRequest prepared;
  ResponseHeader header;
  bool include_usage = false;
  RequestRunner::Clock::time_point arrival;
  std::optional<LogprobsWriter> logprobs;  // the request asked for them
  std::optional<Echo> echo;                // the request asked for it
};

// The logprob entries of streamed tokens not sent yet. A token that ends
// inside a UTF-8 character, or that a stop string may still cut, comes with
// no text; its entry goes with the next text that is sent (or before the
// finish chunk), so that every token has one.
struct HeldLogprobs {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<std::vector<runtime::TokenLogprob>> top;

  // Copies: the chunk's spans point into a result that keeps growing.
  void Append(const decoding::StreamChunk& chunk) {
    tokens.insert(tokens.end(), chunk.tokens.begin(), chunk.tokens.end());
    logprobs.insert(logprobs.end(), chunk.logprobs.begin(), chunk.logprobs.end());
    top.insert(top.end(), chunk.top_logprobs.begin(), chunk.top_logprobs.end());
  }
  // The held entries as a choice's `logprobs`; none are held afterwards.
  absl::StatusOr<json> Take(LogprobsWriter& writer) {
    auto out = writer.Write(tokens, logprobs, top);
    tokens.clear();
    logprobs.clear();
    top.clear();
    return out;
  }
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
  HeldLogprobs held;
  // Set when the logprobs could not be written: the request is then
  // cancelled like one whose client left, but the client hears why.
  absl::Status logprobs_failed;
  // A text chunk with the held entries (with logprobs asked for).
  auto send_text = [&](std::string_view text) {
    json logprobs = nullptr;
    if (st.logprobs.has_value()) {
      auto taken = held.Take(*st.logprobs);
      if (!taken.ok()) {
        logprobs_failed = taken.status();
        return false;
      }
      logprobs = *std::move(taken);
    }
    return send(SseEvent(TextChunk(st.header, text, logprobs)));
  };
  // The echoed prompt is the first text, with its scores (which the first
  // chunk carries) when logprobs were asked for.
  bool echo_pending = st.echo.has_value();
  auto send_echo = [&](const decoding::StreamChunk* first) {
    echo_pending = false;
    json logprobs = nullptr;
    if (st.logprobs.has_value()) {
      const decoding::StreamChunk none;
      const decoding::StreamChunk& c = first != nullptr ? *first : none;
      auto written = st.logprobs->WritePrompt(st.echo->prompt, c.prompt_logprobs, c.prompt_top_logprobs);
      if (!written.ok()) {
        logprobs_failed = written.status();
        return false;
      }
      logprobs = *std::move(written);
    }
    return send(SseEvent(TextChunk(st.header, st.echo->text, logprobs)));
  };
  RunCallbacks callbacks;
  callbacks.write = [&](const decoding::StreamChunk& chunk) {
    if (!start()) return false;
    if (echo_pending && !send_echo(&chunk)) return false;
    if (st.logprobs.has_value()) held.Append(chunk);
    // Tokens that end inside a UTF-8 character come with empty text.
    return chunk.text.empty() || send_text(chunk.text);
  };
  absl::StatusOr<RunOutcome> outcome = st.runner->Run(std::move(st.prepared), &request_id, st.arrival, callbacks);
  if (outcome.ok() && outcome->client_gone && logprobs_failed.ok()) return false;
  // Errors after the 200 status line travel as an error event, which the
  // official clients raise as APIError.
  absl::Status failed = !logprobs_failed.ok() ? logprobs_failed : outcome.ok() ? outcome->status : outcome.status();
  json tandem_stats;
  if (failed.ok()) {
    auto stats = TandemStats(outcome->result.stats);
    if (stats.ok()) tandem_stats = *std::move(stats);
    failed = stats.status();
  }
  // Entries of tokens whose text never went out (the text a stop string
  // cut, or held back to the end) go in one last text chunk.
  json tail_logprobs = nullptr;
  if (failed.ok() && !outcome->aborted && !held.tokens.empty()) {
    auto taken = held.Take(*st.logprobs);
    if (taken.ok()) tail_logprobs = *std::move(taken);
    failed = taken.status();
  }
  if (!failed.ok()) {
    send(SseEvent(ToHttpError(failed, st.header.endpoint).body));
  } else if (!outcome->aborted) {
    if (!start()) return false;
    // No chunk came (echo without logprobs, nothing generated): the prompt
    // still goes back.
    if (echo_pending && !st.logprobs.has_value() && !send_echo(nullptr)) return false;
    if (!tail_logprobs.is_null() && !send(SseEvent(TextChunk(st.header, "", tail_logprobs)))) return false;
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
  // Logprobs name their tokens by text: refused up front (400) when this
  // deployment cannot detokenize, not after the generation.
  std::optional<LogprobsWriter> logprobs;
  if (parsed->decode.logprobs) {
    auto token_bytes = DeploymentTokenBytes(runner.ports());
    if (!token_bytes.ok()) {
      runner.RecordRejected(parsed->decode.strategy, token_bytes.status());
      return SendError(res, ToHttpError(token_bytes.status(), endpoint));
    }
    logprobs.emplace(endpoint, *std::move(token_bytes), static_cast<int>(parsed->decode.top_logprobs));
  }
  std::optional<Echo> echo;
  if (parsed->echo) {
    auto text = EchoText(parsed->decode, prepared->generation.prompt, runner.ports());
    if (!text.ok()) {
      runner.RecordRejected(parsed->decode.strategy, text.status());
      return SendError(res, ToHttpError(text.status(), endpoint));
    }
    echo.emplace(Echo{*std::move(text), prepared->generation.prompt});
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
    st->logprobs = std::move(logprobs);
    st->echo = std::move(echo);
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
  const decoding::GenerationResult& result = outcome->result;
  json choice_logprobs = nullptr;
  if (logprobs.has_value()) {
    // With echo the prompt's entries come first and text_offset counts on
    // from them.
    if (echo.has_value()) {
      auto written = logprobs->WritePrompt(echo->prompt, result.prompt_logprobs, result.prompt_top_logprobs);
      if (!written.ok()) return SendError(res, ToHttpError(written.status(), endpoint));
      choice_logprobs = *std::move(written);
    }
    auto written = logprobs->Write(result.tokens, result.logprobs, result.top_logprobs);
    if (!written.ok()) return SendError(res, ToHttpError(written.status(), endpoint));
    if (choice_logprobs.is_null()) {
      choice_logprobs = *std::move(written);
    } else {
      AppendCompletionLogprobs(&choice_logprobs, *written);
    }
  }
  header.id = ResponseId(endpoint, request_id);
  const std::string text = echo.has_value() ? echo->text + result.text : result.text;
  SendJson(res, 200,
           CompletionBody(header, text, result.finish_reason, Usage(result.stats), *stats, choice_logprobs));
}

}  // namespace tandem::gateway
