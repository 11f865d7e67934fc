// Final-answer extraction and comparison for math word problems (GSM8K and
// MATH-style answers). Used by the `math` backend; the GSM8K references
// ("... #### 18") go through the same extractor as the responses.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tandem::reward {

enum class AnswerSource { kHashes, kBoxed, kAnswerIs, kLastNumber };

struct ExtractedAnswer {
  std::string text;  // normalized (see NormalizeAnswer)
  AnswerSource source;
};

// The final answer of `text`, by precedence:
//   1. the rest of the line after the last "####" (GSM8K),
//   2. the contents of the last \boxed{...} (or \fbox{...}), braces balanced,
//   3. after the last "the answer is" (any case): the first number on that
//      line, else the text up to the next period,
//   4. only if last_number_fallback: the last number in the text.
// nullopt when nothing matches (or the match is empty).
std::optional<ExtractedAnswer> ExtractFinalAnswer(std::string_view text, bool last_number_fallback);

// Canonical form: surrounding whitespace, $ signs, "\$", "\text{..}" wrappers,
// "\!" / "\," spacing, a trailing period or %, thousands separators inside
// numbers removed; \frac{a}{b} / \dfrac{a}{b} -> a/b; numbers lose trailing
// zeros after the point ("18.0" -> "18", "0.50" -> "0.5") and a leading "+".
std::string NormalizeAnswer(std::string_view answer);

// Equal as numbers (decimals or a/b fractions, relative tolerance 1e-6) when
// both parse, else equal as case-folded strings without whitespace.
bool AnswersMatch(std::string_view a, std::string_view b);

}  // namespace tandem::reward
