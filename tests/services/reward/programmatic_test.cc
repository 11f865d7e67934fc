// Programmatic reward backends and the registry's request validation.
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "services/reward/math_answer.h"
#include "services/reward/reward_registry.h"
#include "tests/services/reward/reward_test_util.h"

namespace tandem::reward {
namespace {

RewardRegistryOptions NoModels() {
  RewardRegistryOptions o;
  o.judge_model = "";
  o.similarity_embedder = "";
  o.default_backend = "math";
  return o;
}

std::vector<float> MustScore(RewardRegistry& r, const std::string& backend, std::vector<RewardItem> items,
                             Options options = {}) {
  RewardSpec spec{backend, std::move(options)};
  auto s = r.Score(spec, items);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : std::vector<float>{};
}

TEST(MathAnswer, EveryGsm8kReferenceParsesAndMatchesItself) {
  std::ifstream in(reward_test::DataDir() + "/gsm8k/test.jsonl");
  ASSERT_TRUE(in.good()) << "missing " << reward_test::DataDir() << "/gsm8k/test.jsonl";
  RewardRegistry r(NoModels());
  std::string line;
  int n = 0;
  std::vector<RewardItem> right, wrong;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    const std::string answer = j.at("answer").get<std::string>();
    auto a = ExtractFinalAnswer(answer, false);
    ASSERT_TRUE(a.has_value()) << answer;
    EXPECT_EQ(a->source, AnswerSource::kHashes);
    // The text after #### with separators removed, e.g. "70,000" -> "70000".
    std::string raw = answer.substr(answer.rfind("####") + 4);
    raw.erase(std::remove(raw.begin(), raw.end(), ','), raw.end());
    raw.erase(std::remove(raw.begin(), raw.end(), ' '), raw.end());
    EXPECT_EQ(a->text, raw) << answer;
    const double value = std::stod(a->text);
    right.push_back({j.at("question").get<std::string>(), "So the total is " + a->text + ".\nThe answer is " + a->text + ".", answer});
    wrong.push_back({j.at("question").get<std::string>(), "The answer is " + std::to_string(static_cast<long long>(value) + 1) + ".", answer});
    ++n;
  }
  EXPECT_EQ(n, 250);  // the whole shipped subset (tests/data/README.md)
  for (float s : MustScore(r, "math", right)) EXPECT_EQ(s, 1.0f);
  const std::vector<float> ws = MustScore(r, "math", wrong);
  for (size_t i = 0; i < ws.size(); ++i) EXPECT_EQ(ws[i], 0.0f) << wrong[i].response << " vs " << wrong[i].reference;
}

TEST(MathAnswer, FormsAndNormalization) {
  struct Case {
    std::string text;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{{"blah\n#### 1,234", "1234"},
                                         {"so \\boxed{\\frac{3}{4}} done", "3/4"},
                                         {"\\boxed{18.0}", "18"},
                                         {"The answer is: $70,000.", "70000"},
                                         {"the answer is 0.50 dollars", "0.5"},
                                         {"THE ANSWER IS seven.", "seven"},
                                         {"\\boxed{\\text{Paris}}", "Paris"},
                                         {"x \\boxed{ {2}+{3} }", "{2}+{3}"}}) {
    auto a = ExtractFinalAnswer(c.text, false);
    ASSERT_TRUE(a.has_value()) << c.text;
    EXPECT_EQ(a->text, c.want) << c.text;
  }
  EXPECT_FALSE(ExtractFinalAnswer("no number here", true).has_value());
  EXPECT_FALSE(ExtractFinalAnswer("she has 5 apples", false).has_value());
  EXPECT_EQ(ExtractFinalAnswer("she has 5 apples, then 1,500 pears", true)->text, "1500");
  EXPECT_TRUE(AnswersMatch("0.75", "3/4"));
  EXPECT_TRUE(AnswersMatch("$18.00", "18"));
  EXPECT_FALSE(AnswersMatch("18", "81"));
  EXPECT_TRUE(AnswersMatch("Paris", " paris."));
}

TEST(MathBackend, ScoresAndFallback) {
  RewardRegistry r(NoModels());
  auto s = MustScore(r, "math", {{"q", "It costs $18 per day.", "#### 18"}, {"q", "\\boxed{17}", "18"}});
  EXPECT_EQ(s, (std::vector<float>{1, 0}));
  s = MustScore(r, "math", {{"q", "It costs $18 per day.", "18"}}, {{"fallback", "none"}});
  EXPECT_EQ(s, std::vector<float>{0});
  RewardSpec spec{"math", {}};
  std::vector<RewardItem> no_ref = {{"q", "18", ""}};
  auto bad = r.Score(spec, no_ref);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("items[0].reference"), std::string::npos) << bad.status();
}

TEST(RegexBackend, MatchesAndRejectsBadPatterns) {
  RewardRegistry r(NoModels());
  EXPECT_EQ(MustScore(r, "regex", {{"", "Answer: 42", ""}, {"", "no digits", ""}}, {{"pattern", "[0-9]+"}}),
            (std::vector<float>{1, 0}));
  EXPECT_EQ(MustScore(r, "regex", {{"", "abc", ""}, {"", "abcd", ""}}, {{"pattern", "abc"}, {"full_match", "true"}}),
            (std::vector<float>{1, 0}));
  EXPECT_EQ(MustScore(r, "regex", {{"", "HELLO", ""}}, {{"pattern", "hello"}, {"case_sensitive", "false"}}),
            (std::vector<float>{1}));
  RewardSpec spec{"regex", {{"pattern", "(unclosed"}}};
  std::vector<RewardItem> items = {{"", "x", ""}};
  auto bad = r.Score(spec, items);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("options.pattern"), std::string::npos);
}

