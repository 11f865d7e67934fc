// Judge scoring benchmark (not a test): latency and throughput of the
// `judge` backend on GSM8K problems, with and without prefix reuse, in the
// three patterns the strategies produce:
//   batch  - best-of-N: N complete candidate answers of one question in one
//            Score call (they share the prompt)
//   grow   - CARDS/ARGS: one answer scored after every segment (successive
//            prefixes of the same response, one Score call each)
//   steps  - RSD: ScoreSteps with the solution's steps growing by one per call
// Each pattern runs once with options cache=false (everything forwarded) and
// once with the prefix cache; the scores must agree exactly (checked). One
// JSON line per (pattern, cache) with items, calls, seconds, items/s, mean
// call latency, tokens forwarded and reused.
//
// Usage: tandem_reward_bench [--judge NAME|PATH] [--threads N] [--problems N]
//          [--data FILE.jsonl] [--candidates N] [--segment-words N] [--quality 1]
//
// --quality 1 measures the judge instead of the cache: for each problem, the
// reference solution vs the same solution with its final number changed
// (every "N" of the last line becomes N+1), scored as a whole (Score) and
// as steps (ScoreSteps, the last step's score); reports how often the
// correct one scores higher (ties count half) and the mean scores.
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/common/data_dir.h"
#include "absl/strings/str_split.h"
#include "services/reward/reward_registry.h"

namespace {

using tandem::reward::EvalStats;
using tandem::reward::RewardItem;
using tandem::reward::RewardRegistry;
using tandem::reward::RewardSpec;

struct Problem {
  std::string question;
  std::vector<std::string> steps;  // solution lines without the <<calc>> annotations
  std::string answer;              // the steps joined as one response
};

std::string StripCalc(std::string s) {
  for (size_t a; (a = s.find("<<")) != std::string::npos;) {
    const size_t b = s.find(">>", a);
    if (b == std::string::npos) break;
    s.erase(a, b + 2 - a);
  }
  return s;
}

std::vector<Problem> LoadProblems(const std::string& path, int n) {
  std::vector<Problem> out;
  std::ifstream in(path);
  std::string line;
  while (static_cast<int>(out.size()) < n && std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    Problem p;
    p.question = j.at("question").get<std::string>();
    for (absl::string_view l : absl::StrSplit(j.at("answer").get<std::string>(), '\n', absl::SkipEmpty())) {
      std::string step = StripCalc(std::string(l));
      if (step.rfind("####", 0) == 0) step = "The answer is" + step.substr(4) + ".";
      p.steps.push_back(step);
    }
    for (size_t i = 0; i < p.steps.size(); ++i) p.answer += (i ? "\n" : "") + p.steps[i];
    out.push_back(std::move(p));
  }
  return out;
}

struct Run {
  int64_t items = 0, calls = 0;
  double seconds = 0;
  std::vector<float> scores;
};

EvalStats Judge(const RewardRegistry& r) { return r.Stats().at("judge").eval; }

void Report(const char* pattern, bool cache, const Run& run, const EvalStats& before, const EvalStats& after) {
  nlohmann::json j;
  j["pattern"] = pattern;
  j["cache"] = cache;
  j["items"] = run.items;
  j["calls"] = run.calls;
  j["seconds"] = run.seconds;
  j["items_per_s"] = run.items / run.seconds;
  j["mean_call_ms"] = 1000.0 * run.seconds / static_cast<double>(run.calls);
  j["tokens_forwarded"] = after.tokens_forwarded - before.tokens_forwarded;
  j["tokens_reused"] = after.tokens_reused - before.tokens_reused;
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

// The last line with its final number replaced by number + 1.
std::string Corrupt(const std::string& last) {
  size_t end = last.find_last_of("0123456789");
  if (end == std::string::npos) return last + " 1";
  size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(last[begin - 1]))) --begin;
  const long long n = std::atoll(last.substr(begin, end - begin + 1).c_str());
  return last.substr(0, begin) + std::to_string(n + 1) + last.substr(end + 1);
}

