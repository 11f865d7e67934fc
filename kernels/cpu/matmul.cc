// MatMul: quantize the activations once, then stream the weights in chunks of
// rows claimed by the threads from an atomic counter (dynamic, so a thread
// delayed by another process on a shared core does not hold the others up).
// For m > 1 the work is tiled so a chunk of weight rows stays in L1/L2 while
// a tile of activation rows is swept across it, and every weight row is
// decoded once per kMaxNx activation rows.
#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <atomic>

#include "kernels/cpu/dot_kernels.h"

namespace tandem::kernels {

void MatMulWorkspace::Reserve(size_t bytes) {
  if (buf_.size() < bytes) buf_.resize(bytes);
}

namespace {

// Activation rows swept across a weight chunk before moving on: 16 rows of a
// 1536-wide Q8A activation are ~26 KB, within L1/L2 together with the chunk.
constexpr int64_t kActTile = 16;
constexpr size_t kAlign = 64;

size_t ActRowBytes(ActFormat fmt, int64_t cols) {
  switch (fmt) {
    case ActFormat::kQ8A: return Q8ARowBytes(cols);
    case ActFormat::kQ8K: return Q8KRowBytes(cols);
    case ActFormat::kF32: return 0;
  }
  return 0;
}

struct QuantizeCtx {
  QuantizeRowFn fn;
  const float* x;
  int64_t ldx;
  uint8_t* out;
  size_t out_stride;
  int64_t cols;
  int64_t m;
  int32_t corr_k;
  alignas(64) std::atomic<int64_t> next_row{0};
};

// Rows are claimed one at a time from a counter (the pool's RunDynamic may
// run this on any subset of threads).
void QuantizeTask(void* p, int /*t*/, int /*nt*/) {
  auto* c = static_cast<QuantizeCtx*>(p);
  for (;;) {
    const int64_t i = c->next_row.fetch_add(1, std::memory_order_relaxed);
    if (i >= c->m) return;
    c->fn(c->x + i * c->ldx, c->out + i * c->out_stride, c->cols, c->corr_k);
  }
}

struct MatMulCtx {
  RowDotFn dot;         // null: dequantize fallback
  MultiRowDotFn dot_rows;  // null: none for this type
  TileDotFn dot_tile;      // null: none for this type
  GgmlType type;
  const uint8_t* w;
  size_t w_stride;
  int64_t rows;
  int64_t cols;
  const uint8_t* x;     // activation rows (quantized or fp32)
  size_t x_stride;
  int64_t m;
  float* y;
  int64_t ldy;
  int64_t chunk_rows;
  int64_t n_chunks;
  alignas(64) std::atomic<int64_t> next_chunk{0};
};

void RunDot(const MatMulCtx& c, const uint8_t* wrow, const uint8_t* x, int nx, float* out) {
  if (c.dot != nullptr) {
    c.dot(c.cols, wrow, x, c.x_stride, nx, out);
  } else {
    DotDequantFallback(c.type, c.cols, wrow, x, c.x_stride, nx, out);
  }
}

void MatMulTask(void* p, int /*t*/, int /*nt*/) {
  auto* c = static_cast<MatMulCtx*>(p);
  for (;;) {
    const int64_t chunk = c->next_chunk.fetch_add(1, std::memory_order_relaxed);
    if (chunk >= c->n_chunks) return;
    const int64_t r0 = chunk * c->chunk_rows;
    const int64_t r1 = std::min(c->rows, r0 + c->chunk_rows);
    if (c->m == 1) {
      if (c->dot_rows != nullptr) {
        for (int64_t r = r0; r < r1; r += kMaxNr) {
          const int nr = static_cast<int>(std::min<int64_t>(kMaxNr, r1 - r));
          c->dot_rows(c->cols, c->w + r * c->w_stride, c->w_stride, nr, c->x, c->y + r);
        }
      } else {
        for (int64_t r = r0; r < r1; ++r) RunDot(*c, c->w + r * c->w_stride, c->x, 1, c->y + r);
      }
      continue;
    }
    for (int64_t i0 = 0; i0 < c->m; i0 += kActTile) {
      const int64_t i1 = std::min(c->m, i0 + kActTile);
      if (c->dot_tile != nullptr) {
        for (int64_t r = r0; r < r1; r += kTileRows) {
          const int nr = static_cast<int>(std::min<int64_t>(kTileRows, r1 - r));
          for (int64_t i = i0; i < i1; i += kMaxNx) {
            const int nx = static_cast<int>(std::min<int64_t>(kMaxNx, i1 - i));
            c->dot_tile(c->cols, c->w + r * c->w_stride, c->w_stride, nr, c->x + i * c->x_stride, c->x_stride,
                        nx, c->y + i * c->ldy + r, static_cast<size_t>(c->ldy));
          }
        }
        continue;
      }
      for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* wrow = c->w + r * c->w_stride;
        for (int64_t i = i0; i < i1; i += kMaxNx) {
          const int nx = static_cast<int>(std::min<int64_t>(kMaxNx, i1 - i));
          float out[kMaxNx];
          RunDot(*c, wrow, c->x + i * c->x_stride, nx, out);
          for (int j = 0; j < nx; ++j) c->y[(i + j) * c->ldy + r] = out[j];
        }
      }
    }
  }
}

bool ShapeOk(const WeightView& w, int64_t m) {
  if (w.data == nullptr || w.rows < 0 || w.cols <= 0 || m < 0) return false;
  const size_t need = RowBytes(w.type, w.cols);
  return need != 0 && w.row_bytes >= need;
}

}  // namespace

