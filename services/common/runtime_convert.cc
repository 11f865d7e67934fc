#include "services/common/runtime_convert.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/util/absl_compat.h"
#include "services/common/distribution.h"
#include "services/common/validation.h"

namespace tandem::services {

void DistributionToProto(const runtime::Distribution& in, tandem::v1::TokenDistribution* out) {
  if (in.dense()) {
    EncodeDistribution(in.probs(), out);
  } else {
    EncodeSparseDistribution(in.ids(), in.probs(), in.vocab_size(), out);
  }
}

absl::Status DistributionFromProto(const tandem::v1::TokenDistribution& in, int32_t vocab_size,
                                   runtime::Distribution* out, std::string_view field) {
  if (in.has_dense()) {
    std::span<float> dense = out->ResetDense(vocab_size);
    return DecodeDistribution(in, vocab_size, dense, field);
  }
  // Validate through the dense decoder (ids in range, no repeats, sum), then
  // keep the compact layout the runtime prefers for truncated supports.
  if (auto s = ValidateDistribution(in, vocab_size, field); !s.ok()) return s;
  const auto& sp = in.sparse();
  const size_t n = static_cast<size_t>(sp.token_ids_size());
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&sp](uint32_t a, uint32_t b) { return sp.token_ids(a) < sp.token_ids(b); });
  out->ResetSparse(vocab_size, n);
  auto ids = out->mutable_ids();
  auto probs = out->mutable_probs();
  for (size_t i = 0; i < n; ++i) {
    ids[i] = sp.token_ids(order[i]);
    probs[i] = sp.probs(order[i]);
  }
  return absl::OkStatus();
}

absl::Status SamplingFromProto(const tandem::v1::SamplingParams& in, int32_t vocab_size,
                               uint64_t fallback_seed, runtime::SamplingParams* out,
                               std::string_view field) {
  if (auto s = ValidateSamplingParams(in, vocab_size, field); !s.ok()) return s;
  runtime::SamplingParams p;
  p.temperature = in.temperature();
  p.top_k = in.top_k();
  p.top_p = in.top_p() == 0.0f ? 1.0f : in.top_p();
  p.min_p = in.min_p();
  p.repetition_penalty = in.repetition_penalty() == 0.0f ? 1.0f : in.repetition_penalty();
  if (in.has_repetition_window()) p.repetition_window = in.repetition_window();
  p.seed = in.has_seed() ? in.seed() : fallback_seed;
  if (auto s = p.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", s.message()));
  }
  *out = p;
  return absl::OkStatus();
}

void SamplingToProto(const runtime::SamplingParams& in, tandem::v1::SamplingParams* out) {
  out->Clear();
  out->set_temperature(in.temperature);
  out->set_top_k(in.top_k);
  out->set_top_p(in.top_p);
  out->set_min_p(in.min_p);
  out->set_repetition_penalty(in.repetition_penalty);
  out->set_repetition_window(in.repetition_window);
  out->set_seed(in.seed);
}

}  // namespace tandem::services
