// Conversions between tandem.v1 messages and runtime types, for the Draft and
// Target services and the gRPC implementations of the orchestrator's ports.
// Both directions are exact: a q that crosses the network compares equal,
// probability for probability, to the one the draft sampled from.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/logprobs.h"
#include "runtime/sampling/sampling_params.h"
#include "tandem/v1/common.pb.h"

namespace tandem::services {

// runtime -> wire. A sparse runtime distribution stays sparse unless dense is
// smaller; a dense one becomes sparse when most entries are 0.
void DistributionToProto(const runtime::Distribution& in, tandem::v1::TokenDistribution* out);

// wire -> runtime, validating untrusted input (INVALID_ARGUMENT naming
// `field`). Sparse supports arrive in any order and are sorted by id (the
// runtime's sparse invariant); `out`'s buffers are reused. On an error
// `out` holds a partly decoded row: callers drop it (every caller returns
// the error), and it is overwritten whole by the next successful call.
absl::Status DistributionFromProto(const tandem::v1::TokenDistribution& in, int32_t vocab_size,
                                   runtime::Distribution* out, std::string_view field);

// wire -> runtime. Proto zeros mean "off" (top_p 0 -> 1, repetition_penalty
// 0 -> 1); an unset seed becomes `fallback_seed`. INVALID_ARGUMENT naming
// `field` ("sampling.top_p") for out-of-range values.
absl::Status SamplingFromProto(const tandem::v1::SamplingParams& in, int32_t vocab_size,
                               uint64_t fallback_seed, runtime::SamplingParams* out,
                               std::string_view field = "sampling");

// runtime -> wire (the seed is always set).
void SamplingToProto(const runtime::SamplingParams& in, tandem::v1::SamplingParams* out);

// The wire's logit_bias map as the runtime's list, ascending by token (not
// validated: ValidateSamplingParams checks ids and values).
std::vector<runtime::LogitBias> LogitBiasFromProto(const google::protobuf::Map<int32_t, float>& in);

// One position's most likely tokens, runtime -> wire.
void TopLogprobsToProto(std::span<const runtime::TokenLogprob> in, tandem::v1::TopLogprobs* out);
// wire -> runtime, validating untrusted input (INVALID_ARGUMENT naming
// `field`): lists of equal length, at most runtime::kMaxTopLogprobs, ids in
// [0, vocab_size), log-probabilities <= 0 and not NaN.
absl::Status TopLogprobsFromProto(const tandem::v1::TopLogprobs& in, int32_t vocab_size,
                                  std::vector<runtime::TokenLogprob>* out, std::string_view field);

}  // namespace tandem::services
