// Codec for tandem.v1.TokenDistribution, the exact compact form in which the
// draft ships its processed distribution q to the target. Lossless rejection
// sampling needs q(x) exactly as the draft sampled from it, so probabilities
// travel as the float32 values the sampler used, never re-normalized or
// quantized. Sparse (support ids + probs) is chosen whenever it is smaller on
// the wire than dense, i.e. when the truncated support is under half the
// vocabulary.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "tandem/v1/common.pb.h"

namespace tandem::services {

// Tolerance on sum(probs) == 1 accepted from peers (float32 sums over a whole
// vocabulary drift by ~1e-5; anything past 1e-3 is a bug or an attack).
inline constexpr double kDistributionSumTolerance = 1e-3;

// Encodes a dense distribution (probs.size() == vocab size). Zero entries are
// dropped in the sparse form. `out` is overwritten.
void EncodeDistribution(std::span<const float> probs, tandem::v1::TokenDistribution* out);

// Encodes an already truncated support (ids[i] has probability probs[i], all
// others 0) as sparse, or as dense when that is smaller. ids must be distinct.
void EncodeSparseDistribution(std::span<const int32_t> ids, std::span<const float> probs,
                              int32_t vocab_size, tandem::v1::TokenDistribution* out);

// Checks a received distribution: a form is set, ids in [0, vocab_size) and
// distinct, probabilities finite and in range, lengths consistent, sum 1
// within tolerance. Errors are INVALID_ARGUMENT naming `field`.
absl::Status ValidateDistribution(const tandem::v1::TokenDistribution& dist, int32_t vocab_size,
                                  std::string_view field);

// Validates and expands into `dense` (size must be vocab_size); entries
// outside a sparse support become 0.
absl::Status DecodeDistribution(const tandem::v1::TokenDistribution& dist, int32_t vocab_size,
                                std::span<float> dense, std::string_view field);

// q(token) without expanding; 0 for tokens outside the support or out of
// range. Linear in the support size for the sparse form. Assumes `dist`
// passed ValidateDistribution.
float DistributionProb(const tandem::v1::TokenDistribution& dist, int32_t token);

}  // namespace tandem::services