size_t MatMulWorkspaceBytes(const WeightView& w, int64_t m) {
  const size_t row = ActRowBytes(ActFormatFor(w.type), w.cols);
  return row == 0 ? 0 : row * static_cast<size_t>(m) + kAlign;
}

bool MatMul(const WeightView& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
            MatMulWorkspace& ws, ThreadPool& pool, Isa isa) {
  if (!ShapeOk(w, m) || x == nullptr || y == nullptr || ldx < w.cols || ldy < w.rows) return false;
  const CpuKernels& k = KernelsFor(isa);
  const RowDotFn dot = k.dot[static_cast<int>(w.type) < kNumTypeIds ? static_cast<int>(w.type) : 0];
  if (dot == nullptr) {
    const TypeTraits* traits = FindTypeTraits(static_cast<uint32_t>(w.type));
    if (traits == nullptr || !traits->can_dequantize) return false;
  }
  if (m == 0 || w.rows == 0) return true;

  const ActFormat fmt = dot == nullptr ? ActFormat::kF32 : ActFormatFor(w.type);
  const uint8_t* xa = reinterpret_cast<const uint8_t*>(x);
  size_t x_stride = static_cast<size_t>(ldx) * sizeof(float);
  if (fmt != ActFormat::kF32) {
    ws.Reserve(MatMulWorkspaceBytes(w, m));  // no-op once the workspace has grown
    uint8_t* base = ws.data();
    base += (kAlign - reinterpret_cast<uintptr_t>(base) % kAlign) % kAlign;
    x_stride = ActRowBytes(fmt, w.cols);
    QuantizeCtx q;
    q.fn = fmt == ActFormat::kQ8A ? k.quantize_q8a : k.quantize_q8k;
    q.x = x;
    q.ldx = ldx;
    q.out = base;
    q.out_stride = x_stride;
    q.cols = w.cols;
    q.m = m;
    q.corr_k = Q8ACorrK(w.type);
    // A few short rows are not worth waking the workers for.
    if (m * w.cols < 8192) {
      QuantizeTask(&q, 0, 1);
    } else {
      pool.RunDynamic(QuantizeTask, &q);
    }
    xa = base;
  }

  MatMulCtx c;
  c.dot = dot;
  c.dot_rows = dot == nullptr ? nullptr : k.dot_rows[static_cast<int>(w.type)];
  c.dot_tile = dot == nullptr ? nullptr : k.dot_tile[static_cast<int>(w.type)];
  c.type = w.type;
  c.w = static_cast<const uint8_t*>(w.data);
  c.w_stride = w.row_bytes;
  c.rows = w.rows;
  c.cols = w.cols;
  c.x = xa;
  c.x_stride = x_stride;
  c.m = m;
  c.y = y;
  c.ldy = ldy;
  const int nt = pool.size();
  if (m == 1) {
    // ~8 chunks per thread balances load without measurable counter traffic;
    // a multiple of kMaxNr keeps every matvec call at full width.
    c.chunk_rows = std::max<int64_t>(16, (w.rows + 8 * nt - 1) / (8 * nt));
    c.chunk_rows = (c.chunk_rows + kMaxNr - 1) / kMaxNr * kMaxNr;
  } else {
    c.chunk_rows = 16;
  }
  c.n_chunks = (w.rows + c.chunk_rows - 1) / c.chunk_rows;
  if (nt == 1 || c.n_chunks == 1) {
    MatMulTask(&c, 0, 1);
  } else {
    pool.RunDynamic(MatMulTask, &c);
  }
  return true;
}

bool MatMul(const WeightView& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
            MatMulWorkspace& ws, ThreadPool& pool) {
  return MatMul(w, x, m, ldx, y, ldy, ws, pool, ActiveIsa());
}

const char* MatMulIsaName() { return IsaName(KernelsFor(ActiveIsa()).isa); }

}  // namespace tandem::kernels