TEST(KeywordBackend, RequiredFractionAndForbiddenWholeWords) {
  RewardRegistry r(NoModels());
  Options o = {{"required", "apple, pear"}, {"forbidden", "cat"}};
  auto s = MustScore(r, "keyword",
                     {{"", "An Apple and a pear.", ""}, {"", "An apple only.", ""}, {"", "apple pear cat", ""},
                      {"", "apple pear concatenate", ""}},
                     o);
  EXPECT_EQ(s, (std::vector<float>{1.0f, 0.5f, 0.0f, 1.0f}));
  s = MustScore(r, "keyword", {{"", "An Apple.", ""}}, {{"required", "apple"}, {"case_sensitive", "true"}});
  EXPECT_EQ(s, std::vector<float>{0.0f});
}

TEST(LengthBackend, InsideIsOneOutsideDecaysSmoothly) {
  RewardRegistry r(NoModels());
  auto s = MustScore(r, "length",
                     {{"", "one two three", ""}, {"", "one two three four five six", ""}, {"", "one", ""}},
                     {{"min", "2"}, {"max", "4"}});
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_NEAR(s[1], std::exp(-2.0 / 1.0), 1e-6);  // 2 words over, scale max(1, 0.25*4) = 1
  EXPECT_NEAR(s[2], std::exp(-1.0 / 1.0), 1e-6);
  s = MustScore(r, "length", {{"", std::string(150, 'x'), ""}}, {{"max", "100"}, {"unit", "chars"}});
  EXPECT_NEAR(s[0], std::exp(-50.0 / 25.0), 1e-6);
  s = MustScore(r, "length", {{"", "h\xC3\xA9llo", ""}}, {{"max", "5"}, {"unit", "chars"}});
  EXPECT_EQ(s[0], 1.0f);  // 5 characters, 6 bytes
  RewardSpec spec{"length", {{"min", "5"}, {"max", "2"}}};
  std::vector<RewardItem> items = {{"", "x", ""}};
  EXPECT_EQ(r.Score(spec, items).status().code(), absl::StatusCode::kInvalidArgument);
}

// A deterministic toy embedder: bag of lowercase letters, L2-normalized.
class LetterEmbedder : public embedding::Embedder {
 public:
  std::string_view name() const override { return "letters"; }
  int dim() const override { return 26; }
  int max_tokens() const override { return 512; }
  absl::StatusOr<std::vector<float>> Embed(std::span<const std::string> texts) override {
    std::vector<float> out;
    for (const std::string& t : texts) {
      std::vector<float> v(26, 0.0f);
      for (char c : t) {
        if (c >= 'a' && c <= 'z') v[c - 'a'] += 1;
      }
      double n = 0;
      for (float x : v) n += x * x;
      for (float& x : v) x = n > 0 ? static_cast<float>(x / std::sqrt(n)) : 0.0f;
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  }
};

TEST(SimilarityBackend, CosineOfEmbeddingsLoadedLazily) {
  RewardRegistryOptions o = NoModels();
  int made = 0;
  o.embedder = [&made]() -> absl::StatusOr<std::unique_ptr<embedding::Embedder>> {
    ++made;
    return std::make_unique<LetterEmbedder>();
  };
  RewardRegistry r(o);
  EXPECT_EQ(made, 0);
  auto s = MustScore(r, "similarity", {{"", "abc", "abc"}, {"", "aaa", "bbb"}, {"", "ab", "a"}});
  EXPECT_NEAR(s[0], 1.0f, 1e-6);
  EXPECT_NEAR(s[1], 0.0f, 1e-6);
  EXPECT_NEAR(s[2], 1.0 / std::sqrt(2.0), 1e-6);
  MustScore(r, "similarity", {{"", "x", "y"}});
  EXPECT_EQ(made, 1);
}

TEST(Registry, BadRequestsAreInvalidArgumentNamingTheField) {
  RewardRegistry r(NoModels());
  auto code_and = [&](const RewardSpec& spec, std::vector<RewardItem> items, const std::string& needle) {
    auto s = r.Score(spec, items);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
    EXPECT_NE(s.status().message().find(needle), std::string::npos) << s.status();
  };
  code_and(RewardSpec{"math", {}}, {}, "items");
  code_and(RewardSpec{"nope", {}}, {{"q", "a", "1"}}, "known: keyword, length, math, regex");
  code_and(RewardSpec{"math", {{"colour", "red"}}}, {{"q", "a", "1"}}, "options.colour");
  code_and(RewardSpec{"length", {{"min", "lots"}}}, {{"q", "a", ""}}, "options.min");
  code_and(RewardSpec{"math", {}}, {{"q", "a\xff", "1"}}, "items[0].response: invalid UTF-8");
  code_and(RewardSpec{"math", {}}, {{"q", "1", "1"}, {"\xC0\x80", "1", "1"}}, "items[1].prompt");
  std::vector<std::string> steps = {"a"};
  auto st = r.ScoreSteps(RewardSpec{"math", {}}, "q", steps);
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.ScoreSteps(RewardSpec{"math", {}}, "q", {}).status().code(), absl::StatusCode::kInvalidArgument);
  // The default backend serves requests that name none.
  EXPECT_EQ(MustScore(r, "", {{"q", "#### 3", "3"}}), std::vector<float>{1});
  EXPECT_EQ(r.Stats().at("math").items, 1);
}

}  // namespace
}  // namespace tandem::reward
