#include "runtime/sampling/top_k.h"

#include "kernels/cpu/ops.h"

namespace tandem::runtime {

void TopKValues(std::span<const float> values, size_t k, std::vector<int32_t>& ids) {
  const auto n = static_cast<int64_t>(values.size());
  const float* x = values.data();
  // Best first; equal values by lower id. Ids arrive in increasing order, so
  // a later id beats the heap's last only with a strictly greater value: the
  // filter's `>` is this order.
  const auto better = [x](int32_t a, int32_t b) { return x[a] != x[b] ? x[a] > x[b] : a < b; };
  ids.clear();
  k = std::min(k, values.size());
  if (k == 0) return;
  ids.reserve(k);
  for (int32_t id = 0; id < static_cast<int32_t>(k); ++id) {
    ids.push_back(id);
    std::push_heap(ids.begin(), ids.end(), better);
  }
  for (int64_t from = static_cast<int64_t>(k); from < n;) {
    const int64_t id = from + kernels::FindGreater(x + from, n - from, x[ids.front()]);
    if (id >= n) break;
    std::pop_heap(ids.begin(), ids.end(), better);
    ids.back() = static_cast<int32_t>(id);
    std::push_heap(ids.begin(), ids.end(), better);
    from = id + 1;
  }
  std::sort_heap(ids.begin(), ids.end(), better);
}

}  // namespace tandem::runtime
