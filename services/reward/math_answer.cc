#include "services/reward/math_answer.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "re2/re2.h"

namespace tandem::reward {
namespace {

// Thousands separators only in groups of three, so "1,2,3" is not 123.
constexpr char kNumber[] = R"((-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?))";

const RE2& NumberRe() {
  static const RE2* re = new RE2(kNumber);  // immutable after construction
  return *re;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Position of the last case-insensitive occurrence of `needle`, or npos.
size_t RFindNoCase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = hay.size() - needle.size() + 1; i-- > 0;) {
    bool eq = true;
    for (size_t j = 0; j < needle.size() && eq; ++j) {
      eq = absl::ascii_tolower(static_cast<unsigned char>(hay[i + j])) ==
           absl::ascii_tolower(static_cast<unsigned char>(needle[j]));
    }
    if (eq) return i;
  }
  return std::string_view::npos;
}

// Contents of the brace group starting at text[open] == '{', or nullopt when
// unbalanced.
std::optional<std::string_view> BraceGroup(std::string_view text, size_t open) {
  if (open >= text.size() || text[open] != '{') return std::nullopt;
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    if (text[i] == '{') ++depth;
    if (text[i] == '}' && --depth == 0) return text.substr(open + 1, i - open - 1);
  }
  return std::nullopt;
}

std::optional<std::string_view> FirstNumber(std::string_view s) {
  re2::StringPiece in(s.data(), s.size()), match;
  if (!RE2::PartialMatch(in, NumberRe(), &match)) return std::nullopt;
  return std::string_view(match.data(), match.size());
}

std::optional<std::string_view> LastNumber(std::string_view s) {
  re2::StringPiece in(s.data(), s.size()), match;
  std::optional<std::string_view> last;
  while (RE2::FindAndConsume(&in, NumberRe(), &match)) last = std::string_view(match.data(), match.size());
  return last;
}

// Replaces \cmd{x} by x for the given command names.
std::string Unwrap(std::string s, std::string_view cmd) {
  for (size_t pos; (pos = s.find(cmd)) != std::string::npos;) {
    auto group = BraceGroup(s, pos + cmd.size());
    if (!group) break;
    const std::string inner(*group);
    s.replace(pos, cmd.size() + group->size() + 2, inner);
  }
  return s;
}

std::string Fractions(std::string s) {
  for (std::string_view cmd : {std::string_view("\\dfrac"), std::string_view("\\tfrac"), std::string_view("\\frac")}) {
    for (size_t pos; (pos = s.find(cmd)) != std::string::npos;) {
      auto num = BraceGroup(s, pos + cmd.size());
      if (!num) return s;
      const size_t den_open = pos + cmd.size() + num->size() + 2;
      auto den = BraceGroup(s, den_open);
      if (!den) return s;
      const std::string repl = std::string(*num) + "/" + std::string(*den);
      s.replace(pos, den_open + den->size() + 2 - pos, repl);
    }
  }
  return s;
}

// A decimal number (after normalization) or a/b of two such.
std::optional<double> ParseNumber(std::string_view s) {
  auto parse_decimal = [](std::string_view t) -> std::optional<double> {
    if (t.empty() || t.size() > 64) return std::nullopt;
    static const RE2* re = new RE2(R"(-?[0-9]+(?:\.[0-9]+)?|-?\.[0-9]+)");
    if (!RE2::FullMatch(re2::StringPiece(t.data(), t.size()), *re)) return std::nullopt;
    return std::strtod(std::string(t).c_str(), nullptr);
  };
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return parse_decimal(s);
  auto a = parse_decimal(Trim(s.substr(0, slash)));
  auto b = parse_decimal(Trim(s.substr(slash + 1)));
  if (!a || !b || *b == 0) return std::nullopt;
  return *a / *b;
}

}  // namespace

