// The k first ids of a row under a strict total order, in one pass.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
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

}  // namespace tandem::runtime
