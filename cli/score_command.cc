#include "cli/score_command.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/client_credentials.h"
#include "cli/run_context.h"
#include "nlohmann/json.hpp"
#include "services/orchestrator/remote/remote_reward_scorer.h"
#include "services/reward/reward_registry.h"

namespace tandem::cli {

CLI::App* AddScoreCommand(CLI::App& app, ScoreOptions& o) {
  CLI::App* cmd = app.add_subcommand("score", "Score a response (or solution steps) with a reward backend");
  cmd->add_option("--backend", o.backend, "judge, gguf, math, regex, keyword, length, similarity (default: the scorer's)");
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
