// The penalty window shared by the CPU sampler and the CUDA one: which tokens
// the repetition, frequency and presence penalties touch, how often each
// occurred, and the additive offset, so that both samplers edit the same
// tokens by the same float expression.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "runtime/sampling/sampling_params.h"

namespace tandem::runtime {

// Calls visit(token, count) once per distinct token of the window (the last
// `params.repetition_window` tokens of `history`, all of them when 0), in the
// order of first occurrence, with its number of occurrences. `counts` is the
// caller's scratch: all-zero on entry (grown to `vocab` here) and left all-zero.
// A window token outside [0, vocab) is INVALID_ARGUMENT before any visit.
absl::Status ForEachPenalizedToken(const SamplingParams& params, std::span<const int32_t> history, int32_t vocab,
                                   std::vector<uint32_t>& counts,
                                   absl::FunctionRef<void(int32_t token, uint32_t count)> visit);

// What frequency and presence subtract from a logit of a token seen `count`
// times. One compiled copy (baseline ISA, no FMA contraction), so the CUDA
// sampler's host-computed offsets equal the CPU sampler's bit for bit.
float AdditivePenalty(const SamplingParams& params, uint32_t count);

}  // namespace tandem::runtime
