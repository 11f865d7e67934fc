// The k first ids of a row under a strict total order, in one pass.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tandem::runtime {

// Fills `heap` with the k ids of [0, n) that come first under `better` (a
// strict total order) among those where keep(id) holds, as a heap whose
// front is the last of them (std::sort_heap with `better` sorts them best
// first). A k-element heap instead of a vocabulary-sized index array: most
// ids fail at one comparison against the front.
template <class Better, class Keep>
void SelectTopK(int32_t n, size_t k, const Better& better, const Keep& keep, std::vector<int32_t>& heap) {
  heap.clear();
  if (k == 0) return;
  heap.reserve(k);
  for (int32_t id = 0; id < n; ++id) {
    if (!keep(id)) continue;
    if (heap.size() < k) {
      heap.push_back(id);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(id, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = id;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
}

// The k largest values of a row of finite floats, best first, equal values by
// lower id (logprob alternatives, the verifier's next-token candidates).
// After the first k ids it jumps from one value above the current k-th best
// to the next with the vector filter kernels::FindGreater instead of a
// comparison per id: 20 alternatives over Qwen's 151936 logits cost ~400 us
// through SelectTopK, most of a logprobs request's scoring.
void TopKValues(std::span<const float> values, size_t k, std::vector<int32_t>& ids);

}  // namespace tandem::runtime
