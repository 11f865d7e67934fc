#include "services/gateway/completion_stream.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "httplib.h"
#include "services/gateway/openai_error.h"

namespace tandem::gateway {
namespace {

using nlohmann::json;
using orchestrator::server::RunCallbacks;
using orchestrator::server::RunOutcome;

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
  bool echo_pending = c.echo != nullptr;
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
  absl::StatusOr<RunOutcome> outcome;
  if (c.admission.has_value()) {  // admitted before the status line (request_id is its id)
    orchestrator::server::RequestRunner::Admission admission = *std::move(c.admission);
    c.admission.reset();
    outcome = st.runner->Run(std::move(c.prepared), std::move(admission), st.arrival, callbacks);
  } else {
    outcome = st.runner->Run(std::move(c.prepared), &request_id, st.arrival, callbacks);
  }
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

// The response's end once every choice has ended: the failure ReportedFailure picks as an
// error event, or the usage chunk (stream_options.include_usage, no choice
// aborted) with the choices' tandem statistics; then [DONE].
bool FinishStream(const StreamState& st, const ResponseHeader& header, std::vector<ChoiceEnd>& ends,
                  const Emit& send, httplib::DataSink& sink) {
  std::vector<absl::Status> failures;
  bool aborted = false;
  for (const ChoiceEnd& e : ends) {
    failures.push_back(e.failed);
    aborted = aborted || e.aborted;
  }
  if (const std::optional<size_t> failed = ReportedFailure(failures)) {
    send(SseEvent(ToHttpError(failures[*failed], header.endpoint).body));
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

}  // namespace

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

}  // namespace tandem::gateway
