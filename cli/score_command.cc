#include "cli/score_command.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/client_credentials.h"
#include "cli/run_context.h"
#include "decoding/request/prompt_encoding.h"
#include "decoding/strategies/reward_guided/target_likelihood.h"
#include "nlohmann/json.hpp"
#include "services/orchestrator/remote/remote_reward_scorer.h"
#include "services/orchestrator/server/inprocess_ports.h"
#include "services/reward/reward_registry.h"

namespace tandem::cli {
namespace {

// The target-likelihood reward over text: the model loaded as a target (the
// in-process verifier), the same scoring code RSD and CARDS run.
absl::StatusOr<std::vector<float>> ScoreTargetLikelihood(const ScoreOptions& o, const decoding::RewardSpec& spec) {
  std::string delimiter = "\n\n";
  for (const auto& [key, value] : spec.options) {
    if (key != "delimiter") {
      return absl::InvalidArgumentError(absl::StrCat("--option: target_likelihood takes no option '", key, "'"));
    }
    delimiter = value;
  }
  orchestrator::server::InProcessPortsOptions po;
  po.target_model = o.judge_model;
  po.threads = o.threads;
  auto ports = orchestrator::server::BuildInProcessPorts(po);
  if (!ports.ok()) return ports.status();
  const tokenizer::Tokenizer& tok = *(*ports)->tokenizer;
  auto prompt = o.chat ? decoding::EncodeChat(tok, {{"user", o.prompt}}, "prompt")
                       : decoding::EncodePrompt(tok, o.prompt, "prompt");
  if (!prompt.ok()) return prompt.status();
  decoding::spec::RequestStats scratch;  // counts the calls; not reported
  std::vector<float> scores;
  auto open = [&]() { return (*ports)->verifier->Open(*prompt, runtime::SamplingParams{}, {}); };
  if (!o.steps.empty()) {
    auto session = open();
    if (!session.ok()) return session.status();
    for (const std::string& step : o.steps) {
      const std::vector<int32_t> tokens = tok.Encode(absl::StrCat(step, delimiter), false, false);
      auto r = decoding::AppendTargetLikelihood(**session, tokens, &scratch);
      if (!r.ok()) return r.status();
      scores.push_back(static_cast<float>(*r));
    }
    return scores;
  }
  for (const std::string& response : o.responses) {
    auto session = open();
    if (!session.ok()) return session.status();
    const std::vector<int32_t> tokens = tok.Encode(response, false, false);
    auto r = decoding::AppendTargetLikelihood(**session, tokens, &scratch);
    if (!r.ok()) return r.status();
    scores.push_back(static_cast<float>(*r));
  }
  return scores;
}

}  // namespace

CLI::App* AddScoreCommand(CLI::App& app, ScoreOptions& o) {
  CLI::App* cmd = app.add_subcommand("score", "Score a response (or solution steps) with a reward backend");
  cmd->add_option("--backend", o.backend,
                  "judge, gguf, math, regex, keyword, length, similarity, or target_likelihood (in process: "
                  "--judge-model as the target) (default: the scorer's)");
  cmd->add_option("--option", o.options, "Backend option KEY=VALUE, repeatable (services/reward/README.md)");
  cmd->add_option("--prompt", o.prompt, "The question / prompt")->required();
  cmd->add_option("--response", o.responses, "A response to score, repeatable (scored in one batch)");
  cmd->add_option("--reference", o.reference, "Reference answer (math, similarity)");
  cmd->add_option("--step", o.steps, "A solution step, repeatable: process reward per step (ScoreSteps)");
  cmd->add_option("--server", o.server, "HOST:PORT of a Reward service; empty = in process");
  cmd->add_option("--judge-model", o.judge_model, "In process: the judge model (bundled name or GGUF path)")
      ->capture_default_str();
  cmd->add_option("--reward-model", o.reward_model, "In process: a GGUF reward model with a score head (backend gguf)");
  cmd->add_option("--threads", o.threads, "In process: compute threads; 0 = all cores")->check(CLI::Range(0, 1024));
  cmd->add_flag("--chat", o.chat,
                "target_likelihood: wrap the prompt as a user message in the model's chat template");
  cmd->add_flag("--json", o.json, "Print one JSON object: backend, scores, seconds");
  AddClientSecurityFlags(cmd, o.security);
  return cmd;
}

int RunScore(const ScoreOptions& o) {
  if (o.responses.empty() == o.steps.empty()) {
    return ReportError(absl::InvalidArgumentError("--response / --step: give one or more responses, or steps"));
  }
  decoding::RewardSpec spec;
  spec.backend = o.backend;
  for (const std::string& kv : o.options) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return ReportError(absl::InvalidArgumentError(absl::StrCat("--option: expected KEY=VALUE, got '", kv, "'")));
    }
    spec.options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (o.backend == decoding::kTargetLikelihoodBackend) {
    if (!o.server.empty()) {
      return ReportError(absl::InvalidArgumentError(
          "--backend target_likelihood runs on a target model in this process (--judge-model), not on a reward "
          "service; drop --server"));
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto scores = ScoreTargetLikelihood(o, spec);
    if (!scores.ok()) return ReportError(scores.status());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.json) {
      nlohmann::json j;
      j["backend"] = o.backend;
      j["scores"] = *scores;
      j["seconds"] = seconds;
      std::printf("%s\n", j.dump().c_str());
    } else {
      for (float s : *scores) std::printf("%.6f\n", s);
    }
    return kExitOk;
  }
  std::unique_ptr<decoding::RewardScorer> scorer;
  if (!o.server.empty()) {
    auto credentials = ClientChannelCredentials(o.security);
    if (!credentials.ok()) return ReportError(credentials.status());
    orchestrator::RemoteOptions remote_options;
    remote_options.credentials = *credentials;
    auto remote = orchestrator::RemoteRewardScorer::Connect(o.server, remote_options);
    if (!remote.ok()) return ReportError(remote.status());
    scorer = std::move(*remote);
  } else {
    reward::RewardRegistryOptions ro;
    ro.judge_model = o.judge_model;
    ro.reward_model = o.reward_model;
    ro.threads = o.threads;
    scorer = std::make_unique<reward::RewardRegistry>(std::move(ro));
  }
  const auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<float>> scores;
  if (!o.steps.empty()) {
    scores = scorer->ScoreSteps(spec, o.prompt, o.steps);
  } else {
    std::vector<decoding::RewardItem> items;
    for (const std::string& r : o.responses) items.push_back({o.prompt, r, o.reference});
    scores = scorer->Score(spec, items);
  }
  if (!scores.ok()) return ReportError(scores.status());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.json) {
    nlohmann::json j;
    j["backend"] = o.backend;
    j["scores"] = *scores;
    j["seconds"] = seconds;
    std::printf("%s\n", j.dump().c_str());
  } else {
    for (float s : *scores) std::printf("%.6f\n", s);
  }
  return kExitOk;
}

}  // namespace tandem::cli
