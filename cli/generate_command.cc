#include "cli/generate_command.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/quantize.h"
#include "runtime/util/absl_compat.h"
#include "cli/generate_result.h"
#include "cli/run_context.h"
#include "services/orchestrator/server/inprocess_ports.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/request/request_translation.h"
#include "decoding/registry/strategy_runner.h"
#ifdef TANDEM_CLI_SERVICES
#include "cli/remote_generate.h"
#endif

namespace tandem::cli {
namespace {

namespace server = orchestrator::server;

void Write(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

absl::StatusOr<std::string> ReadContextFile(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--context-file: cannot read '", path, "'"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The request as any front end would send it; the shared translation
// (decoding/request) turns it into what the strategy runs.
decoding::DecodeRequest ToDecodeRequest(const GenerateOptions& o,
                                        const std::vector<std::pair<std::string, std::string>>& params,
                                        std::string context) {
  decoding::DecodeRequest d;
  if (o.chat) {
    d.messages = std::vector<tokenizer::ChatMessage>{{"user", o.prompt}};
  } else {
    d.prompt = o.prompt;
  }
  d.suffix = o.suffix;
  d.strategy = o.strategy.empty() ? "target_only" : o.strategy;
  d.params.insert(params.begin(), params.end());
  if (o.gamma > 0) d.gamma = o.gamma;
  d.adaptive_gamma = o.adaptive_gamma;
  d.context = std::move(context);
  d.stop = o.stop;
  d.sampling = o.sampling;
  d.seed = o.seed;
  d.max_tokens = o.max_tokens;
  d.ignore_eos = o.ignore_eos;
  d.logprobs = o.logprobs;
  d.top_logprobs = o.top_logprobs;
  d.prompt_logprobs = o.prompt_logprobs;
  return d;
}

int RunInProcess(const GenerateOptions& o) {
  auto params = ParseParams(o.params);
  if (!params.ok()) return ReportError(params.status());
  auto context = ReadContextFile(o.context_file);
  if (!context.ok()) return ReportError(context.status());
  const decoding::DecodeRequest request = ToDecodeRequest(o, *params, *std::move(context));
  auto strategy = decoding::ResolveStrategy(request, "target_only");
  if (!strategy.ok()) return ReportError(strategy.status());

  server::InProcessPortsOptions po;
  const std::string model = o.model.empty() ? "smollm2-135m" : o.model;
  po.target_model = model;
  po.threads = o.threads;
  auto device = runtime::ParseDeviceKind(o.device);
  if (!device.ok()) return ReportError(absl::InvalidArgumentError(absl::StrCat("--device: ", device.status().message())));
  po.device = *device;
  // Load a draft model only when this request will use it (rapid drafts on
  // the retrieved context with the target's own weights unless
  // --draft-model says otherwise).
  if (strategy->needs().draft_model) po.draft_model = o.draft_model.empty() ? model : o.draft_model;
  po.draft_head_vocab = o.draft_head_vocab;
  if (!o.draft_requantize.empty()) {
    kernels::GgmlType type;
    // The option's validator already rejected any other name (a usage error
    // before anything loads); failing here means the two lists disagree.
    if (!kernels::QuantizeTypeFromName(o.draft_requantize, &type)) {
      return ReportError(absl::InternalError(absl::StrCat("--draft-requantize: '", o.draft_requantize,
                                                          "' passed the option's check but names no type")));
    }
    po.draft_requantize = type;
  }
  if (!o.json) Progress(absl::StrCat("loading ", model));
  auto ports = server::BuildInProcessPorts(po);
  if (!ports.ok()) return ReportError(ports.status());
  auto prepared = decoding::PrepareRequest(request, *std::move(strategy), **ports, decoding::TranslationDefaults{});
  if (!prepared.ok()) return ReportError(prepared.status());

  decoding::GenerationResult result;
  decoding::StreamCallback on_chunk = [&](const decoding::StreamChunk& chunk) {
    if (!o.json) Write(chunk.text);
    return absl::OkStatus();
  };
  absl::Status status =
      decoding::RunStrategy(prepared->strategy, prepared->generation, **ports, prepared->ignore_eos, on_chunk, &result);
  if (!status.ok()) return ReportError(status);

  GenerateOutcome outcome;
  outcome.text = result.text;
  outcome.token_ids = result.tokens;
  outcome.finish_reason = decoding::FinishReasonName(result.finish_reason);
  outcome.model = model;
  outcome.threads = (*ports)->target_threads;
  outcome.stats = result.stats;
  outcome.logprobs_requested = o.logprobs;
  outcome.logprobs = std::move(result.logprobs);
  outcome.top_logprobs = std::move(result.top_logprobs);
  outcome.prompt_logprobs_requested = o.prompt_logprobs;
  if (o.prompt_logprobs) outcome.prompt_token_ids = prepared->generation.prompt;
  outcome.prompt_logprobs = std::move(result.prompt_logprobs);
  outcome.prompt_top_logprobs = std::move(result.prompt_top_logprobs);
  if (absl::Status s = CheckLogprobCounts(outcome, o.top_logprobs); !s.ok()) return ReportError(s);
  if (o.json) {
    std::printf("%s\n", OutcomeJson(outcome).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    Write("\n");
    Progress(OutcomeSummary(outcome));
    if (o.logprobs) Progress(LogprobsSummary(outcome));
  }
  return kExitOk;
}

// --param's help, from the strategy registry's parameter tables.
std::string StrategyParamsHelp() {
  std::string help = "Strategy parameter KEY=VALUE by its documented name (repeatable; unknown names are rejected):";
  for (const decoding::StrategyDefinition* s : decoding::Strategies()) {
    std::vector<std::string> params;
    for (const decoding::ParamInfo& p : s->params()) {
      params.push_back(absl::StrCat(p.name, "=", p.range.empty() ? p.type : p.range));
    }
    if (!params.empty()) absl::StrAppend(&help, "\n  ", AbslView(s->name()), ": ", absl::StrJoin(params, ", "));
  }
  return help;
}

// --logit-bias TOKEN_ID=BIAS entries as the runtime's ascending list.
absl::StatusOr<std::vector<runtime::LogitBias>> ParseLogitBiasFlags(const std::vector<std::string>& entries) {
  std::vector<runtime::LogitBias> out;
  out.reserve(entries.size());
  for (const std::string& e : entries) {
    const size_t eq = e.find('=');
    runtime::LogitBias b;
    const absl::string_view entry(e);
    if (eq == std::string::npos || !absl::SimpleAtoi(entry.substr(0, eq), &b.token) ||
        !absl::SimpleAtof(entry.substr(eq + 1), &b.bias)) {
      return absl::InvalidArgumentError(absl::StrCat("expected TOKEN_ID=BIAS, got '", e, "'"));
    }
    out.push_back(b);
  }
  if (absl::Status s = runtime::SortLogitBias(out); !s.ok()) return s;
  runtime::SamplingParams check;
  check.logit_bias = out;
  if (absl::Status s = check.Validate(); !s.ok()) return s;  // negative ids, range
  return out;
}

}  // namespace

CLI::App* AddGenerateCommand(CLI::App& app, GenerateOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "generate",
      "Generate text from a prompt (streams to stdout). In process by default; with --server, "
      "through a running orchestrator");
  cmd->add_option("prompt", o.prompt, "Prompt text (or use --prompt)");
  cmd->add_option("--prompt", o.prompt, "Prompt text");
  cmd->add_option("--model", o.model,
                  "In process: bundled model name or GGUF path of the target (default smollm2-135m). "
                  "With --server: the model name to request (default: the server's)");
  CLI::Option* chat = cmd->add_flag("--chat", o.chat, "Wrap the prompt as a user message in the model's chat template");
  cmd->add_option_function<std::string>(
      "--suffix", [&o](const std::string& suffix) { o.suffix = suffix; },
      "Fill in the middle (code models with FIM tokens, e.g. qwen2.5-coder-*): the code after the gap; the "
      "prompt is the code before it (may be empty) and the output what goes between")
      ->excludes(chat);
  cmd->add_option("--max-tokens", o.max_tokens, "Most tokens to generate; 0 only with --prompt-logprobs (score the prompt)")
      ->check(CLI::Range(0, 1 << 20))->capture_default_str();
  o.sampling.temperature = 0.7f;
  cmd->add_option("--temperature", o.sampling.temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str();
  cmd->add_option("--top-k", o.sampling.top_k, "Keep the k most likely tokens; 0 = off")->capture_default_str();
  cmd->add_option("--top-p", o.sampling.top_p, "Nucleus sampling mass; 1 = off")->capture_default_str();
  cmd->add_option("--min-p", o.sampling.min_p, "Drop tokens below min_p * p_max; 0 = off")->capture_default_str();
  cmd->add_option("--repetition-penalty", o.sampling.repetition_penalty, "CTRL repetition penalty; 1 = off")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", o.sampling.presence_penalty,
                  "Subtracted from the logit of every token in the penalty window, -2..2; 0 = off")
      ->check(CLI::Range(-2.0, 2.0))
      ->capture_default_str();
  cmd->add_option("--frequency-penalty", o.sampling.frequency_penalty,
                  "Times a token's count in the penalty window, subtracted from its logit, -2..2; 0 = off")
      ->check(CLI::Range(-2.0, 2.0))
      ->capture_default_str();
  cmd->add_option("--repetition-window", o.sampling.repetition_window,
                  "Most recent tokens (prompt included) the three penalties look at; 0 = the whole sequence")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  cmd->add_option_function<std::vector<std::string>>(
         "--logit-bias",
         [&o](const std::vector<std::string>& entries) {
           absl::StatusOr<std::vector<runtime::LogitBias>> bias = ParseLogitBiasFlags(entries);
           if (!bias.ok()) throw CLI::ValidationError("--logit-bias", std::string(bias.status().message()));
           o.sampling.logit_bias = *std::move(bias);
         },
         "TOKEN_ID=BIAS (repeatable): add BIAS (-100..100) to the token's logit before the penalties; "
         "-100 all but bans the token")
      ->allow_extra_args(false);
  cmd->add_option_function<uint64_t>(
      "--seed", [&o](const uint64_t& seed) { o.seed = seed; },
      "Sampling seed: the same seed and parameters give the same output (speculative: with a fixed gamma, "
      "the default when a seed is given at temperature > 0). Unset: 0 in process, the server's choice with "
      "--server");
  cmd->add_option("--threads", o.threads, "Compute threads (in process); 0 = all cores")
      ->check(CLI::Range(0, 1024))->capture_default_str();
  cmd->add_option("--device", o.device,
                  "In process: compute backend of the models: cpu, cuda (an error without a GPU or a CUDA "
                  "build) or auto (cuda when available, else cpu)")
      ->capture_default_str();
  cmd->add_option("--server", o.server, "HOST:PORT of an orchestrator (tandem up / tandem serve); empty = in process");
  cmd->add_option("--strategy", o.strategy,
                  absl::StrCat("Decoding strategy: ", decoding::StrategyNames(),
                               " (default: target_only in process, the server's default with --server)"));
  cmd->add_option("--param", o.params, StrategyParamsHelp())
      ->allow_extra_args(false);
  cmd->add_option("--gamma", o.gamma, "Draft length per speculation round, 1..32 (wins over --param gamma)")
      ->check(CLI::Range(1, 32));
  CLI::Option* adaptive = cmd->add_flag_function(
      "--adaptive-gamma", [&o](int64_t) { o.adaptive_gamma = true; },
      "Choose gamma each round from the acceptance rate, measured draft/verify times and the target's load "
      "(0: plain target steps). The default, except with --gamma, or --seed at temperature > 0");
  cmd->add_flag_function("--fixed-gamma", [&o](int64_t) { o.adaptive_gamma = false; },
                         "Draft exactly --gamma tokens (default 4) every round")
      ->excludes(adaptive);
  cmd->add_option("--draft-model", o.draft_model,
                  "In process, drafter=model: bundled name or GGUF path of the draft (default: --model)");
  cmd->add_option("--draft-head-vocab", o.draft_head_vocab,
                  "In process, with --draft-model: the draft's output head computes logits for token ids below "
                  "this only (a cheaper draft step; lossless, the target verifies); 0 = the whole vocabulary")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--draft-requantize", o.draft_requantize,
                  "In process, with --draft-model: re-quantize the draft's matrix weights to this type at load "
                  "where that makes them smaller (q4_0 or q8_0): a faster draft step, possibly lower acceptance; "
                  "lossless, the target verifies")
      ->check(CLI::Validator(
          [](std::string& name) {
            kernels::GgmlType type;
            return kernels::QuantizeTypeFromName(name, &type)
                       ? std::string()
                       : absl::StrCat(kernels::kQuantizeTypeNames, ", not '", name, "'");
          },
          "q4_0|q8_0", "quantize type"));
  cmd->add_option("--context-file", o.context_file,
                  "A document sent as the request's context: target_only and speculative read all of it with "
                  "the question, rapid retrieves from it, other strategies reject it");
  cmd->add_option("--stop", o.stop, "Stop string (repeatable): generation ends before it")
      ->allow_extra_args(false);
  cmd->add_flag("--ignore-eos", o.ignore_eos, "Keep generating past end-of-generation tokens (benchmarks)");
  CLI::Option* logprobs = cmd->add_flag(
      "--logprobs", o.logprobs,
      "Report each generated token's log-probability under the target model (log softmax of its raw logits at "
      "temperature 1, as OpenAI's logprobs): target_only and speculative; after the text on stderr, or in --json");
  cmd->add_option("--top-logprobs", o.top_logprobs,
                  "With --logprobs: also the N most likely tokens at each position, 0..20")
      ->check(CLI::Range(0, 20))
      ->needs(logprobs)
      ->capture_default_str();
  cmd->add_flag("--prompt-logprobs", o.prompt_logprobs,
                "With --logprobs: also score the prompt, each token after the first given the ones before it, "
                "with the --top-logprobs alternatives (an evaluation's loglikelihood); listed before the "
                "generated tokens' on stderr, or as prompt_logprobs in --json")
      ->needs(logprobs);
  cmd->add_option("--request-id", o.request_id, "Request id (with --server; used by Abort and logs)");
  cmd->add_option("--timeout", o.timeout_s, "With --server: give up after this many seconds; 0 = never")
      ->check(CLI::Range(0.0, 1e6));
  AddClientSecurityFlags(cmd, o.security);
  cmd->add_flag("--json", o.json,
                "Print one JSON object at the end: text, token_ids, prompt_tokens, completion_tokens, "
                "finish_reason, speeds, stats (drafted/accepted tokens, acceptance per position, "
                "target calls, ...) and, with --logprobs, logprobs (per token: token_id, logprob, top_logprobs); "
                "with --prompt-logprobs, prompt_logprobs (the same per prompt token, the first's values null)");
  return cmd;
}

int RunGenerate(const GenerateOptions& options) {
  if (options.prompt.empty()) return ReportError(absl::InvalidArgumentError("--prompt: a prompt is required"));
  if (absl::Status s = options.sampling.Validate(); !s.ok()) return ReportError(s);
  if (!options.server.empty()) {
    // The server's deployment loaded its draft (its draft service's head_vocab
    // and requantize keys); silently ignoring these would mislead a benchmark.
    if (!options.draft_model.empty() || options.draft_head_vocab != 0 || !options.draft_requantize.empty()) {
      return ReportError(absl::InvalidArgumentError(
          "--draft-model, --draft-head-vocab and --draft-requantize load a draft in this process; with --server "
          "the deployment's draft service decides (its model, head_vocab and requantize keys)"));
    }
#ifdef TANDEM_CLI_SERVICES
    return RunRemoteGenerate(options);
#else
    return ReportError(absl::FailedPreconditionError("--server: this tandem was built without services (TANDEM_BUILD_SERVICES=OFF)"));
#endif
  }
  return RunInProcess(options);
}

}  // namespace tandem::cli
