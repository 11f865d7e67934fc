#include "services/common/open_session.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "services/common/runtime_convert.h"
#include "services/common/validation.h"

namespace tandem::services {
namespace {

uint64_t RandomSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

absl::StatusOr<runtime::SamplingParams> ValidateOpenSession(
    const tandem::v1::ModelInfo& info, std::string_view service_kind, const std::string& session_id,
    const google::protobuf::RepeatedField<int32_t>& prompt_tokens,
    const tandem::v1::SamplingParams& sampling, const std::string& model) {
  const int32_t vocab = info.vocab_size();
  if (auto s = ValidateId(session_id, "session_id", /*allow_empty=*/true); !s.ok()) return s;
  if (auto s = ValidateTokenIds(prompt_tokens, vocab, "prompt_tokens", 1,
                                static_cast<size_t>(info.context_length()));
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateSamplingParams(sampling, vocab, "sampling"); !s.ok()) return s;
  if (!model.empty() && model != info.name()) {
    return absl::InvalidArgumentError(absl::StrCat("model: unknown model '", model, "' (this ",
                                                   std::string(service_kind), " serves '", info.name(), "')"));
  }
  runtime::SamplingParams params;
  if (auto s = SamplingFromProto(sampling, vocab, RandomSeed(), &params, "sampling"); !s.ok()) return s;
  return params;
}

}  // namespace tandem::services
