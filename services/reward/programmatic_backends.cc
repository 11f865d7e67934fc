#include "services/reward/programmatic_backends.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "re2/re2.h"
#include "services/reward/math_answer.h"
#include "services/reward/options.h"

namespace tandem::reward {
namespace {

std::string ItemField(size_t i, std::string_view field) { return absl::StrCat("items[", i, "].", std::string(field)); }

class MathBackend final : public RewardBackend {
 public:
  std::string_view name() const override { return "math"; }
  std::vector<std::string> OptionNames() const override { return {"fallback"}; }
  absl::StatusOr<std::vector<float>> Score(const Options& options, std::span<const RewardItem> items) override {
    static constexpr std::string_view kModes[] = {"last_number", "none"};
    auto fallback = EnumOption(options, "fallback", "last_number", kModes);
    if (!fallback.ok()) return fallback.status();
    std::vector<float> out;
    out.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].reference.empty()) {
        return absl::InvalidArgumentError(ItemField(i, "reference") + ": the math backend needs a reference answer");
      }
      // The reference is a bare answer ("18") or a full GSM8K solution.
      auto ref = ExtractFinalAnswer(items[i].reference, /*last_number_fallback=*/false);
      const std::string ref_text = ref ? ref->text : NormalizeAnswer(items[i].reference);
      auto got = ExtractFinalAnswer(items[i].response, *fallback == "last_number");
      out.push_back(got && AnswersMatch(got->text, ref_text) ? 1.0f : 0.0f);
    }
    return out;
  }
};

class RegexBackend final : public RewardBackend {
 public:
  std::string_view name() const override { return "regex"; }
  std::vector<std::string> OptionNames() const override { return {"pattern", "full_match", "case_sensitive"}; }
  absl::StatusOr<std::vector<float>> Score(const Options& options, std::span<const RewardItem> items) override {
    const std::string pattern = StringOption(options, "pattern", "");
    if (pattern.empty()) return absl::InvalidArgumentError("options.pattern: required by the regex backend");
    auto full = BoolOption(options, "full_match", false);
    if (!full.ok()) return full.status();
    auto case_sensitive = BoolOption(options, "case_sensitive", true);
    if (!case_sensitive.ok()) return case_sensitive.status();
    RE2::Options re_options;
    re_options.set_log_errors(false);
    re_options.set_case_sensitive(*case_sensitive);
    // RE2 runs in linear time: a hostile pattern cannot stall the service.
    RE2 re(pattern, re_options);
    if (!re.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("options.pattern: invalid regular expression: ", re.error()));
    }
    std::vector<float> out;
    for (const RewardItem& item : items) {
      const bool hit = *full ? RE2::FullMatch(item.response, re) : RE2::PartialMatch(item.response, re);
      out.push_back(hit ? 1.0f : 0.0f);
    }
    return out;
  }
};

// Whole-word (or whole-phrase) containment: the match must not be flanked by
// letters or digits, so "cat" is not found in "concatenate".
bool ContainsWord(std::string_view text, std::string_view word) {
  auto is_word = [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t pos = text.find(word); pos != std::string_view::npos; pos = text.find(word, pos + 1)) {
    const bool left_ok = pos == 0 || !is_word(text[pos - 1]) || !is_word(word.front());
    const size_t end = pos + word.size();
    const bool right_ok = end == text.size() || !is_word(text[end]) || !is_word(word.back());
    if (left_ok && right_ok) return true;
  }
  return false;
}

class KeywordBackend final : public RewardBackend {
 public:
  std::string_view name() const override { return "keyword"; }
  std::vector<std::string> OptionNames() const override { return {"required", "forbidden", "case_sensitive"}; }
  absl::StatusOr<std::vector<float>> Score(const Options& options, std::span<const RewardItem> items) override {
    std::vector<std::string> required = ListOption(options, "required");
    std::vector<std::string> forbidden = ListOption(options, "forbidden");
    if (required.empty() && forbidden.empty()) {
      return absl::InvalidArgumentError("options.required: the keyword backend needs required and/or forbidden words");
    }
    auto case_sensitive = BoolOption(options, "case_sensitive", false);
    if (!case_sensitive.ok()) return case_sensitive.status();
    auto fold = [&](std::string s) { return *case_sensitive ? s : absl::AsciiStrToLower(s); };
    for (auto& w : required) w = fold(w);
    for (auto& w : forbidden) w = fold(w);
    std::vector<float> out;
    for (const RewardItem& item : items) {
      const std::string text = fold(item.response);
      bool bad = false;
      for (const auto& w : forbidden) bad = bad || ContainsWord(text, w);
      int found = 0;
      for (const auto& w : required) found += ContainsWord(text, w) ? 1 : 0;
      const float frac = required.empty() ? 1.0f : static_cast<float>(found) / static_cast<float>(required.size());
      out.push_back(bad ? 0.0f : frac);
    }
    return out;
  }
};

int64_t CountWords(std::string_view text) {
  int64_t n = 0;
  for (absl::string_view w : absl::StrSplit(absl::string_view(text.data(), text.size()), absl::ByAnyChar(" \t\n\r\f\v"),
                                            absl::SkipEmpty())) {
    (void)w;
    ++n;
  }
  return n;
}

