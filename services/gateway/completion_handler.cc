#include "services/gateway/completion_handler.h"

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

// One choice of a request: its own copy of the prepared request (its own
// seed) and its own logprobs writer (completions' text_offset counts per
// choice).
struct ChoiceRun {
  int index = 0;
  // Empty: the runner assigns one (a single choice, whose response id it
  // becomes); several choices share one response id and get "<it>-<index>".
  std::string request_id;
  decoding::PreparedRequest prepared;
  std::optional<LogprobsWriter> logprobs;  // the request asked for them
  std::optional<Echo> echo;                // the request asked for it
};

// One prompt's n choices, appended to `choices` with indices first_index,
// first_index + 1, ...: choice j runs with seed + j (the translation's seed,
// given or drawn), so a seeded request is reproducible choice by choice and
// the choices are independent samples.
void AddChoices(decoding::PreparedRequest prepared, int n, int first_index,
                const std::optional<LogprobsWriter>& logprobs, const std::optional<Echo>& echo,
                std::vector<ChoiceRun>* choices) {
  const uint64_t seed = prepared.generation.sampling.seed;
  for (int j = 0; j < n; ++j) {
    ChoiceRun& c = choices->emplace_back();
    c.index = first_index + j;
    c.prepared = j + 1 == n ? std::move(prepared) : prepared;
    c.prepared.generation.sampling.seed = seed + static_cast<uint64_t>(j);
    c.logprobs = logprobs;
    c.echo = echo;
  }
}

