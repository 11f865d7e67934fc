#include "services/reward/judge_backend.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/model/model.h"
#include "runtime/util/absl_compat.h"
#include "services/reward/options.h"
#include "services/reward/prefix_evaluator.h"

namespace tandem::reward {
namespace {

// Stands in for the user message while rendering the template, so the
// template's own text around it (role headers, end-of-turn, the assistant
// generation prompt) can be cut out and tokenized with special tokens
// parsed, while user text never is.
constexpr std::string_view kMarker = "\x01tandem-judge-content\x01";

struct Answer {
  std::vector<int32_t> ids;
  std::vector<double> values;  // grade of each id (1 = yes, 0 = no)
};

class JudgeBackend final : public RewardBackend {
 public:
  JudgeBackend(std::unique_ptr<runtime::Model> model, size_t cache_entries)
      : model_(std::move(model)), evaluator_(*model_, OutputKind::kLogits, cache_entries) {}

  absl::Status Init() {
    const tokenizer::Tokenizer& tok = model_->tokenizer();
    const auto family = tok.chat_template().family();
    if (family == tokenizer::ChatTemplateFamily::kNone || family == tokenizer::ChatTemplateFamily::kUnrecognized) {
      return absl::InvalidArgumentError(absl::StrCat("judge: model ", model_->config().name,
                                                     " has no chat template this runtime renders"));
    }
    for (auto [words, value] : {std::pair{std::vector<std::string>{"Yes", " Yes", "yes", " yes", "YES"}, 1.0},
                                std::pair{std::vector<std::string>{"No", " No", "no", " no", "NO"}, 0.0}}) {
      bool any = false;
      for (const std::string& w : words) {
        std::vector<int32_t> ids = tok.Encode(w, false, false);
        if (ids.size() != 1 || std::find(yes_no_.ids.begin(), yes_no_.ids.end(), ids[0]) != yes_no_.ids.end()) continue;
        yes_no_.ids.push_back(ids[0]);
        yes_no_.values.push_back(value);
        any = true;
      }
      if (!any) return absl::InvalidArgumentError(absl::StrCat("judge: no single-token '", words[0], "' in the vocabulary"));
    }
    for (int g = 1; g <= 5; ++g) {
      std::vector<int32_t> ids = tok.Encode(std::to_string(g), false, false);
      if (ids.size() != 1) return absl::InvalidArgumentError(absl::StrCat("judge: digit ", g, " is not one token"));
      grades_.ids.push_back(ids[0]);
      grades_.values.push_back((g - 1) / 4.0);
    }
    return absl::OkStatus();
  }

  std::string_view name() const override { return "judge"; }
  std::vector<std::string> OptionNames() const override {
    return {"question", "system", "graded", "cache", "delimiter"};
  }
  bool SupportsSteps() const override { return true; }
  EvalStats stats() const override { return evaluator_.stats(); }

  absl::StatusOr<std::vector<float>> Score(const Options& options, std::span<const RewardItem> items) override {
    auto setup = Setup(options, /*steps=*/false);
    if (!setup.ok()) return setup.status();
    const tokenizer::Tokenizer& tok = model_->tokenizer();
    std::vector<EvalQuery> queries;
    queries.reserve(items.size());
    for (const RewardItem& item : items) {
      EvalQuery q;
      q.tokens = setup->head;
      Append(q.tokens, tok.Encode(absl::StrCat("Question:\n", item.prompt, "\n\nResponse:\n", item.response), false, false));
      Append(q.tokens, setup->suffix);
      q.read_positions = {static_cast<int64_t>(q.tokens.size()) - 1};
      queries.push_back(std::move(q));
    }
    auto scores = evaluator_.Run(queries, setup->reducer, setup->key, setup->cache);
    if (!scores.ok()) return scores.status();
    std::vector<float> out;
    for (const auto& s : *scores) out.push_back(s[0]);
    return out;
  }

  absl::StatusOr<std::vector<float>> ScoreSteps(const Options& options, std::string_view prompt,
                                                std::span<const std::string> steps) override {
    auto setup = Setup(options, /*steps=*/true);
    if (!setup.ok()) return setup.status();
    const tokenizer::Tokenizer& tok = model_->tokenizer();
    const std::string delimiter = StringOption(options, "delimiter", "\n\n");
    if (delimiter.empty()) return absl::InvalidArgumentError("options.delimiter: must not be empty");
    const std::vector<int32_t> delim = tok.Encode(delimiter, false, false);
    // The spine: template head, question, then step_i + delimiter, each
    // tokenized on its own. ends[i] = spine length after step i's delimiter.
    std::vector<int32_t> spine = setup->head;
    Append(spine, tok.Encode(absl::StrCat("Question:\n", AbslView(prompt), "\n\nSolution:\n\n"), false, false));
    std::vector<size_t> ends;
    for (const std::string& step : steps) {
      Append(spine, tok.Encode(step, false, false));
      Append(spine, delim);
      ends.push_back(spine.size());
    }
    std::vector<EvalQuery> queries(steps.size());
    for (size_t i = 0; i < steps.size(); ++i) {
      queries[i].tokens.assign(spine.begin(), spine.begin() + static_cast<int64_t>(ends[i]));
      Append(queries[i].tokens, setup->suffix);
      queries[i].read_positions = {static_cast<int64_t>(queries[i].tokens.size()) - 1};
    }
    if (setup->cache && steps.size() >= 2) {
      // Several steps not scored yet (a first call, or several new steps):
      // forward the spine once up to the last of them, so each judging
      // question forks from it instead of re-reading the steps.
      size_t last_missing = 0;
      int missing = 0;
      for (size_t i = 0; i < queries.size(); ++i) {
        if (evaluator_.Reusable(queries[i], setup->key) < static_cast<int64_t>(queries[i].tokens.size())) {
          last_missing = i;
          ++missing;
        }
      }
      if (missing >= 2) {
        EvalQuery prefix;
        prefix.tokens.assign(spine.begin(), spine.begin() + static_cast<int64_t>(ends[last_missing]));
        auto done = evaluator_.Run(std::span<const EvalQuery>(&prefix, 1), setup->reducer, setup->key, true);
        if (!done.ok()) return done.status();
      }
    }
    auto scores = evaluator_.Run(queries, setup->reducer, setup->key, setup->cache);
    if (!scores.ok()) return scores.status();
    std::vector<float> out;
    for (const auto& s : *scores) out.push_back(s[0]);
    return out;
  }

