// The k largest values of a row, in one filtered pass.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tandem::runtime {

// The k largest values of a row of finite floats, best first, equal values by
// lower id (the sampler's top-k, logprob alternatives, the verifier's
// next-token candidates). After the first k ids it jumps from one value above
// the current k-th best to the next with the vector filter
// kernels::FindGreater: over Qwen's 151936 logits 10-14 us for k = 1..20,
// where a heap scan with a comparison per id cost 277-287 us (top_k.cc).
void TopKValues(std::span<const float> values, size_t k, std::vector<int32_t>& ids);

}  // namespace tandem::runtime
