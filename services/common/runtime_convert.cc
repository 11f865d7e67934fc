#include "services/common/runtime_convert.h"

#include <algorithm>
#include <cmath>
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
  if (!in.has_sparse() || vocab_size <= 0) return ValidateDistribution(in, vocab_size, field);  // names the error
  // Validated entry by entry into the runtime's compact layout, without a
  // vocabulary-sized scratch: a drafter's rows arrive sparse for every
  // drafted token (DraftOptions::q_tail_mass), and a dense decode per row
  // zeroed 600 KB for Qwen to check a few dozen entries. Ids normally arrive
  // ascending (DistributionToProto keeps the runtime's order); a peer's
  // other order is sorted here, and only then are repeats looked for.
  const auto& sp = in.sparse();
  const int n = sp.token_ids_size();
  auto invalid = [&](const auto&... what) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", what...));
  };
  if (n == 0) return invalid("sparse.token_ids is empty");
  if (n != sp.probs_size()) {
    return invalid("sparse.token_ids has ", n, " entries but sparse.probs has ", sp.probs_size());
  }
  out->ResetSparse(vocab_size, static_cast<size_t>(n));
  std::span<int32_t> ids = out->mutable_ids();
  std::span<float> probs = out->mutable_probs();
  bool ascending = true;
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    const int32_t id = sp.token_ids(i);
    const float p = sp.probs(i);
    if (id < 0 || id >= vocab_size) {
      return invalid("sparse.token_ids[", i, "] = ", id, " is outside [0, ", vocab_size, ")");
    }
    if (!std::isfinite(p) || p <= 0.0f || p > 1.0f) {
      return invalid("sparse.probs[", i, "] = ", p, " is outside (0, 1]");
    }
    if (i > 0 && id <= ids[static_cast<size_t>(i) - 1]) ascending = false;
    ids[static_cast<size_t>(i)] = id;
    probs[static_cast<size_t>(i)] = p;
    sum += p;
  }
  if (!ascending) {
    std::vector<uint32_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&sp](uint32_t a, uint32_t b) { return sp.token_ids(a) < sp.token_ids(b); });
    for (size_t k = 0; k < order.size(); ++k) {
      if (k > 0 && sp.token_ids(order[k]) == sp.token_ids(order[k - 1])) {
        return invalid("sparse.token_ids[", order[k], "] = ", sp.token_ids(order[k]), " is repeated");
      }
      ids[k] = sp.token_ids(order[k]);
      probs[k] = sp.probs(order[k]);
    }
  }
  if (std::abs(sum - 1.0) > kDistributionSumTolerance) return invalid("probabilities sum to ", sum, ", expected 1");
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
  p.presence_penalty = in.presence_penalty();
  p.frequency_penalty = in.frequency_penalty();
  p.logit_bias = LogitBiasFromProto(in.logit_bias());
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
  out->set_presence_penalty(in.presence_penalty);
  out->set_frequency_penalty(in.frequency_penalty);
  auto& bias = *out->mutable_logit_bias();
  for (const runtime::LogitBias& b : in.logit_bias) bias[b.token] = b.bias;
  out->set_seed(in.seed);
}

std::vector<runtime::LogitBias> LogitBiasFromProto(const google::protobuf::Map<int32_t, float>& in) {
  std::vector<runtime::LogitBias> out;
  out.reserve(in.size());
  for (const auto& [token, bias] : in) out.push_back({token, bias});
  // A map's order is unspecified; the runtime wants ascending ids (a map's
  // keys are distinct already).
  std::sort(out.begin(), out.end(),
            [](const runtime::LogitBias& a, const runtime::LogitBias& b) { return a.token < b.token; });
  return out;
}

void TopLogprobsToProto(std::span<const runtime::TokenLogprob> in, tandem::v1::TopLogprobs* out) {
  out->mutable_token_ids()->Reserve(static_cast<int>(in.size()));
  out->mutable_logprobs()->Reserve(static_cast<int>(in.size()));
  for (const runtime::TokenLogprob& t : in) {
    out->add_token_ids(t.token);
    out->add_logprobs(t.logprob);
  }
}

absl::Status TopLogprobsFromProto(const tandem::v1::TopLogprobs& in, int32_t vocab_size,
                                  std::vector<runtime::TokenLogprob>* out, std::string_view field) {
  if (in.token_ids_size() != in.logprobs_size() || in.token_ids_size() > runtime::kMaxTopLogprobs) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", in.token_ids_size(), " token ids and ",
                                                   in.logprobs_size(), " logprobs (equal, at most ",
                                                   runtime::kMaxTopLogprobs, ")"));
  }
  out->clear();
  for (int i = 0; i < in.token_ids_size(); ++i) {
    const int32_t id = in.token_ids(i);
    const float lp = in.logprobs(i);
    if (id < 0 || id >= vocab_size || !(lp <= 0.0f)) {
      return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": entry ", i, " (token ", id, ", logprob ", lp,
                                                     ") is not a token with a log-probability"));
    }
    out->push_back({id, lp});
  }
  return absl::OkStatus();
}

}  // namespace tandem::services
