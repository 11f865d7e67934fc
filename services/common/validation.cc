#include "services/common/validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/sampling_params.h"
#include "runtime/tokenizer/unicode.h"
#include "runtime/util/absl_compat.h"

namespace tandem::services {
namespace {

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", AbslView(what)));
}

}  // namespace

absl::Status ValidateTokenIds(const google::protobuf::RepeatedField<int32_t>& ids,
                              int32_t vocab_size, std::string_view field, size_t min_count,
                              size_t max_count) {
  const size_t n = static_cast<size_t>(ids.size());
  if (n < min_count || n > max_count) {
    return Invalid(field, absl::StrCat("must have between ", min_count, " and ", max_count,
                                       " tokens, got ", n));
  }
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return Invalid(absl::StrCat(AbslView(field), "[", i, "]"),
                     absl::StrCat("token id ", ids[i], " is outside [0, ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSamplingParams(const tandem::v1::SamplingParams& params, int32_t vocab_size,
                                    std::string_view field) {
  if (auto s = ValidateRange(params.temperature(), 0.0, 100.0, absl::StrCat(AbslView(field), ".temperature")); !s.ok()) return s;
  if (auto s = ValidateRange(int64_t{params.top_k()}, 0, vocab_size, absl::StrCat(AbslView(field), ".top_k")); !s.ok()) return s;
  if (auto s = ValidateRange(params.top_p(), 0.0, 1.0, absl::StrCat(AbslView(field), ".top_p")); !s.ok()) return s;
  if (auto s = ValidateRange(params.min_p(), 0.0, 1.0, absl::StrCat(AbslView(field), ".min_p")); !s.ok()) return s;
  if (auto s = ValidateRange(params.repetition_penalty(), 0.0, 10.0, absl::StrCat(AbslView(field), ".repetition_penalty")); !s.ok()) return s;
  if (params.has_repetition_window()) {
    if (auto s = ValidateRange(int64_t{params.repetition_window()}, 0, 1 << 20, absl::StrCat(AbslView(field), ".repetition_window")); !s.ok()) return s;
  }
  const double max_penalty = runtime::kMaxPresenceFrequencyPenalty;
  if (auto s = ValidateRange(params.presence_penalty(), -max_penalty, max_penalty, absl::StrCat(AbslView(field), ".presence_penalty")); !s.ok()) return s;
  if (auto s = ValidateRange(params.frequency_penalty(), -max_penalty, max_penalty, absl::StrCat(AbslView(field), ".frequency_penalty")); !s.ok()) return s;
  for (const auto& [token, bias] : params.logit_bias()) {
    const std::string name = absl::StrCat(AbslView(field), ".logit_bias[", token, "]");
    if (token < 0 || token >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": token ", token, " is outside [0, ", vocab_size, ")"));
    }
    if (auto s = ValidateRange(bias, -runtime::kMaxLogitBias, runtime::kMaxLogitBias, name); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace tandem::services
