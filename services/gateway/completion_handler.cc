#include "services/gateway/completion_handler.h"

#include <atomic>
#include <ctime>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/request/field_validation.h"
#include "httplib.h"
#include "services/gateway/completion_choices.h"
#include "services/gateway/completion_stream.h"
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
  // Each choice is a request to admission control: more than the deployment
  // runs and queues at once could never all be admitted (every attempt
  // would answer 429), so that is a bad request.
  const size_t n_choices = (1 + parsed->more_prompts.size()) * static_cast<size_t>(parsed->best_of);
  if (const int cap = runner.max_admitted(); cap > 0 && n_choices > static_cast<size_t>(cap)) {
    const std::string_view field = parsed->best_of > parsed->n ? "best_of" : parsed->n > 1 ? "n" : "prompt";
    const auto status = decoding::InvalidField(
        field, absl::StrCat("asks for ", n_choices, " generations, more than this deployment runs and queues at once (",
                            cap, ": max_running_requests + max_queued_requests)"));
    runner.RecordRejected(parsed->decode.strategy, status);
    return SendError(res, ToHttpError(status, endpoint));
  }
  // Every prompt is translated (and so checked) before any runs.
  // Each prompt's request is the first one's settings with its own prompt:
  // the prompts move in, only the settings are copied.
  std::vector<decoding::DecodeRequest> requests;
  requests.reserve(1 + parsed->more_prompts.size());
  decoding::DecodeRequest& first = requests.emplace_back(std::move(parsed->decode));
  if (!parsed->more_prompts.empty()) {
    std::optional<std::string> text = std::exchange(first.prompt, std::nullopt);
    std::optional<std::vector<int32_t>> tokens = std::exchange(first.prompt_tokens, std::nullopt);
    for (OpenAiRequest::Prompt& more : parsed->more_prompts) {
      decoding::DecodeRequest& r = requests.emplace_back(first);  // reserved: `first` stays valid
      r.prompt = std::move(more.text);
      r.prompt_tokens = std::move(more.tokens);
    }
    first.prompt = std::move(text);
    first.prompt_tokens = std::move(tokens);
  }
  const decoding::DecodeRequest& settings = first;
  // best_of above n ranks its candidates by their tokens' logprobs: the
  // generation reports them whether or not the client asked (the answer
  // carries them only if it did).
  const bool client_logprobs = settings.logprobs;
  if (parsed->best_of > parsed->n) {
    const std::string name = settings.strategy.empty() ? runner.default_strategy() : settings.strategy;
    const decoding::StrategyDefinition* definition = decoding::FindStrategy(name);
    if (definition != nullptr && !definition->logprobs()) {
      const auto status = decoding::InvalidField(
          "best_of", absl::StrCat("ranks candidates by their tokens' log-probabilities, which strategy '", name,
                                  "' does not report (", decoding::LogprobStrategyNames(),
                                  " do; for a reward model's pick use tandem.strategy \"best_of_n\")"));
      runner.RecordRejected(settings.strategy, status);
      return SendError(res, ToHttpError(status, endpoint));
    }
    for (decoding::DecodeRequest& request : requests) request.logprobs = true;
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
  if (client_logprobs) {
    auto token_bytes = DeploymentTokenBytes(runner.ports());
    if (!token_bytes.ok()) {
      runner.RecordRejected(settings.strategy, token_bytes.status());
      return SendError(res, ToHttpError(token_bytes.status(), endpoint));
    }
    logprobs.emplace(endpoint, *std::move(token_bytes), static_cast<int>(settings.top_logprobs));
  }
  std::vector<ChoiceRun> choices;
  for (size_t k = 0; k < prepared.size(); ++k) {
    std::shared_ptr<const Echo> echo;
    if (parsed->echo) {
      auto text = EchoText(requests[k], prepared[k].generation.prompt, runner.ports());
      if (!text.ok()) {
        runner.RecordRejected(settings.strategy, text.status());
        return SendError(res, ToHttpError(text.status(), endpoint));
      }
      echo = std::make_shared<const Echo>(Echo{*std::move(text), prepared[k].generation.prompt});
    }
    AddChoices(std::move(prepared[k]), parsed->best_of, static_cast<int>(k) * parsed->best_of, logprobs, echo,
               &choices);
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
    // The first choice takes its running slot before the status line goes
    // out, so that a full deployment answers 429 with Retry-After (and a
    // request id already running 409) instead of an error event after a 200.
    // The wait for a slot cannot notice a client that leaves: httplib gives
    // no signal before the stream starts (as for a request not streamed).
    // With several choices the others take theirs as they start.
    auto admission = runner.Admit(choices[0].prepared.strategy.name(), &choices[0].request_id, RunCallbacks{});
    if (!admission.ok()) return SendError(res, ToHttpError(admission.status(), endpoint));
    choices[0].admission.emplace(*std::move(admission));
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
  // A running choice stopped because another failed ends aborted, one
  // still queued CANCELLED: the other's error is the answer.
  std::vector<absl::Status> failures;
  for (const auto& outcome : outcomes) failures.push_back(outcome.ok() ? outcome->status : outcome.status());
  if (const std::optional<size_t> i = ReportedFailure(failures)) {
    return SendError(res, ToHttpError(failures[*i], endpoint));
  }
  for (const auto& outcome : outcomes) {
    if (outcome->aborted) {
      // Only Abort (gRPC, by request id) cancels a request whose client is here.
      return SendError(res, MakeHttpError(409, "the request was aborted", "invalid_request_error", "aborted"));
    }
  }
  // Each prompt's n answers: its candidates in order, or with best_of the n
  // most likely of them, best first. Usage counts every candidate.
  std::vector<size_t> answers;
  std::vector<const decoding::spec::RequestStats*> stats;
  const auto best_of = static_cast<size_t>(parsed->best_of);
  for (const auto& outcome : outcomes) stats.push_back(&outcome->result.stats);
  for (size_t k = 0; k < choices.size(); k += best_of) {
    if (best_of == static_cast<size_t>(parsed->n)) {
      for (size_t i = k; i < k + best_of; ++i) answers.push_back(i);
      continue;
    }
    std::vector<const decoding::GenerationResult*> candidates;
    for (size_t i = k; i < k + best_of; ++i) candidates.push_back(&outcomes[i]->result);
    for (size_t r : RankByTokenLogprob(candidates, parsed->n)) answers.push_back(k + r);
  }
  std::vector<FinishedChoice> finished;
  std::vector<json> tandem;
  for (size_t i : answers) {
    const decoding::GenerationResult& result = outcomes[i]->result;
    auto choice_stats = TandemStats(result.stats);
    if (!choice_stats.ok()) return SendError(res, ToHttpError(choice_stats.status(), endpoint));
    tandem.push_back(*std::move(choice_stats));
    FinishedChoice& f = finished.emplace_back();
    f.finish_reason = result.finish_reason;
    const Echo* echo = choices[i].echo.get();
    f.text = echo != nullptr ? echo->text + result.text : result.text;
    std::optional<LogprobsWriter>& writer = choices[i].logprobs;
    if (writer.has_value()) {
      // With echo the prompt's entries come first and text_offset counts on
      // from them.
      if (echo != nullptr) {
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
  SendJson(res, 200, CompletionBody(header, finished, ChoicesUsage(stats, parsed->best_of), ChoicesTandemStats(std::move(tandem))));
}

}  // namespace tandem::gateway
