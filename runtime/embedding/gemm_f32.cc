#include "runtime/embedding/gemm_f32.h"

#include <algorithm>

#include "runtime/embedding/parallel_tasks.h"

namespace tandem::embedding {
namespace {

constexpr int kTileRows = 6;     // rows of x per tile (the kernels' register tile)
constexpr int64_t kBlockRows = 48;  // rows per task: a block of x stays in L2 across its panels
constexpr int64_t kBlockPanels = 4;  // panels per task: small enough for a single sentence to split

template <int R>
void ScalarTile(const float* x, int64_t ldx, const float* panel, const float* bias, int64_t k, float* y,
                int64_t ldy, int cols) {
  float acc[R][kGemmPanel] = {};
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* w = panel + kk * kGemmPanel;
    for (int r = 0; r < R; ++r) {
      const float xv = x[r * ldx + kk];
      for (int j = 0; j < kGemmPanel; ++j) acc[r][j] += xv * w[j];
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < cols; ++j) y[r * ldy + j] = acc[r][j] + bias[j];
  }
}

void ScalarTileAny(const float* x, int64_t ldx, int rows, const float* panel, const float* bias, int64_t k,
                   float* y, int64_t ldy, int cols) {
  // Row by row: the per-element order over k is the same for any row count.
  for (int r = 0; r < rows; ++r) ScalarTile<1>(x + r * ldx, ldx, panel, bias, k, y + r * ldy, ldy, cols);
}

}  // namespace

PackedWeights::PackedWeights(const float* w, int64_t ldw, const float* bias, int64_t n, int64_t k) : n_(n), k_(k) {
  data_.assign(static_cast<size_t>(panels() * k * kGemmPanel), 0.0f);
  bias_.assign(static_cast<size_t>(panels() * kGemmPanel), 0.0f);
  for (int64_t row = 0; row < n; ++row) {
    const int64_t p = row / kGemmPanel, j = row % kGemmPanel;
    float* dst = data_.data() + p * k * kGemmPanel + j;
    for (int64_t kk = 0; kk < k; ++kk) dst[kk * kGemmPanel] = w[row * ldw + kk];
    if (bias != nullptr) bias_[static_cast<size_t>(row)] = bias[row];
  }
}

namespace internal {
GemmTileFn GemmTileScalar() { return &ScalarTileAny; }
}  // namespace internal

void GemmF32(const PackedWeights& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
             kernels::ThreadPool& pool, kernels::Isa isa) {
  internal::GemmTileFn tile = internal::GemmTileScalar();
  if (isa != kernels::Isa::kScalar && kernels::IsaSupported(kernels::Isa::kAvx2) && internal::GemmTileAvx2() != nullptr) {
    tile = internal::GemmTileAvx2();
  }
  const int64_t row_blocks = (m + kBlockRows - 1) / kBlockRows;
  const int64_t panel_groups = (w.panels() + kBlockPanels - 1) / kBlockPanels;
  ParallelTasks(pool, row_blocks * panel_groups, [&](int64_t task) {
    const int64_t r_begin = (task / panel_groups) * kBlockRows, r_end = std::min(m, r_begin + kBlockRows);
    const int64_t p_begin = (task % panel_groups) * kBlockPanels, p_end = std::min(w.panels(), p_begin + kBlockPanels);
    for (int64_t p = p_begin; p < p_end; ++p) {
      const int cols = static_cast<int>(std::min<int64_t>(kGemmPanel, w.n() - p * kGemmPanel));
      for (int64_t r = r_begin; r < r_end; r += kTileRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kTileRows, r_end - r));
        tile(x + r * ldx, ldx, rows, w.panel(p), w.bias(p), w.k(), y + r * ldy + p * kGemmPanel, ldy, cols);
      }
    }
  });
}

}  // namespace tandem::embedding
