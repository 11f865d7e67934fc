// RSD evaluation (not a test): GSM8K problems through target_only,
// draft_only and rsd (any parameters) on one in-process deployment (target,
// draft and the judge PRM loaded once), greedy. Writes one JSON line per
// (problem, run): correctness by the reward service's math checker against
// the GSM8K reference, the RSD statistics, and the FLOPs estimate (2 x
// parameters x tokens forwarded per model; target_only / draft_only from
// their prompt + generated tokens, rsd as strategies/rsd.h documents,
// best_of_n from its sampled tokens and one judge pass per response).
// bench/rsd/run_rsd_bench.py drives it and summarizes.
//
// Three run parameters belong to the bench, not the strategy:
//   policy=target|draft  the model the strategy samples from (default target).
//                        policy=draft runs it on a second in-process deployment
//                        whose target is the draft model (built on first use),
//                        so best_of_n can sample the small model as the RSD
//                        paper's best-of-N baseline does.
//   temperature=T, seed=S  sampling (default greedy, seed 0): best_of_n needs T > 0.
//
// Usage: tandem_rsd_bench --data gsm8k/test.jsonl --out FILE.jsonl [--offset I] [--count N]
//          [--target NAME] [--draft NAME] [--judge NAME] [--max-tokens N] [--threads N]
//          [--run LABEL:STRATEGY[:key=value,key=value]]...
// e.g. --run target:target_only --run draft:draft_only --run rsd07:rsd:delta=0.7
//      --run bon4:best_of_n:n=4,policy=draft,temperature=0.7
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model_store/model_store.h"
#include "services/orchestrator/server/inprocess_ports.h"
#include "decoding/strategies/best_of_n/best_of_n.h"
#include "decoding/request/prompt_encoding.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_runner.h"

namespace {

namespace orch = tandem::decoding;
namespace decoding = tandem::decoding;
namespace server = tandem::orchestrator::server;

// The instruction asks for blank-line separated steps (RSD's delimiter) and a
// GSM8K-style final line the math checker reads first.
constexpr char kInstruction[] =
    "Solve the following math problem step by step. Put a blank line between steps. "
    "On the last line write the final answer as '#### <number>'.\n\n";

struct Run {
  std::string label, strategy;
  std::map<std::string, std::string> params;  // the strategy's
  bool draft_policy = false;                  // policy=draft
  float temperature = 0;
  uint64_t seed = 0;
};

struct Args {
  std::string data, out, target = "qwen2.5-coder-1.5b", draft = "qwen2.5-coder-0.5b", judge = "smollm2-135m";
  int offset = 0, count = 20, max_tokens = 384, threads = 0;
  std::vector<Run> runs;
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "tandem_rsd_bench: %s\n", what.c_str());
  return 2;
}

bool ParseRun(const std::string& v, Run* run) {
  std::vector<std::string> parts = absl::StrSplit(v, absl::MaxSplits(':', 2));
  if (parts.size() < 2 || parts[0].empty() || parts[1].empty()) return false;
  run->label = parts[0];
  run->strategy = parts[1];
  if (parts.size() == 3) {
    for (absl::string_view kv : absl::StrSplit(parts[2], ',', absl::SkipEmpty())) {
      const size_t eq = kv.find('=');
      if (eq == absl::string_view::npos) return false;
      const std::string key(kv.substr(0, eq)), value(kv.substr(eq + 1));
      if (key == "policy") {
        if (value != "target" && value != "draft") return false;
        run->draft_policy = value == "draft";
      } else if (key == "temperature") {
        run->temperature = std::stof(value);
        if (!(run->temperature >= 0)) return false;
      } else if (key == "seed") {
        run->seed = std::stoull(value);
      } else {
        run->params[key] = value;
      }
    }
  }
  return true;
}