int Quality(RewardRegistry& r, const std::vector<Problem>& ps, const std::string& judge) {
  double wins_whole = 0, wins_steps = 0;
  double sum_good = 0, sum_bad = 0, sum_good_step = 0, sum_bad_step = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const Problem& p : ps) {
    std::vector<std::string> bad_steps = p.steps;
    bad_steps.back() = Corrupt(bad_steps.back());
    std::string bad;
    for (size_t i = 0; i < bad_steps.size(); ++i) bad += (i ? "\n" : "") + bad_steps[i];
    std::vector<RewardItem> items = {{p.question, p.answer, ""}, {p.question, bad, ""}};
    auto whole = r.Score(RewardSpec{"judge", {}}, items);
    auto good_steps = r.ScoreSteps(RewardSpec{"judge", {}}, p.question, p.steps);
    auto bad_steps_scores = r.ScoreSteps(RewardSpec{"judge", {}}, p.question, bad_steps);
    if (!whole.ok() || !good_steps.ok() || !bad_steps_scores.ok()) return 1;
    const float g = (*whole)[0], b = (*whole)[1], gs = good_steps->back(), bs = bad_steps_scores->back();
    wins_whole += g > b ? 1 : g == b ? 0.5 : 0;
    wins_steps += gs > bs ? 1 : gs == bs ? 0.5 : 0;
    sum_good += g;
    sum_bad += b;
    sum_good_step += gs;
    sum_bad_step += bs;
  }
  const double n = static_cast<double>(ps.size());
  nlohmann::json j;
  j["judge"] = judge;
  j["problems"] = ps.size();
  j["whole_correct_ranked_higher"] = wins_whole / n;
  j["last_step_correct_ranked_higher"] = wins_steps / n;
  j["mean_whole_correct"] = sum_good / n;
  j["mean_whole_corrupted"] = sum_bad / n;
  j["mean_last_step_correct"] = sum_good_step / n;
  j["mean_last_step_corrupted"] = sum_bad_step / n;
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string judge = "smollm2-135m";
  std::string data = tandem::bench::DataDir() + "/gsm8k/test.jsonl";
  int threads = 0, problems = 8, candidates = 4, segment_words = 8, quality = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--judge") judge = v;
    else if (k == "--threads") threads = std::atoi(v.c_str());
    else if (k == "--problems") problems = std::atoi(v.c_str());
    else if (k == "--data") data = v;
    else if (k == "--candidates") candidates = std::atoi(v.c_str());
    else if (k == "--segment-words") segment_words = std::atoi(v.c_str());
    else if (k == "--quality") quality = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  const std::vector<Problem> ps = LoadProblems(data, problems);
  if (ps.empty()) {
    std::fprintf(stderr, "no problems read from %s\n", data.c_str());
    return 1;
  }
  tandem::reward::RewardRegistryOptions o;
  o.judge_model = judge;
  o.threads = threads;
  o.similarity_embedder = "";
  RewardRegistry r(o);
  // Load the model outside the timed runs.
  {
    std::vector<RewardItem> warm = {{"warm up", "ok", ""}};
    auto s = r.Score(RewardSpec{"judge", {{"cache", "false"}}}, warm);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.status().message()).c_str());
      return 1;
    }
  }
  if (quality) return Quality(r, ps, judge);
  // Runs `body(spec, run)` over all problems once without and once with
  // prefix reuse, reports both, and counts the scores they disagree on.
  int mismatches = 0;
  auto without_and_with_cache = [&](const char* pattern, auto&& body) {
    Run runs[2];
    for (bool cache : {false, true}) {
      Run& run = runs[cache];
      const RewardSpec spec{"judge", {{"cache", cache ? "true" : "false"}}};
      const EvalStats before = Judge(r);
      const auto t0 = std::chrono::steady_clock::now();
      body(spec, run);
      run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      Report(pattern, cache, run, before, Judge(r));
    }
    for (size_t i = 0; i < runs[0].scores.size(); ++i) mismatches += runs[0].scores[i] != runs[1].scores[i] ? 1 : 0;
  };

  // batch: N candidates per problem (the solution truncated to 1..N lines).
  without_and_with_cache("batch", [&](const RewardSpec& spec, Run& run) {
    for (const Problem& p : ps) {
      std::vector<RewardItem> items;
      for (int c = 0; c < candidates; ++c) {
        const size_t n = std::max<size_t>(1, p.steps.size() * static_cast<size_t>(c + 1) / static_cast<size_t>(candidates));
        std::string resp;
        for (size_t i = 0; i < n; ++i) resp += (i ? "\n" : "") + p.steps[i];
        items.push_back({p.question, resp, ""});
      }
      auto s = r.Score(spec, items);
      if (!s.ok()) std::abort();
      run.scores.insert(run.scores.end(), s->begin(), s->end());
      run.items += static_cast<int64_t>(items.size());
      ++run.calls;
    }
  });
  // grow: the answer scored after every segment of segment_words words.
  without_and_with_cache("grow", [&](const RewardSpec& spec, Run& run) {
    for (const Problem& p : ps) {
      std::vector<std::string> words = absl::StrSplit(p.answer, ' ');
      std::string prefix;
      for (size_t w = 0; w < words.size(); ++w) {
        prefix += (w ? " " : "") + words[w];
        if ((w + 1) % static_cast<size_t>(segment_words) != 0 && w + 1 != words.size()) continue;
        std::vector<RewardItem> items = {{p.question, prefix, ""}};
        auto s = r.Score(spec, items);
        if (!s.ok()) std::abort();
        run.scores.push_back((*s)[0]);
        ++run.items;
        ++run.calls;
      }
    }
  });
  // steps: ScoreSteps with 1..K steps (RSD); items = newly scored steps.
  without_and_with_cache("steps", [&](const RewardSpec& spec, Run& run) {
    for (const Problem& p : ps) {
      for (size_t k = 1; k <= p.steps.size(); ++k) {
        auto s = r.ScoreSteps(spec, p.question, std::span<const std::string>(p.steps.data(), k));
        if (!s.ok()) std::abort();
        run.scores.push_back(s->back());
        ++run.items;
        ++run.calls;
      }
    }
  });
  std::fprintf(stderr, "score mismatches between cache and no cache: %d\n", mismatches);
  return mismatches == 0 ? 0 : 1;
}