// The usage of all choices: each prompt's tokens once (the first of its n
// choices), the completions summed.
json ChoicesUsage(const std::vector<const decoding::spec::RequestStats*>& stats, int n) {
  int64_t prompt = 0, completion = 0;
  for (size_t i = 0; i < stats.size(); ++i) {
    if (i % static_cast<size_t>(n) == 0) prompt += stats[i]->prompt_tokens;
    completion += stats[i]->generated_tokens;
  }
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

// One choice's tandem statistics as they are, several as a list in index
// order.
json ChoicesTandemStats(std::vector<json> stats) {
  if (stats.size() == 1) return std::move(stats.front());
  return json(std::move(stats));
}

// What a streamed request needs after the handler returned (the content
// provider runs later, on the same connection's thread).
struct StreamState {
  RequestRunner* runner = nullptr;
  std::vector<ChoiceRun> choices;
  int n = 1;  // choices per prompt
  ResponseHeader header;
  bool include_usage = false;
  RequestRunner::Clock::time_point arrival;
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

using Emit = std::function<bool(const std::string& event)>;

// How a streamed choice ended.
struct ChoiceEnd {
  std::string request_id;    // the run's
  absl::Status failed;       // reported as the stream's error event
  bool client_gone = false;  // an event could not be written (or it was cancelled)
  bool aborted = false;
  decoding::spec::RequestStats stats;
  json tandem_stats;
};

// Runs one choice, emitting its events: its first chunk, the echo, one per
// text delta, the held logprobs at the end, and its finish chunk (with its
// tandem statistics unless a usage chunk comes last). The error event, the
// usage chunk and [DONE] are the response's (FinishStream). `header.id`
// empty: set from the request id once the run has one. `cancelled` (may
// be null) stops the run, as a client going away would.
ChoiceEnd StreamChoice(StreamState& st, ChoiceRun& c, ResponseHeader header, const std::function<bool()>& cancelled,
                       const Emit& send) {
  ChoiceEnd end;
  std::string request_id = c.request_id;
  bool started = false;
  // The first chunk (chat: the assistant role) goes out with the first text,
  // once the request id (part of every chunk) is known.
  auto start = [&] {
    if (started) return true;
    started = true;
    if (header.id.empty()) header.id = ResponseId(header.endpoint, request_id);
    return send(SseEvent(FirstChunk(header, c.index)));
  };
  HeldLogprobs held;
  // Set when the logprobs could not be written: the request is then
  // cancelled like one whose client left, but the client hears why.
  absl::Status logprobs_failed;
  // A text chunk with the held entries (with logprobs asked for).
  auto send_text = [&](std::string_view text) {
    json logprobs = nullptr;
    if (c.logprobs.has_value()) {
      auto taken = held.Take(*c.logprobs);
      if (!taken.ok()) {
        logprobs_failed = taken.status();
        return false;
      }
      logprobs = *std::move(taken);
    }
    return send(SseEvent(TextChunk(header, text, logprobs, c.index)));
  };
  // The echoed prompt is the first text, with its scores (which the first
  // chunk carries) when logprobs were asked for.
  bool echo_pending = c.echo.has_value();
  auto send_echo = [&](const decoding::StreamChunk* first) {
    echo_pending = false;
    json logprobs = nullptr;
    if (c.logprobs.has_value()) {
      const decoding::StreamChunk none;
      const decoding::StreamChunk& chunk = first != nullptr ? *first : none;
      auto written = c.logprobs->WritePrompt(c.echo->prompt, chunk.prompt_logprobs, chunk.prompt_top_logprobs);
      if (!written.ok()) {
        logprobs_failed = written.status();
        return false;
      }
      logprobs = *std::move(written);
    }
    return send(SseEvent(TextChunk(header, c.echo->text, logprobs, c.index)));
  };
  RunCallbacks callbacks;
  if (cancelled) callbacks.client_gone = cancelled;
  callbacks.write = [&](const decoding::StreamChunk& chunk) {
    if (!start()) return false;
    if (echo_pending && !send_echo(&chunk)) return false;
    if (c.logprobs.has_value()) held.Append(chunk);
    // Tokens that end inside a UTF-8 character come with empty text.
    return chunk.text.empty() || send_text(chunk.text);
  };
  absl::StatusOr<RunOutcome> outcome = st.runner->Run(std::move(c.prepared), &request_id, st.arrival, callbacks);
  end.request_id = request_id;
  if (outcome.ok() && outcome->client_gone && logprobs_failed.ok()) {
    end.client_gone = true;
    return end;
  }
  // Errors after the 200 status line travel as an error event, which the
  // official clients raise as APIError.
  absl::Status failed = !logprobs_failed.ok() ? logprobs_failed : outcome.ok() ? outcome->status : outcome.status();
  if (failed.ok()) {
    auto stats = TandemStats(outcome->result.stats);
    if (stats.ok()) end.tandem_stats = *std::move(stats);
    failed = stats.status();
  }
  // Entries of tokens whose text never went out (the text a stop string
  // cut, or held back to the end) go in one last text chunk.
  json tail_logprobs = nullptr;
  if (failed.ok() && !outcome->aborted && !held.tokens.empty()) {
    auto taken = held.Take(*c.logprobs);
    if (taken.ok()) tail_logprobs = *std::move(taken);
    failed = taken.status();
  }
  if (!failed.ok()) {
    end.failed = failed;
    return end;
  }
  end.aborted = outcome->aborted;
  end.stats = outcome->result.stats;
  if (end.aborted) return end;
  end.client_gone = true;  // until every event below is written
  if (!start()) return end;
  // No chunk came (echo without logprobs, nothing generated): the prompt
  // still goes back.
  if (echo_pending && !c.logprobs.has_value() && !send_echo(nullptr)) return end;
  if (!tail_logprobs.is_null() && !send(SseEvent(TextChunk(header, "", tail_logprobs, c.index)))) return end;
  json finish = FinishChunk(header, outcome->result.finish_reason, c.index);
  // The last chunk of the choice carries its tandem statistics, unless the
  // usage chunk comes after it.
  if (!st.include_usage) finish["tandem"] = end.tandem_stats;
  if (!send(SseEvent(finish))) return end;
  end.client_gone = false;
  return end;
}

// The response's end once every choice has ended: the first failure as an
// error event, or the usage chunk (stream_options.include_usage, no choice
// aborted) with the choices' tandem statistics; then [DONE].
bool FinishStream(const StreamState& st, const ResponseHeader& header, std::vector<ChoiceEnd>& ends,
                  const Emit& send, httplib::DataSink& sink) {
  const ChoiceEnd* failed = nullptr;
  bool aborted = false;
  for (const ChoiceEnd& e : ends) {
    if (failed == nullptr && !e.failed.ok()) failed = &e;
    aborted = aborted || e.aborted;
  }
  if (failed != nullptr) {
    send(SseEvent(ToHttpError(failed->failed, header.endpoint).body));
  } else if (st.include_usage && !aborted) {
    std::vector<const decoding::spec::RequestStats*> stats;
    std::vector<json> tandem;
    for (ChoiceEnd& e : ends) {
      stats.push_back(&e.stats);
      tandem.push_back(std::move(e.tandem_stats));
    }
    json usage = UsageChunk(header, ChoicesUsage(stats, st.n));
    usage["tandem"] = ChoicesTandemStats(std::move(tandem));
    if (!send(SseEvent(usage))) return false;
  }
  if (!send(std::string(kSseDone))) return false;
  sink.done();
  return true;
}

// Events of several choices running at once, written by the connection's
// thread in the order they came.
class EventQueue {
 public:
  explicit EventQueue(size_t producers) : producers_(producers) {}
  void Push(std::string event) {
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(std::move(event));
    cv_.notify_one();
  }
  void ProducerDone() {
    std::lock_guard<std::mutex> l(mu_);
    --producers_;
    cv_.notify_one();
  }
  // The next event; false once every producer is done and none is left.
  bool Pop(std::string* event) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return !events_.empty() || producers_ == 0; });
    if (events_.empty()) return false;
    *event = std::move(events_.front());
    events_.pop_front();
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> events_;
  size_t producers_;
};

