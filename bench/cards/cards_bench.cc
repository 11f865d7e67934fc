// Reward-guided decoding benchmark (not a test): runs the same chat prompts
// through target_only (plain sampling), best_of_n, cards and args on one
// in-process deployment (policy + judge loaded once) and writes one JSON line
// per (prompt, strategy): the reward of the returned response, LLM forward
// calls, reward calls / items and wall time of the strategy run. Plain
// sampling returns no reward, so its text is scored afterwards with the same
// backend, outside its timed run. bench/cards/run_cards_bench.py prepares
// the prompts and summarizes.
//
// Usage: tandem_cards_bench --prompts FILE.jsonl --out FILE.jsonl
//          [--policy NAME] [--judge NAME] [--strategies a,b,c] [--max-tokens N]
//          [--temperature T] [--top-k K] [--seed S] [--threads N]
//          [--param STRATEGY.KEY=VALUE ...] [--tag LABEL]
// Prompt lines: {"id": ..., "messages": [{"role": .., "content": ..}], "prompt_text": ".."}.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/orchestrator/server/inprocess_ports.h"
#include "decoding/strategies/cards/cards.h"
#include "decoding/request/prompt_encoding.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_registry.h"
#include "decoding/registry/strategy_runner.h"

namespace {

namespace orch = tandem::decoding;
namespace decoding = tandem::decoding;
namespace server = tandem::orchestrator::server;

struct Args {
  std::string prompts, out, policy = "smollm2-135m", judge, tag;
  std::vector<std::string> strategies = {"target_only", "best_of_n", "cards", "args"};
  int max_tokens = 128, top_k = 40, threads = 0;
  float temperature = 0.7f;
  uint64_t seed = 1;
  std::map<std::string, std::map<std::string, std::string>> params;  // strategy -> key -> value
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "tandem_cards_bench: %s\n", what.c_str());
  return 2;
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
      if (flag == "--prompts") a->prompts = v;
      else if (flag == "--out") a->out = v;
      else if (flag == "--policy") a->policy = v;
      else if (flag == "--judge") a->judge = v;
      else if (flag == "--tag") a->tag = v;
      else if (flag == "--strategies") a->strategies = absl::StrSplit(v, ',', absl::SkipEmpty());
      else if (flag == "--max-tokens") a->max_tokens = std::stoi(v);
      else if (flag == "--top-k") a->top_k = std::stoi(v);
      else if (flag == "--threads") a->threads = std::stoi(v);
      else if (flag == "--temperature") a->temperature = std::stof(v);
      else if (flag == "--seed") a->seed = std::stoull(v);
      else if (flag == "--param") {
        const size_t dot = v.find('.'), eq = v.find('=');
        if (dot == std::string::npos || eq == std::string::npos || eq < dot) {
          *error = absl::StrCat("--param: expected STRATEGY.KEY=VALUE, got '", v, "'");
          return false;
        }
        a->params[v.substr(0, dot)][v.substr(dot + 1, eq - dot - 1)] = v.substr(eq + 1);
      } else {
        *error = absl::StrCat("unknown flag ", flag);
        return false;
      }
    } catch (const std::exception&) {
      *error = absl::StrCat(flag, ": bad value '", v, "'");
      return false;
    }
  }
  if (a->prompts.empty() || a->out.empty()) {
    *error = "--prompts and --out are required";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::string error;
  if (!ParseArgs(argc, argv, &args, &error)) return Fail(error);

  std::vector<nlohmann::json> prompts;
  {
    std::ifstream in(args.prompts);
    if (!in) return Fail(absl::StrCat("cannot read ", args.prompts));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.contains("messages")) return Fail(absl::StrCat("bad prompt line: ", line));
      prompts.push_back(std::move(j));
    }
  }

  server::InProcessPortsOptions po;
  po.target_model = args.policy;
  po.threads = args.threads;
  po.reward_judge_model = args.judge;
  auto ports = server::BuildInProcessPorts(po);
  if (!ports.ok()) return Fail(std::string(ports.status().message()));
  if ((*ports)->reward == nullptr) return Fail("the in-process deployment has no reward scorer");

  std::ofstream out(args.out, std::ios::app);
  if (!out) return Fail(absl::StrCat("cannot write ", args.out));
  for (const nlohmann::json& p : prompts) {
    std::vector<tandem::tokenizer::ChatMessage> messages;
    for (const auto& m : p["messages"]) messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    auto ids = decoding::EncodeChat(*(*ports)->tokenizer, messages, "messages");
    if (!ids.ok()) return Fail(std::string(ids.status().message()));
    for (const std::string& strategy : args.strategies) {
      auto choice = decoding::PrepareStrategy(strategy, args.params[strategy]);
      if (!choice.ok()) return Fail(std::string(choice.status().message()));
      orch::GenerationRequest request;
      request.prompt = *ids;
      request.prompt_text = p.value("prompt_text", "");
      request.max_tokens = args.max_tokens;
      request.sampling.temperature = args.temperature;
      request.sampling.top_k = args.top_k;
      request.sampling.seed = args.seed;
      orch::GenerationResult result;
      const auto t0 = std::chrono::steady_clock::now();
      absl::Status status = decoding::RunStrategy(*choice, request, **ports, /*ignore_eos=*/false, {}, &result);
      const double wall_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!status.ok()) return Fail(absl::StrCat(strategy, ": ", status.message()));
      const auto& st = result.stats;
      double reward = st.reward.final_reward.value_or(0.0);
      bool scored_after = false;
      if (!st.reward.final_reward.has_value()) {
        orch::RewardItem item{request.prompt_text, result.text, ""};
        // The reward CARDS would use (its parameters from --param cards.*): the
        // strategy's own options hold no CardsOptions unless it is cards.
        auto cards_choice = decoding::PrepareStrategy("cards", args.params["cards"]);
        if (!cards_choice.ok()) return Fail(std::string(cards_choice.status().message()));
        auto r = (*ports)->reward->Score(cards_choice->options<decoding::CardsOptions>().reward, {&item, 1});
        if (!r.ok()) return Fail(std::string(r.status().message()));
        reward = (*r)[0];
        scored_after = true;
      }
      nlohmann::json j;
      j["id"] = p.value("id", nlohmann::json());
      j["strategy"] = strategy;
      j["tag"] = args.tag;
      j["final_reward"] = reward;
      j["reward_scored_after_run"] = scored_after;
      j["wall_ms"] = wall_ms;
      j["generated_tokens"] = st.generated_tokens;
      j["finish_reason"] = orch::FinishReasonName(result.finish_reason);
      j["llm_calls"] = st.target_calls;
      j["target_time_ms"] = st.target_time_ms;
      j["reward_calls"] = st.reward.calls;
      j["reward_items"] = st.reward.items;
      j["reward_time_ms"] = st.reward.time_ms;
      j["segments_proposed"] = st.cards.segments_proposed;
      j["segments_accepted"] = st.cards.segments_accepted;
      j["segments_rejected"] = st.cards.segments_rejected;
      j["segments_forced"] = st.cards.segments_forced;
      j["r_star"] = st.cards.r_star.has_value() ? nlohmann::json(*st.cards.r_star) : nlohmann::json();
      j["params"] = args.params[strategy];
      j["text"] = result.text;
      out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      out.flush();
      std::fprintf(stderr, "%s %s: reward %.4f, %lld tokens, %.0f ms, %lld llm calls, %lld reward calls\n",
                   p.value("id", nlohmann::json()).dump().c_str(), strategy.c_str(), reward,
                   static_cast<long long>(st.generated_tokens), wall_ms, static_cast<long long>(st.target_calls),
                   static_cast<long long>(st.reward.calls));
    }
  }
  return 0;
}