bool ParseArgs(int argc, char** argv, Args* a, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      *error = absl::StrCat(flag, " needs a value");
      return false;
    }
    const std::string v = argv[++i];
    try {
      if (flag == "--data") a->data = v;
      else if (flag == "--out") a->out = v;
      else if (flag == "--target") a->target = v;
      else if (flag == "--draft") a->draft = v;
      else if (flag == "--judge") a->judge = v;
      else if (flag == "--offset") a->offset = std::stoi(v);
      else if (flag == "--count") a->count = std::stoi(v);
      else if (flag == "--max-tokens") a->max_tokens = std::stoi(v);
      else if (flag == "--threads") a->threads = std::stoi(v);
      else if (flag == "--run") {
        Run run;
        if (!ParseRun(v, &run)) {
          *error = absl::StrCat("--run: expected LABEL:STRATEGY[:k=v,...] (policy target|draft, temperature >= 0), "
                                "got '", v, "'");
          return false;
        }
        a->runs.push_back(std::move(run));
      } else {
        *error = absl::StrCat("unknown flag ", flag);
        return false;
      }
    } catch (const std::exception&) {
      *error = absl::StrCat(flag, ": bad value '", v, "'");
      return false;
    }
  }
  if (a->data.empty() || a->out.empty() || a->runs.empty()) {
    *error = "--data, --out and at least one --run are required";
    return false;
  }
  return true;
}

