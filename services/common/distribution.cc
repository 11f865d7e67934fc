#include "services/common/distribution.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/util/absl_compat.h"

namespace tandem::services {
namespace {

// Sparse costs about 8 bytes per entry (varint id + float), dense 4 bytes per
// vocabulary entry: sparse wins below half the vocabulary.
bool SparseIsSmaller(size_t support, size_t vocab) { return 2 * support < vocab; }

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", AbslView(what)));
}

}  // namespace

void EncodeDistribution(std::span<const float> probs, tandem::v1::TokenDistribution* out) {
  size_t support = 0;
  for (float p : probs) support += (p != 0.0f);
  out->Clear();
  if (SparseIsSmaller(support, probs.size())) {
    auto* sparse = out->mutable_sparse();
    sparse->mutable_token_ids()->Reserve(static_cast<int>(support));
    sparse->mutable_probs()->Reserve(static_cast<int>(support));
    for (size_t i = 0; i < probs.size(); ++i) {
      if (probs[i] == 0.0f) continue;
      sparse->add_token_ids(static_cast<int32_t>(i));
      sparse->add_probs(probs[i]);
    }
  } else {
    out->mutable_dense()->mutable_probs()->Add(probs.begin(), probs.end());
  }
}

void EncodeSparseDistribution(std::span<const int32_t> ids, std::span<const float> probs,
                              int32_t vocab_size, tandem::v1::TokenDistribution* out) {
  out->Clear();
  if (SparseIsSmaller(ids.size(), static_cast<size_t>(vocab_size))) {
    auto* sparse = out->mutable_sparse();
    sparse->mutable_token_ids()->Add(ids.begin(), ids.end());
    sparse->mutable_probs()->Add(probs.begin(), probs.end());
    return;
  }
  auto* dense = out->mutable_dense()->mutable_probs();
  dense->Resize(vocab_size, 0.0f);
  for (size_t i = 0; i < ids.size() && i < probs.size(); ++i) {
    if (ids[i] >= 0 && ids[i] < vocab_size) dense->Set(ids[i], probs[i]);
  }
}

absl::Status DecodeDistribution(const tandem::v1::TokenDistribution& dist, int32_t vocab_size,
                                std::span<float> dense, std::string_view field) {
  if (vocab_size <= 0 || dense.size() != static_cast<size_t>(vocab_size)) {
    return absl::InternalError(absl::StrCat(AbslView(field), ": decode buffer has ", dense.size(),
                                            " entries, vocabulary has ", vocab_size));
  }
  std::fill(dense.begin(), dense.end(), 0.0f);
  double sum = 0.0;
  switch (dist.form_case()) {
    case tandem::v1::TokenDistribution::kSparse: {
      const auto& s = dist.sparse();
      if (s.token_ids_size() == 0) return Invalid(field, "sparse.token_ids is empty");
      if (s.token_ids_size() != s.probs_size()) {
        return Invalid(field, absl::StrCat("sparse.token_ids has ", s.token_ids_size(),
                                           " entries but sparse.probs has ", s.probs_size()));
      }
      for (int i = 0; i < s.token_ids_size(); ++i) {
        const int32_t id = s.token_ids(i);
        const float p = s.probs(i);
        if (id < 0 || id >= vocab_size) {
          return Invalid(field, absl::StrCat("sparse.token_ids[", i, "] = ", id,
                                             " is outside [0, ", vocab_size, ")"));
        }
        if (!std::isfinite(p) || p <= 0.0f || p > 1.0f) {
          return Invalid(field, absl::StrCat("sparse.probs[", i, "] = ", p, " is outside (0, 1]"));
        }
        // Probabilities are > 0, so a nonzero slot means a repeated id.
        if (dense[id] != 0.0f) {
          return Invalid(field, absl::StrCat("sparse.token_ids[", i, "] = ", id, " is repeated"));
        }
        dense[id] = p;
        sum += p;
      }
      break;
    }
    case tandem::v1::TokenDistribution::kDense: {
      const auto& d = dist.dense();
      if (d.probs_size() != vocab_size) {
        return Invalid(field, absl::StrCat("dense.probs has ", d.probs_size(),
                                           " entries, expected the vocabulary size ", vocab_size));
      }
      for (int i = 0; i < vocab_size; ++i) {
        const float p = d.probs(i);
        if (!std::isfinite(p) || p < 0.0f || p > 1.0f) {
          return Invalid(field, absl::StrCat("dense.probs[", i, "] = ", p, " is outside [0, 1]"));
        }
        dense[i] = p;
        sum += p;
      }
      break;
    }
    default:
      return Invalid(field, "no distribution set (need sparse or dense)");
  }
  if (std::abs(sum - 1.0) > kDistributionSumTolerance) {
    return Invalid(field, absl::StrCat("probabilities sum to ", sum, ", expected 1"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDistribution(const tandem::v1::TokenDistribution& dist, int32_t vocab_size,
                                  std::string_view field) {
  if (vocab_size <= 0) return absl::InternalError("vocabulary size must be positive");
  std::vector<float> scratch(static_cast<size_t>(vocab_size));
  return DecodeDistribution(dist, vocab_size, scratch, field);
}

float DistributionProb(const tandem::v1::TokenDistribution& dist, int32_t token) {
  if (token < 0) return 0.0f;
  if (dist.has_sparse()) {
    const auto& s = dist.sparse();
    const int n = std::min(s.token_ids_size(), s.probs_size());
    for (int i = 0; i < n; ++i) {
      if (s.token_ids(i) == token) return s.probs(i);
    }
    return 0.0f;
  }
  if (dist.has_dense() && token < dist.dense().probs_size()) return dist.dense().probs(token);
  return 0.0f;
}

}  // namespace tandem::services
