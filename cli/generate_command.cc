#include "cli/generate_command.h"

#include <chrono>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/run_context.h"
#include "nlohmann/json.hpp"
#include "runtime/model/model.h"
#include "runtime/model_store/model_store.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/rng.h"
#include "runtime/sampling/sampler.h"
#include "runtime/tokenizer/streaming_detokenizer.h"

namespace tandem::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct GenerateResult {
  std::string text;
  std::vector<int32_t> token_ids;
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  int64_t decode_forwards = 0;  // one-token forward passes after the prefill
  std::string finish_reason;
};

absl::StatusOr<std::vector<int32_t>> EncodePrompt(const runtime::Model& model,
                                                  const GenerateOptions& options) {
  const auto& tok = model.tokenizer();
  std::string text = options.prompt;
  if (options.chat) {
    std::vector<tokenizer::ChatMessage> messages = {{"user", options.prompt}};
    auto rendered = tok.ApplyChatTemplate(messages, /*add_generation_prompt=*/true);
    if (!rendered.ok()) return rendered.status();
    text = *std::move(rendered);
  }
  // Special tokens are parsed only in text we rendered from the template;
  // a raw prompt is the user's text and must not smuggle in control tokens.
  std::vector<int32_t> ids = tok.Encode(text, /*add_special=*/true, /*parse_special=*/options.chat);
  if (ids.empty()) return absl::InvalidArgumentError("--prompt: encodes to zero tokens");
  return ids;
}

absl::StatusOr<GenerateResult> Generate(runtime::Model& model, const GenerateOptions& options) {
  GenerateResult result;
  auto prompt = EncodePrompt(model, options);
  if (!prompt.ok()) return prompt.status();
  result.prompt_tokens = static_cast<int64_t>(prompt->size());
  if (result.prompt_tokens + options.max_tokens > model.max_context()) {
    return absl::OutOfRangeError(absl::StrCat("prompt (", result.prompt_tokens,
                                              " tokens) + --max-tokens (", options.max_tokens,
                                              ") exceeds the context length ",
                                              model.max_context()));
  }
  auto session = model.NewSession();
  if (!session.ok()) return session.status();

  runtime::Sampler sampler(options.sampling);
  runtime::Rng rng(options.sampling.seed);
  runtime::Distribution dist;
  tokenizer::StreamingDetokenizer detok(model.tokenizer());
  std::vector<float> logits;
  std::vector<int32_t> history = *prompt;

  const auto t0 = Clock::now();
  runtime::ForwardItem item{session->get(), *prompt, /*all_logits=*/false, &logits};
  if (absl::Status s = model.Forward({&item, 1}); !s.ok()) return s;
  const auto t1 = Clock::now();
  result.prefill_seconds = Seconds(t1 - t0);

  result.finish_reason = "length";
  int32_t token = 0;
  for (int i = 0; i < options.max_tokens; ++i) {
    if (i > 0) {
      item = runtime::ForwardItem{session->get(), {&token, 1}, false, &logits};
      if (absl::Status s = model.Forward({&item, 1}); !s.ok()) return s;
      ++result.decode_forwards;
    }
    if (absl::Status s = sampler.Process(logits, history, &dist); !s.ok()) return s;
    token = runtime::Sampler::Sample(dist, rng);
    if (model.tokenizer().IsEndOfGeneration(token)) {
      result.finish_reason = "stop";
      break;
    }
    result.token_ids.push_back(token);
    history.push_back(token);
    std::string piece = detok.Push(token);
    if (!options.json && !piece.empty()) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    result.text += piece;
  }
  std::string tail = detok.Flush();
  if (!options.json) std::fwrite(tail.data(), 1, tail.size(), stdout);
  result.text += tail;
  result.decode_seconds = Seconds(Clock::now() - t1);
  return result;
}

}  // namespace

CLI::App* AddGenerateCommand(CLI::App& app, GenerateOptions& o) {
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt (streams to stdout)");
  cmd->add_option("--model", o.model, "Bundled model name or path to a GGUF file")->capture_default_str();
  cmd->add_option("--prompt", o.prompt, "Prompt text")->required();
  cmd->add_flag("--chat", o.chat, "Wrap the prompt as a user message in the model's chat template");
  cmd->add_option("--max-tokens", o.max_tokens, "Most tokens to generate")
      ->check(CLI::Range(1, 1 << 20))->capture_default_str();
  o.sampling.temperature = 0.7f;
  cmd->add_option("--temperature", o.sampling.temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str();
  cmd->add_option("--top-k", o.sampling.top_k, "Keep the k most likely tokens; 0 = off")->capture_default_str();
  cmd->add_option("--top-p", o.sampling.top_p, "Nucleus sampling mass; 1 = off")->capture_default_str();
  cmd->add_option("--min-p", o.sampling.min_p, "Drop tokens below min_p * p_max; 0 = off")->capture_default_str();
  cmd->add_option("--repetition-penalty", o.sampling.repetition_penalty, "CTRL repetition penalty; 1 = off")
      ->capture_default_str();
  cmd->add_option("--seed", o.sampling.seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Compute threads; 0 = all cores")
      ->check(CLI::Range(0, 1024))->capture_default_str();
  cmd->add_flag("--json", o.json, "Print one JSON object with the text, token ids and speeds at the end");
  return cmd;
}

int RunGenerate(const GenerateOptions& options) {
  if (absl::Status s = options.sampling.Validate(); !s.ok()) return ReportError(s);
  auto path = runtime::ResolveModelPath(options.model);
  if (!path.ok()) return ReportError(path.status());
  runtime::ModelOptions model_options;
  model_options.n_threads = options.threads;
  if (!options.json) Progress(absl::StrCat("loading ", *path));
  auto model = runtime::Model::Load(*path, model_options);
  if (!model.ok()) return ReportError(model.status());
  auto result = Generate(**model, options);
  if (!result.ok()) return ReportError(result.status());

  const double prefill_tps = result->prefill_seconds > 0 ? result->prompt_tokens / result->prefill_seconds : 0;
  // The first generated token comes from the prefill pass; each later one
  // costs one single-token forward pass (sampling time included).
  const double decode_tps = result->decode_seconds > 0 && result->decode_forwards > 0
                                ? result->decode_forwards / result->decode_seconds : 0;
  if (options.json) {
    nlohmann::json j;
    j["text"] = result->text;
    j["token_ids"] = result->token_ids;
    j["prompt_tokens"] = result->prompt_tokens;
    j["completion_tokens"] = result->token_ids.size();
    j["finish_reason"] = result->finish_reason;
    j["prefill_tokens_per_s"] = prefill_tps;
    j["decode_tokens_per_s"] = decode_tps;
    j["model"] = options.model;
    j["threads"] = (*model)->n_threads();
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
    Progress(absl::StrCat(result->prompt_tokens, " prompt tokens at ", static_cast<int>(prefill_tps),
                          " tok/s; ", result->token_ids.size(), " generated at ",
                          static_cast<int>(decode_tps), " tok/s (", result->finish_reason, ")"));
  }
  return kExitOk;
}

}  // namespace tandem::cli