// Characters, not bytes: UTF-8 continuation bytes are not counted.
int64_t CountChars(std::string_view text) {
  int64_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

class LengthBackend final : public RewardBackend {
 public:
  std::string_view name() const override { return "length"; }
  std::vector<std::string> OptionNames() const override { return {"min", "max", "unit", "scale"}; }
  absl::StatusOr<std::vector<float>> Score(const Options& options, std::span<const RewardItem> items) override {
    constexpr int64_t kHuge = int64_t{1} << 40;
    auto lo = IntOption(options, "min", 0, 0, kHuge);
    if (!lo.ok()) return lo.status();
    auto hi = IntOption(options, "max", kHuge, 0, kHuge);
    if (!hi.ok()) return hi.status();
    if (*hi < *lo) return absl::InvalidArgumentError(absl::StrCat("options.max: ", *hi, " is below options.min ", *lo));
    if (!options.contains("min") && !options.contains("max")) {
      return absl::InvalidArgumentError("options.max: the length backend needs min and/or max");
    }
    static constexpr std::string_view kUnits[] = {"words", "chars"};
    auto unit = EnumOption(options, "unit", "words", kUnits);
    if (!unit.ok()) return unit.status();
    auto scale = DoubleOption(options, "scale", 0, 0, 1e12);
    if (!scale.ok()) return scale.status();
    std::vector<float> out;
    for (const RewardItem& item : items) {
      const int64_t n = *unit == "words" ? CountWords(item.response) : CountChars(item.response);
      double d = 0, bound = 0;
      if (n < *lo) {
        d = static_cast<double>(*lo - n);
        bound = static_cast<double>(*lo);
      } else if (n > *hi) {
        d = static_cast<double>(n - *hi);
        bound = static_cast<double>(*hi);
      }
      // Default softness: a quarter of the violated bound (at least 1 unit),
      // so 25 % too long scores e^-1 whatever the target length.
      const double s = *scale > 0 ? *scale : std::max(1.0, 0.25 * bound);
      out.push_back(static_cast<float>(std::exp(-d / s)));
    }
    return out;
  }
};

class SimilarityBackend final : public RewardBackend {
 public:
  explicit SimilarityBackend(EmbedderFactory factory) : factory_(std::move(factory)) {}
  std::string_view name() const override { return "similarity"; }
  std::vector<std::string> OptionNames() const override { return {}; }
  absl::StatusOr<std::vector<float>> Score(const Options& options, std::span<const RewardItem> items) override {
    std::vector<std::string> texts;
    texts.reserve(2 * items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].reference.empty()) {
        return absl::InvalidArgumentError(ItemField(i, "reference") + ": the similarity backend needs a reference text");
      }
      texts.push_back(items[i].response);
      texts.push_back(items[i].reference);
    }
    auto embedder = GetEmbedder();
    if (!embedder.ok()) return embedder.status();
    auto rows = (*embedder)->Embed(texts);
    if (!rows.ok()) return rows.status();
    const size_t dim = static_cast<size_t>((*embedder)->dim());
    if (rows->size() != texts.size() * dim) {
      return absl::InternalError(absl::StrCat("similarity: embedder returned ", rows->size(), " floats for ",
                                              texts.size(), " texts of dimension ", dim));
    }
    std::vector<float> out;
    for (size_t i = 0; i < items.size(); ++i) {
      const float* a = rows->data() + 2 * i * dim;
      const float* b = a + dim;
      // Rows are unit-norm by the Embedder contract; divide anyway so a
      // zero row (empty text) scores 0 instead of NaN.
      double dot = 0, na = 0, nb = 0;
      for (size_t k = 0; k < dim; ++k) {
        dot += static_cast<double>(a[k]) * b[k];
        na += static_cast<double>(a[k]) * a[k];
        nb += static_cast<double>(b[k]) * b[k];
      }
      out.push_back(na > 0 && nb > 0 ? static_cast<float>(dot / std::sqrt(na * nb)) : 0.0f);
    }
    return out;
  }

 private:
  absl::StatusOr<embedding::Embedder*> GetEmbedder() {
    absl::MutexLock lock(&mu_);
    if (embedder_ == nullptr) {
      if (!factory_) return absl::FailedPreconditionError("similarity: no embedder configured");
      auto made = factory_();
      if (!made.ok()) {
        return absl::Status(made.status().code(), absl::StrCat("similarity: loading the embedder: ", made.status().message()));
      }
      embedder_ = std::move(*made);
    }
    return embedder_.get();
  }

  EmbedderFactory factory_;
  absl::Mutex mu_;
  std::unique_ptr<embedding::Embedder> embedder_;  // set once, then only read
};

}  // namespace

absl::StatusOr<std::vector<float>> RewardBackend::ScoreSteps(const Options&, std::string_view,
                                                            std::span<const std::string>) {
  return absl::UnimplementedError(absl::StrCat("backend '", std::string(name()), "' has no process (step) mode"));
}

std::unique_ptr<RewardBackend> MakeMathBackend() { return std::make_unique<MathBackend>(); }
std::unique_ptr<RewardBackend> MakeRegexBackend() { return std::make_unique<RegexBackend>(); }
std::unique_ptr<RewardBackend> MakeKeywordBackend() { return std::make_unique<KeywordBackend>(); }
std::unique_ptr<RewardBackend> MakeLengthBackend() { return std::make_unique<LengthBackend>(); }
std::unique_ptr<RewardBackend> MakeSimilarityBackend(EmbedderFactory factory) {
  return std::make_unique<SimilarityBackend>(std::move(factory));
}

}  // namespace tandem::reward