std::optional<ExtractedAnswer> ExtractFinalAnswer(std::string_view text, bool last_number_fallback) {
  auto make = [](std::string_view raw, AnswerSource src) -> std::optional<ExtractedAnswer> {
    std::string norm = NormalizeAnswer(raw);
    if (norm.empty()) return std::nullopt;
    return ExtractedAnswer{std::move(norm), src};
  };
  if (size_t h = text.rfind("####"); h != std::string_view::npos) {
    std::string_view rest = text.substr(h + 4);
    rest = rest.substr(0, rest.find('\n'));
    if (auto a = make(rest, AnswerSource::kHashes)) return a;
  }
  size_t best = std::string_view::npos;
  size_t cmd_len = 0;
  for (std::string_view cmd : {std::string_view("\\boxed"), std::string_view("\\fbox")}) {
    const size_t p = text.rfind(cmd);
    if (p != std::string_view::npos && (best == std::string_view::npos || p > best)) {
      best = p;
      cmd_len = cmd.size();
    }
  }
  if (best != std::string_view::npos) {
    size_t open = best + cmd_len;
    while (open < text.size() && text[open] == ' ') ++open;
    if (auto group = BraceGroup(text, open)) {
      if (auto a = make(*group, AnswerSource::kBoxed)) return a;
    }
  }
  constexpr std::string_view kPhrase = "the answer is";
  if (size_t p = RFindNoCase(text, kPhrase); p != std::string_view::npos) {
    std::string_view rest = text.substr(p + kPhrase.size());
    rest = rest.substr(0, rest.find('\n'));
    if (auto n = FirstNumber(rest)) {
      if (auto a = make(*n, AnswerSource::kAnswerIs)) return a;
    }
    std::string_view sentence = Trim(rest);
    while (!sentence.empty() && (sentence.front() == ':' || sentence.front() == ' ')) sentence.remove_prefix(1);
    // Up to a period that ends the sentence (not a decimal point).
    for (size_t i = 0; i < sentence.size(); ++i) {
      if (sentence[i] == '.' && (i + 1 == sentence.size() || sentence[i + 1] == ' ')) {
        sentence = sentence.substr(0, i);
        break;
      }
    }
    if (auto a = make(sentence, AnswerSource::kAnswerIs)) return a;
  }
  if (last_number_fallback) {
    if (auto n = LastNumber(text)) return make(*n, AnswerSource::kLastNumber);
  }
  return std::nullopt;
}

std::string NormalizeAnswer(std::string_view answer) {
  std::string s(Trim(answer));
  s = Unwrap(std::move(s), "\\text");
  s = Unwrap(std::move(s), "\\mathrm");
  s = Unwrap(std::move(s), "\\mbox");
  s = Fractions(std::move(s));
  s = absl::StrReplaceAll(s, {{"\\$", ""}, {"$", ""}, {"\\!", ""}, {"\\,", ""}, {"\\%", ""}, {"%", ""},
                              {"\\left", ""}, {"\\right", ""}});
  s = std::string(Trim(s));
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();
  if (!s.empty() && s.front() == '+') s.erase(0, 1);
  s = std::string(Trim(s));
  // Thousands separators inside a number: "70,000" -> "70000". A whole
  // answer that is a number with separators only.
  static const RE2* grouped = new RE2(R"(-?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?)");
  if (RE2::FullMatch(s, *grouped)) s = absl::StrReplaceAll(s, {{",", ""}});
  // Trailing zeros of a decimal: "18.00" -> "18", "0.50" -> "0.5".
  static const RE2* decimal = new RE2(R"(-?[0-9]+\.[0-9]+)");
  if (RE2::FullMatch(s, *decimal)) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

bool AnswersMatch(std::string_view a, std::string_view b) {
  const std::string na = NormalizeAnswer(a), nb = NormalizeAnswer(b);
  auto x = ParseNumber(na);
  auto y = ParseNumber(nb);
  // Tight enough that 1450001 != 1450000, loose enough for 0.75 == 3/4.
  if (x && y) return std::fabs(*x - *y) <= 1e-9 * std::max(1.0, std::fabs(*y));
  auto fold = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (!absl::ascii_isspace(static_cast<unsigned char>(c))) out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    }
    return out;
  };
  return !na.empty() && fold(na) == fold(nb);
}

}  // namespace tandem::reward