 private:
  struct Setup_ {
    std::vector<int32_t> head, suffix;
    RowReducer reducer;
    std::string key;
    bool cache = true;
  };

  static void Append(std::vector<int32_t>& dst, const std::vector<int32_t>& src) {
    dst.insert(dst.end(), src.begin(), src.end());
  }

  absl::StatusOr<Setup_> Setup(const Options& options, bool steps) const {
    auto graded = BoolOption(options, "graded", false);
    if (!graded.ok()) return graded.status();
    auto cache = BoolOption(options, "cache", true);
    if (!cache.ok()) return cache.status();
    const std::string system = StringOption(
        options, "system", *graded ? kJudgeGradedSystemPrompt : (steps ? kJudgeStepSystemPrompt : kJudgeSystemPrompt));
    const std::string fallback = *graded ? (steps ? kJudgeGradedStepQuestion : kJudgeGradedQuestion)
                                         : (steps ? kJudgeStepQuestion : kJudgeQuestion);
    const std::string question = StringOption(options, "question", fallback);
    if (question.empty()) return absl::InvalidArgumentError("options.question: must not be empty");
    if (system.find('\x01') != std::string::npos) {
      return absl::InvalidArgumentError("options.system: must not contain control character U+0001");
    }
    const tokenizer::Tokenizer& tok = model_->tokenizer();
    std::vector<tokenizer::ChatMessage> messages;
    if (!system.empty()) messages.push_back({"system", system});
    messages.push_back({"user", std::string(kMarker)});
    auto rendered = tok.ApplyChatTemplate(messages, /*add_generation_prompt=*/true);
    if (!rendered.ok()) return rendered.status();
    const size_t at = rendered->find(kMarker);
    if (at == std::string::npos) return absl::InternalError("judge: the chat template dropped the user message");
    Setup_ s;
    // Template text is tokenized with special tokens parsed; the caller's
    // text (system prompt, question, prompt, response, steps) never is, so
    // it cannot inject control tokens.
    const std::string head_text = rendered->substr(0, at);
    const std::string tail_text = rendered->substr(at + kMarker.size());
    s.head = EncodeHead(head_text, system);
    s.suffix = tok.Encode(absl::StrCat("\n\n", question), false, false);
    Append(s.suffix, tok.Encode(tail_text, false, /*parse_special=*/true));
    const Answer& answer = *graded ? grades_ : yes_no_;
    s.reducer = [&answer](std::span<const float> row) -> float {
      double m = -INFINITY;
      for (int32_t id : answer.ids) m = std::max(m, static_cast<double>(row[static_cast<size_t>(id)]));
      double num = 0, den = 0;
      for (size_t k = 0; k < answer.ids.size(); ++k) {
        const double w = std::exp(static_cast<double>(row[static_cast<size_t>(answer.ids[k])]) - m);
        num += w * answer.values[k];
        den += w;
      }
      return static_cast<float>(num / den);
    };
    s.key = *graded ? "graded" : "yesno";
    s.cache = *cache;
    return s;
  }

  // The head with the system prompt's own bytes encoded as plain text: the
  // template text before and after it is parsed for special tokens.
  std::vector<int32_t> EncodeHead(const std::string& head_text, const std::string& system) const {
    const tokenizer::Tokenizer& tok = model_->tokenizer();
    const size_t at = system.empty() ? std::string::npos : head_text.find(system);
    // A template that rewrites the system text (trimming): parse it all.
    if (at == std::string::npos) return tok.Encode(head_text, true, true);
    std::vector<int32_t> out = tok.Encode(head_text.substr(0, at), true, true);
    Append(out, tok.Encode(system, false, false));
    Append(out, tok.Encode(head_text.substr(at + system.size()), false, true));
    return out;
  }

  std::unique_ptr<runtime::Model> model_;
  PrefixEvaluator evaluator_;
  Answer yes_no_, grades_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RewardBackend>> MakeJudgeBackend(const ModelBackendOptions& options) {
  auto model = LoadBackendModel(options, "judge");
  if (!model.ok()) return model.status();
  auto backend = std::make_unique<JudgeBackend>(std::move(*model), options.prefix_cache_entries);
  if (absl::Status s = backend->Init(); !s.ok()) return s;
  return backend;
}

}  // namespace tandem::reward