// Runs the request's choices, writing each text delta as an event. Returns
// false when the client is gone (httplib then closes the connection).
bool StreamCompletion(StreamState& st, httplib::DataSink& sink) {
  const Emit direct = [&sink](const std::string& event) { return sink.write(event.data(), event.size()); };
  std::vector<ChoiceEnd> ends(st.choices.size());
  if (st.choices.size() == 1) {
    ends[0] = StreamChoice(st, st.choices[0], st.header, nullptr, direct);
    if (ends[0].client_gone) return false;
    st.header.id = ResponseId(st.header.endpoint, ends[0].request_id);  // the usage chunk's
    return FinishStream(st, st.header, ends, direct, sink);
  }
  // Several choices: each runs on its own thread (they batch on the target
  // like concurrent requests); this thread writes their events. A failed
  // choice or a gone client stops the others.
  EventQueue queue(st.choices.size());
  std::atomic<bool> stop{false};
  const std::function<bool()> cancelled = [&stop] { return stop.load(); };
  const Emit enqueue = [&](const std::string& event) {
    if (stop.load()) return false;
    queue.Push(event);
    return true;
  };
  std::vector<std::thread> workers;
  workers.reserve(st.choices.size());
  for (size_t i = 0; i < st.choices.size(); ++i) {
    workers.emplace_back([&, i] {
      ends[i] = StreamChoice(st, st.choices[i], st.header, cancelled, enqueue);
      if (!ends[i].failed.ok()) stop = true;
      queue.ProducerDone();
    });
  }
  bool gone = false;
  std::string event;
  while (queue.Pop(&event)) {
    if (!gone && !sink.write(event.data(), event.size())) {
      gone = true;
      stop = true;
    }
  }
  for (std::thread& w : workers) w.join();
  if (gone) return false;
  return FinishStream(st, st.header, ends, direct, sink);
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
  // Every prompt is translated (and so checked) before any runs.
  std::vector<decoding::DecodeRequest> requests(1 + parsed->more_prompts.size(), parsed->decode);
  for (size_t k = 1; k < requests.size(); ++k) {
    requests[k].prompt = std::move(parsed->more_prompts[k - 1].text);
    requests[k].prompt_tokens = std::move(parsed->more_prompts[k - 1].tokens);
  }
  std::random_device rd;
  std::vector<decoding::PreparedRequest> prepared;
  for (const decoding::DecodeRequest& request : requests) {
    decoding::TranslationDefaults defaults;
    defaults.default_strategy = runner.default_strategy();
    defaults.fallback_seed = (uint64_t{rd()} << 32) | rd();
    auto one = decoding::PrepareRequest(request, runner.ports(), defaults);
    if (!one.ok()) {
      runner.RecordRejected(request.strategy, one.status());
      return SendError(res, ToHttpError(one.status(), endpoint));
    }
    prepared.push_back(*std::move(one));
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
  std::vector<ChoiceRun> choices;
  for (size_t k = 0; k < prepared.size(); ++k) {
    std::optional<Echo> echo;
    if (parsed->echo) {
      auto text = EchoText(requests[k], prepared[k].generation.prompt, runner.ports());
      if (!text.ok()) {
        runner.RecordRejected(parsed->decode.strategy, text.status());
        return SendError(res, ToHttpError(text.status(), endpoint));
      }
      echo.emplace(Echo{*std::move(text), prepared[k].generation.prompt});
    }
    AddChoices(std::move(prepared[k]), parsed->n, static_cast<int>(k) * parsed->n, logprobs, echo, &choices);
  }
  ResponseHeader header;
  header.endpoint = endpoint;
  header.created = static_cast<int64_t>(std::time(nullptr));
  header.model = runner.ports().target.name;
  if (choices.size() > 1) {
    // One id for the response, one per choice's request (Abort, logs).
    const std::string base = absl::StrFormat("n%016x", (uint64_t{rd()} << 32) | rd());
    header.id = ResponseId(endpoint, base);
    for (ChoiceRun& c : choices) c.request_id = absl::StrCat(base, "-", c.index);
  }

  if (parsed->stream) {
    auto st = std::make_shared<StreamState>();
    st->runner = &runner;
    st->choices = std::move(choices);
    st->n = parsed->n;
    st->header = std::move(header);
    st->include_usage = parsed->include_usage;
    st->arrival = arrival;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream",
                                     [st](size_t, httplib::DataSink& sink) { return StreamCompletion(*st, sink); });
    return;
  }

  // Several choices run at once, each on its own thread; a failed one
  // cancels the others (its error is the answer).
  std::vector<absl::StatusOr<RunOutcome>> outcomes(choices.size(), absl::UnknownError("not run"));
  std::atomic<bool> failed{false};
  auto run_choice = [&](size_t i) {
    RunCallbacks callbacks;
    // The text is in the result; nothing to write until the end.
    callbacks.write = [](const decoding::StreamChunk&) { return true; };
    if (choices.size() > 1) callbacks.client_gone = [&failed] { return failed.load(); };
    outcomes[i] = runner.Run(std::move(choices[i].prepared), &choices[i].request_id, arrival, callbacks);
    if (!outcomes[i].ok() || !outcomes[i]->status.ok()) failed = true;
  };
  std::vector<std::thread> workers;
  for (size_t i = 1; i < choices.size(); ++i) workers.emplace_back(run_choice, i);
  run_choice(0);
  for (std::thread& w : workers) w.join();
  // The first failure in index order: a choice cancelled because another
  // failed reports no error of its own.
  for (const auto& outcome : outcomes) {
    if (!outcome.ok()) return SendError(res, ToHttpError(outcome.status(), endpoint));
    if (!outcome->status.ok()) return SendError(res, ToHttpError(outcome->status, endpoint));
  }
  for (const auto& outcome : outcomes) {
    if (outcome->aborted) {
      // Only Abort (gRPC, by request id) cancels a request whose client is here.
      return SendError(res, MakeHttpError(409, "the request was aborted", "invalid_request_error", "aborted"));
    }
  }
  std::vector<FinishedChoice> finished;
  std::vector<const decoding::spec::RequestStats*> stats;
  std::vector<json> tandem;
  for (size_t i = 0; i < choices.size(); ++i) {
    const decoding::GenerationResult& result = outcomes[i]->result;
    auto choice_stats = TandemStats(result.stats);
    if (!choice_stats.ok()) return SendError(res, ToHttpError(choice_stats.status(), endpoint));
    tandem.push_back(*std::move(choice_stats));
    stats.push_back(&result.stats);
    FinishedChoice& f = finished.emplace_back();
    f.finish_reason = result.finish_reason;
    const std::optional<Echo>& echo = choices[i].echo;
    f.text = echo.has_value() ? echo->text + result.text : result.text;
    std::optional<LogprobsWriter>& writer = choices[i].logprobs;
    if (writer.has_value()) {
      // With echo the prompt's entries come first and text_offset counts on
      // from them.
      if (echo.has_value()) {
        auto written = writer->WritePrompt(echo->prompt, result.prompt_logprobs, result.prompt_top_logprobs);
        if (!written.ok()) return SendError(res, ToHttpError(written.status(), endpoint));
        f.logprobs = *std::move(written);
      }
      auto written = writer->Write(result.tokens, result.logprobs, result.top_logprobs);
      if (!written.ok()) return SendError(res, ToHttpError(written.status(), endpoint));
      if (f.logprobs.is_null()) {
        f.logprobs = *std::move(written);
      } else {
        AppendCompletionLogprobs(&f.logprobs, *written);
      }
    }
  }
  if (header.id.empty()) header.id = ResponseId(endpoint, choices[0].request_id);
  SendJson(res, 200, CompletionBody(header, finished, ChoicesUsage(stats, parsed->n), ChoicesTandemStats(std::move(tandem))));
}

}  // namespace tandem::gateway