// All tensor elements of a bundled model (the judge's parameter count).
absl::StatusOr<double> Parameters(const std::string& name) {
  auto path = tandem::runtime::ResolveModelPath(name);
  if (!path.ok()) return path.status();
  auto file = tandem::gguf::GgufFile::Open(*path);
  if (!file.ok()) return file.status();
  double n = 0;
  for (const auto& t : (*file)->tensors()) n += static_cast<double>(t.num_elements());
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::string error;
  if (!ParseArgs(argc, argv, &args, &error)) return Fail(error);

  std::vector<nlohmann::json> problems;
  {
    std::ifstream in(args.data);
    if (!in) return Fail(absl::StrCat("cannot read ", args.data));
    std::string line;
    for (int i = 0; std::getline(in, line) && static_cast<int>(problems.size()) < args.count; ++i) {
      if (i < args.offset || line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.contains("question") || !j.contains("answer")) {
        return Fail(absl::StrCat("bad problem line ", i));
      }
      j["index"] = i;
      problems.push_back(std::move(j));
    }
  }

  server::InProcessPortsOptions po;
  po.target_model = args.target;
  po.draft_model = args.draft;
  po.reward_judge_model = args.judge;
  po.threads = args.threads;
  auto ports = server::BuildInProcessPorts(po);
  if (!ports.ok()) return Fail(std::string(ports.status().message()));
  if ((*ports)->reward == nullptr) return Fail("the in-process deployment has no reward scorer");
  auto judge_parameters = Parameters(args.judge);
  if (!judge_parameters.ok()) return Fail(std::string(judge_parameters.status().message()));
  const double target_parameters = static_cast<double>((*ports)->target.parameters);
  const double draft_parameters = static_cast<double>((*ports)->drafts.at(0).parameters);
  // policy=draft runs: the draft model as a deployment's target, scored by the
  // main deployment's reward scorer (one judge in memory).
  std::unique_ptr<decoding::GenerationPorts> draft_ports;
  auto PortsFor = [&](const Run& run) -> absl::StatusOr<decoding::GenerationPorts*> {
    if (!run.draft_policy) return ports->get();
    if (draft_ports == nullptr) {
      server::InProcessPortsOptions dpo;
      dpo.target_model = args.draft;
      dpo.threads = args.threads;
      auto built = server::BuildInProcessPorts(dpo);
      if (!built.ok()) return built.status();
      draft_ports = std::move(*built);
      draft_ports->reward = (*ports)->reward;
    }
    return draft_ports.get();
  };

  std::ofstream out(args.out, std::ios::app);
  if (!out) return Fail(absl::StrCat("cannot write ", args.out));
  for (const nlohmann::json& p : problems) {
    const std::string question = p["question"].get<std::string>();
    auto ids = decoding::EncodeChat(*(*ports)->tokenizer, {{"user", kInstruction + question}}, "question");
    if (!ids.ok()) return Fail(std::string(ids.status().message()));
    for (const Run& run : args.runs) {
      std::map<std::string, std::string> params = run.params;
      if (decoding::FindStrategy(run.strategy) != nullptr && decoding::FindStrategy(run.strategy)->HasParam("prm_parameters")) {
        params.emplace("prm_parameters", absl::StrCat(*judge_parameters));
      }
      auto choice = decoding::PrepareStrategy(run.strategy, params);
      if (!choice.ok()) return Fail(absl::StrCat(run.label, ": ", choice.status().message()));
      auto run_ports = PortsFor(run);
      if (!run_ports.ok()) return Fail(absl::StrCat(run.label, ": ", run_ports.status().message()));
      orch::GenerationRequest request;
      request.prompt = *ids;
      request.prompt_text = question;  // the PRM judges the raw question
      request.max_tokens = args.max_tokens;
      request.sampling.temperature = run.temperature;
      request.sampling.seed = run.seed;
      orch::GenerationResult result;
      const auto t0 = std::chrono::steady_clock::now();
      absl::Status status = decoding::RunStrategy(*choice, request, **run_ports, /*ignore_eos=*/false, {}, &result);
      const double wall_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!status.ok()) return Fail(absl::StrCat(run.label, ": ", status.message()));
      auto& st = result.stats;
      // target_only / draft_only: every prompt and response token through
      // their one model (the EOS that ended it was computed too).
      const double forwarded = static_cast<double>(request.prompt.size() + result.tokens.size()) +
                               (result.finish_reason == orch::FinishReason::kEndOfGeneration ? 1 : 0);
      const double policy_parameters = run.draft_policy ? draft_parameters : target_parameters;
      double* policy_flops = run.draft_policy ? &st.flops.draft : &st.flops.target;
      if (run.strategy == "target_only") *policy_flops = 2.0 * policy_parameters * forwarded;
      if (run.strategy == "best_of_n") {
        // One prompt prefill (the samples fork it) plus one forward per
        // sampled token (target_calls: one Verify each); the judge reads the
        // prompt and a response per sample (its template tokens not counted,
        // as in the RSD accounting).
        const double sampled = static_cast<double>(st.target_calls);
        const double n = static_cast<double>(choice->options<decoding::BestOfNOptions>().n);
        *policy_flops = 2.0 * policy_parameters * (static_cast<double>(request.prompt.size()) + sampled);
        st.flops.prm = 2.0 * *judge_parameters * (n * static_cast<double>(request.prompt.size()) + sampled);
      }
      orch::RewardItem item{question, result.text, p["answer"].get<std::string>()};
      auto correct = (*ports)->reward->Score({.backend = "math"}, {&item, 1});
      if (!correct.ok()) return Fail(std::string(correct.status().message()));
      nlohmann::json j;
      j["index"] = p["index"];
      j["run"] = run.label;
      j["strategy"] = run.strategy;
      j["params"] = run.params;
      if (run.draft_policy) j["params"]["policy"] = "draft";
      if (run.temperature > 0) {
        j["params"]["temperature"] = absl::StrCat(run.temperature);
        j["params"]["seed"] = absl::StrCat(run.seed);
      }
      j["correct"] = (*correct)[0] > 0.5f;
      j["wall_ms"] = wall_ms;
      j["prompt_tokens"] = request.prompt.size();
      j["generated_tokens"] = st.generated_tokens;
      j["finish_reason"] = orch::FinishReasonName(result.finish_reason);
      j["rsd_steps"] = st.rsd.steps;
      j["rsd_steps_accepted"] = st.rsd.steps_accepted;
      j["rsd_steps_target"] = st.rsd.steps_target;
      j["rsd_draft_tokens_accepted"] = st.rsd.draft_tokens_accepted;
      j["rsd_draft_tokens_discarded"] = st.rsd.draft_tokens_discarded;
      j["rsd_target_tokens"] = st.rsd.target_tokens;
      j["rsd_step_rewards"] = st.rsd.step_rewards;
      j["target_step_fraction"] = st.rsd.target_step_fraction;
      j["flops_draft"] = st.flops.draft;
      j["flops_target"] = st.flops.target;
      j["flops_prm"] = st.flops.prm;
      j["target_parameters"] = target_parameters;
      j["draft_parameters"] = draft_parameters;
      j["prm_parameters"] = *judge_parameters;
      j["reward_time_ms"] = st.reward.time_ms;
      j["draft_time_ms"] = st.draft_time_ms;
      j["target_time_ms"] = st.target_time_ms;
      j["text"] = result.text;
      out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      out.flush();
      std::fprintf(stderr, "#%d %s: %s, %lld tokens, %.0f ms, target steps %lld/%lld\n", p["index"].get<int>(),
                   run.label.c_str(), (*correct)[0] > 0.5f ? "correct" : "wrong",
                   static_cast<long long>(st.generated_tokens), wall_ms,
                   static_cast<long long>(st.rsd.steps_target), static_cast<long long>(st.rsd.steps));
    }
  }
  return 0;
}
