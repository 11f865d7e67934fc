#include "cli/perplexity_command.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/run_context.h"
#include "nlohmann/json.hpp"
#include "runtime/model/model.h"
#include "runtime/model/perplexity.h"
#include "runtime/model_store/model_store.h"

namespace tandem::cli {

CLI::App* AddPerplexityCommand(CLI::App& app, PerplexityOptions& o) {
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity of a model on a text file");
  cmd->add_option("--model", o.model, "Bundled model name or path to a GGUF file")->capture_default_str();
  cmd->add_option("--file", o.file, "UTF-8 text file to score")->required();
  cmd->add_option("--window", o.window, "Tokens per evaluation window (non-overlapping)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20))->capture_default_str();
  cmd->add_option("--max-tokens", o.max_tokens, "Score only the first N tokens; 0 = all")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--threads", o.threads, "Compute threads; 0 = all cores")
      ->check(CLI::Range(0, 1024))->capture_default_str();
  cmd->add_option("--scoring", o.scoring,
                  "Which tokens count: 'all' (every token of a window but its first) or 'llama-cpp' (the second "
                  "half of each full window, BOS first, as llama.cpp's perplexity tool; comparable with its numbers)")
      ->check(CLI::IsMember({"all", "llama-cpp"}))->capture_default_str();
  cmd->add_flag("--json", o.json, "Print the result as one JSON object");
  return cmd;
}

int RunPerplexity(const PerplexityOptions& o) {
  std::ifstream in(o.file, std::ios::binary);
  if (!in) return ReportError(absl::NotFoundError(absl::StrCat("--file: cannot read '", o.file, "'")));
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();

  auto path = runtime::ResolveModelPath(o.model);
  if (!path.ok()) return ReportError(path.status());
  runtime::ModelOptions model_options;
  model_options.n_threads = o.threads;
  auto model = runtime::Model::Load(*path, model_options);
  if (!model.ok()) return ReportError(model.status());

  std::vector<int32_t> tokens = (*model)->tokenizer().Encode(text, /*add_special=*/true,
                                                             /*parse_special=*/false);
  if (o.max_tokens > 0 && static_cast<int64_t>(tokens.size()) > o.max_tokens) tokens.resize(o.max_tokens);
  if (tokens.size() < 2) {
    return ReportError(absl::InvalidArgumentError("--file: fewer than 2 tokens to score"));
  }
  const int64_t window = std::min<int64_t>(o.window, (*model)->max_context());
  if (!o.json) Progress(absl::StrCat("scoring ", tokens.size(), " tokens in windows of ", window));
  const auto t0 = std::chrono::steady_clock::now();
  const runtime::PerplexityScoring scoring =
      o.scoring == "llama-cpp" ? runtime::PerplexityScoring::kLlamaCpp : runtime::PerplexityScoring::kAllTokens;
  auto result = runtime::ComputePerplexity(**model, tokens, window, scoring);
  if (!result.ok()) return ReportError(result.status());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (o.json) {
    nlohmann::json j;
    j["model"] = o.model;
    j["file"] = o.file;
    j["perplexity"] = result->perplexity;
    j["mean_nll"] = result->mean_nll;
    j["tokens_scored"] = result->tokens_scored;
    j["windows"] = result->windows;
    j["window"] = window;
    j["scoring"] = o.scoring;
    j["tokens_per_s"] = seconds > 0 ? static_cast<double>(tokens.size()) / seconds : 0;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s\n", absl::StrFormat("perplexity %.4f over %d tokens (%d windows of %d, scoring %s)",
                                        result->perplexity, result->tokens_scored, result->windows,
                                        window, o.scoring).c_str());
  }
  return kExitOk;
}

}  // namespace tandem::cli
