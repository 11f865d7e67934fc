// MatMul: quantize the activations once, then stream the weights in chunks of
// rows claimed by the threads from an atomic counter (dynamic, so a thread
// delayed by another process on a shared core does not hold the others up).
// For m > 1 the work is tiled so a chunk of weight rows stays in L1/L2 while
// a tile of activation rows is swept across it, and every weight row is
// decoded once per kMaxTileNx (tile kernels) or kMaxNx (row kernels)
// activation rows.
#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <atomic>

#include "kernels/cpu/amx.h"
#include "kernels/cpu/dot_kernels.h"
#include "kernels/cpu/prefetch.h"

namespace tandem::kernels {

void MatMulWorkspace::Reserve(size_t bytes) {
  if (buf_.size() < bytes) buf_.resize(bytes);
}

namespace {

// Activation rows swept across a weight chunk before moving on: 16 rows of a
// 1536-wide Q8A activation are ~26 KB, within L1/L2 together with the chunk.
constexpr int64_t kActTile = 16;
constexpr size_t kAlign = 64;
// From here on a Q4_K / Q6_K product takes the AMX tiles (when the CPU has them).
// Each call repacks its 16 weight rows (folding the sub-block scales into
// the codes), whatever m is, which few rows do not repay. Qwen2.5-Coder-1.5B
// batched decode on 2 threads (tandem_model_bench, Sapphire Rapids VM,
// 2026-12-05, with the AMX pack's prefetch), AVX-512 tiles vs AMX at 8 / 9
// / 10 / 11 sessions: 66.0-67.3 vs 59.7-59.8, 64.8-65.5 vs 65.2-65.9,
// 66.7-67.5 vs 71.6-72.7, 66.5-66.6 vs 77.7-78.2 tokens/s.
constexpr int64_t kAmxMinRows = 10;

// Bytes per quantized activation row; `tail`: the rows carry the copy a
// tile kernel reads (ActTailFn).
size_t ActRowBytes(ActFormat fmt, int64_t cols, bool tail) {
  switch (fmt) {
    case ActFormat::kQ8A: return Q8ARowBytes(cols) + (tail ? Q8ATailBytes(cols) : 0);
    case ActFormat::kQ8K: return Q8KRowBytes(cols) + (tail ? Q8KTailBytes(cols) : 0);
    case ActFormat::kF32: return 0;
  }
  return 0;
}

// The activation tail the type's tile kernel reads at this width, or nullptr.
ActTailFn TileTail(const CpuKernels& k, GgmlType type, int64_t cols) {
  const int t = static_cast<int>(type);
  const int64_t max_cols = k.act_tail_max_cols[t];
  return max_cols == 0 || cols <= max_cols ? k.act_tail[t] : nullptr;
}

struct QuantizeCtx {
  QuantizeRowFn fn;
  ActTailFn tail = nullptr;  // non-null: also write each row's tail
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
    uint8_t* row = c->out + i * c->out_stride;
    c->fn(c->x + i * c->ldx, row, c->cols, c->corr_k);
    if (c->tail != nullptr) c->tail(row, c->cols);
  }
}

// One weight matrix of a MatMul job: its rows are split into chunks numbered
// from first_chunk within the job's global chunk count.
struct MatMulPart {
  const uint8_t* w;
  size_t w_stride;
  int64_t rows;
  float* y;
  int64_t ldy;
  int64_t chunk_rows;
  int64_t first_chunk;
};

struct MatMulCtx {
  // Packed activations of the AMX path (amx.h), null when it is not used:
  // then every chunk of 16 weight rows is one AmxQ4KRows call over all m.
  const uint8_t* amx_acts = nullptr;
  void (*amx_rows)(int64_t, const void*, size_t, int, const uint8_t*, int64_t, float*, size_t, uint8_t*) = nullptr;
  uint8_t* amx_scratch = nullptr;  // one region of amx_scratch_stride bytes per pool thread
  size_t amx_scratch_stride = 0;
  RowDotFn dot;         // null: dequantize fallback
  MultiRowDotFn dot_rows;  // null: none for this type
  TileDotFn dot_tile;      // null: none for this type
  bool row_prefetches;   // the m = 1 kernels prefetch their weights (CpuKernels::row_prefetches)
  bool tile_prefetches;  // the tile kernels do (CpuKernels::tile_prefetches)
  GgmlType type;
  int64_t cols;
  const uint8_t* x;     // activation rows (quantized or fp32)
  size_t x_stride;
  int64_t m;
  int n_parts;
  MatMulPart parts[kMaxMatMulParts];
  int64_t n_chunks;
  alignas(64) std::atomic<int64_t> next_chunk{0};
};

// Software prefetch of the weights ahead of the kernels' reads. A decode
// step streams every weight once from memory, and the hardware prefetchers
// alone kept one thread at ~6.5 GB/s on a Sapphire Rapids VM (Qwen2.5-Coder
// 1.5B Q4_K_M: 6.7 tokens/s, llama.cpp 9.1); requesting the lines
// kPrefetchAhead bytes beyond the rows about to be computed gave 8.7 (2
// threads: 10.9 -> 15.8), any distance from 512 to 2048 bytes within 5 %, 4 and
// 8 KB slower (docs/benchmarks.md). A prefetch never faults, so running past
// the end of the matrix is harmless. Kernels that spread their own
// prefetches between their products (CpuKernels::row_prefetches /
// tile_prefetches) are left to it.
constexpr size_t kPrefetchAhead = 1024;

inline void PrefetchWeights(const uint8_t* rows, size_t bytes) { PrefetchLines(rows + kPrefetchAhead, bytes); }

void RunDot(const MatMulCtx& c, const uint8_t* wrow, const uint8_t* x, int nx, float* out) {
  if (c.dot != nullptr) {
    c.dot(c.cols, wrow, x, c.x_stride, nx, out);
  } else {
    DotDequantFallback(c.type, c.cols, wrow, x, c.x_stride, nx, out);
  }
}

// Rows [r0, r1) of one part. The kernels compute every output with the same
// float order whatever the chunking, so which part or chunk a row lands in
// never changes its value.
// `t`: the pool thread running the chunk (its AMX scratch region).
void RunChunk(const MatMulCtx* c, const MatMulPart& p, int64_t r0, int64_t r1, int t) {
  if (c->amx_acts != nullptr) {
    uint8_t* scratch = c->amx_scratch + static_cast<size_t>(t) * c->amx_scratch_stride;
    for (int64_t r = r0; r < r1; r += kAmxRows) {
      const int nr = static_cast<int>(std::min<int64_t>(kAmxRows, r1 - r));
      c->amx_rows(c->cols, p.w + r * p.w_stride, p.w_stride, nr, c->amx_acts, c->m, p.y + r,
                  static_cast<size_t>(p.ldy), scratch);
    }
    return;
  }
  if (c->m == 1) {
    if (c->dot_rows != nullptr) {
      for (int64_t r = r0; r < r1; r += kMaxNr) {
        const int nr = static_cast<int>(std::min<int64_t>(kMaxNr, r1 - r));
        if (!c->row_prefetches) PrefetchWeights(p.w + r * p.w_stride, nr * p.w_stride);
        c->dot_rows(c->cols, p.w + r * p.w_stride, p.w_stride, nr, c->x, p.y + r);
      }
    } else {
      for (int64_t r = r0; r < r1; ++r) {
        if (!c->row_prefetches) PrefetchWeights(p.w + r * p.w_stride, p.w_stride);
        RunDot(*c, p.w + r * p.w_stride, c->x, 1, p.y + r);
      }
    }
    return;
  }
  for (int64_t i0 = 0; i0 < c->m; i0 += kActTile) {
    const int64_t i1 = std::min(c->m, i0 + kActTile);
    if (c->dot_tile != nullptr) {
      // Each group of kMaxTileNx activation rows sweeps the chunk's weight
      // rows, so the group stays in L1 while the chunk's rows (16 Q4_K rows
      // of 1536 are 14 KB) come from L2: the other way round, every weight
      // row pair re-read both groups from L2, and the AVX2 Q4_K tile (which
      // also reads the Q8_K tail) measured ~11 % slower in that order
      // (docs/benchmarks.md).
      for (int64_t i = i0; i < i1; i += kMaxTileNx) {
        const int nx = static_cast<int>(std::min<int64_t>(kMaxTileNx, i1 - i));
        for (int64_t r = r0; r < r1; r += kTileRows) {
          const int nr = static_cast<int>(std::min<int64_t>(kTileRows, r1 - r));
          // The first activation group brings the chunk's rows in; the
          // others find them in cache.
          if (i == 0 && !c->tile_prefetches) PrefetchWeights(p.w + r * p.w_stride, nr * p.w_stride);
          c->dot_tile(c->cols, p.w + r * p.w_stride, p.w_stride, nr, c->x + i * c->x_stride, c->x_stride,
                      nx, p.y + i * p.ldy + r, static_cast<size_t>(p.ldy));
        }
      }
      continue;
    }
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* wrow = p.w + r * p.w_stride;
      if (i0 == 0) PrefetchWeights(wrow, p.w_stride);
      for (int64_t i = i0; i < i1; i += kMaxNx) {
        const int nx = static_cast<int>(std::min<int64_t>(kMaxNx, i1 - i));
        float out[kMaxNx];
        RunDot(*c, wrow, c->x + i * c->x_stride, nx, out);
        for (int j = 0; j < nx; ++j) p.y[(i + j) * p.ldy + r] = out[j];
      }
    }
  }
}

void MatMulTask(void* p, int t, int /*nt*/) {
  auto* c = static_cast<MatMulCtx*>(p);
  for (;;) {
    const int64_t chunk = c->next_chunk.fetch_add(1, std::memory_order_relaxed);
    if (chunk >= c->n_chunks) return;
    int j = c->n_parts - 1;
    while (c->parts[j].first_chunk > chunk) --j;
    const MatMulPart& part = c->parts[j];
    const int64_t r0 = (chunk - part.first_chunk) * part.chunk_rows;
    const int64_t r1 = std::min(part.rows, r0 + part.chunk_rows);
    RunChunk(c, part, r0, r1, t);
  }
}

bool ShapeOk(const WeightView& w, int64_t m) {
  if (w.data == nullptr || w.rows < 0 || w.cols <= 0 || m < 0) return false;
  const size_t need = RowBytes(w.type, w.cols);
  return need != 0 && w.row_bytes >= need;
}

}  // namespace

size_t MatMulWorkspaceBytes(const WeightView& w, int64_t m) {
  // With the tail whatever the level: enough for every kernel table.
  const size_t row = ActRowBytes(ActFormatFor(w.type), w.cols, /*tail=*/true);
  return row == 0 ? 0 : row * static_cast<size_t>(m) + kAlign;
}

bool MatMulMulti(std::span<const WeightView> ws_in, const float* x, int64_t m, int64_t ldx,
                 std::span<float* const> ys, std::span<const int64_t> ldys, MatMulWorkspace& ws,
                 ThreadPool& pool, Isa isa) {
  const int n_parts = static_cast<int>(ws_in.size());
  if (n_parts < 1 || n_parts > kMaxMatMulParts || ys.size() != ws_in.size() || ldys.size() != ws_in.size() ||
      x == nullptr) {
    return false;
  }
  const WeightView& w = ws_in[0];
  for (int j = 0; j < n_parts; ++j) {
    const WeightView& wj = ws_in[j];
    if (!ShapeOk(wj, m) || wj.type != w.type || wj.cols != w.cols || ys[j] == nullptr || ldx < wj.cols ||
        ldys[j] < wj.rows) {
      return false;
    }
  }
  const CpuKernels& k = KernelsFor(isa);
  const RowDotFn dot = k.dot[static_cast<int>(w.type) < kNumTypeIds ? static_cast<int>(w.type) : 0];
  if (dot == nullptr) {
    const TypeTraits* traits = FindTypeTraits(static_cast<uint32_t>(w.type));
    if (traits == nullptr || !traits->can_dequantize) return false;
  }
  if (m == 0) return true;

  const ActFormat fmt = dot == nullptr ? ActFormat::kF32 : ActFormatFor(w.type);
  const uint8_t* xa = reinterpret_cast<const uint8_t*>(x);
  size_t x_stride = static_cast<size_t>(ldx) * sizeof(float);
  // Q4_K / Q6_K products of at least kAmxMinRows rows go to the AMX tiles when the
  // CPU has them: bitwise the same outputs as the AVX-512 tiles (amx.h), so
  // the choice never changes a result. Only at the AVX-512 level, which the
  // `isa` argument (tests, TANDEM_ISA) can cap below.
  const bool amx = dot != nullptr &&
                   (w.type == GgmlType::kQ4_K || w.type == GgmlType::kQ6_K) && m >= kAmxMinRows &&
                   KernelsFor(isa).isa == Isa::kAvx512 && AmxUsable();
  const uint8_t* amx_acts = nullptr;
  uint8_t* amx_scratch = nullptr;
  size_t amx_scratch_stride = 0;
  // The tile kernels (m > 1, no AMX) of some types read an activation tail.
  const ActTailFn tail = fmt != ActFormat::kF32 && m > 1 && !amx ? TileTail(k, w.type, w.cols) : nullptr;
  if (fmt != ActFormat::kF32) {
    const size_t q8_bytes = MatMulWorkspaceBytes(w, m);
    // AMX: the packed activations, then one weight scratch per pool thread.
    const size_t amx_bytes =
        amx ? AmxActBytes(m, w.cols) + kAlign + static_cast<size_t>(pool.size()) * AlignUp64(AmxWeightScratchBytes(w.cols))
            : 0;
    ws.Reserve(q8_bytes + amx_bytes);  // no-op once grown
    uint8_t* base = ws.data();
    base += (kAlign - reinterpret_cast<uintptr_t>(base) % kAlign) % kAlign;
    x_stride = ActRowBytes(fmt, w.cols, tail != nullptr);
    QuantizeCtx q;
    q.fn = fmt == ActFormat::kQ8A ? k.quantize_q8a : k.quantize_q8k;
    q.tail = tail;
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
    if (amx) {
      uint8_t* packed = base + q8_bytes;
      packed += (kAlign - reinterpret_cast<uintptr_t>(packed) % kAlign) % kAlign;
      AmxPackQ8K(base, x_stride, m, w.cols, packed);
      amx_acts = packed;
      amx_scratch_stride = AlignUp64(AmxWeightScratchBytes(w.cols));
      amx_scratch = packed + AlignUp64(AmxActBytes(m, w.cols));
    }
  }

  MatMulCtx c;
  c.amx_acts = amx_acts;
  c.amx_scratch = amx_scratch;
  c.amx_scratch_stride = amx_scratch_stride;
  c.amx_rows = w.type == GgmlType::kQ6_K ? AmxQ6KRows : AmxQ4KRows;
  c.dot = dot;
  c.dot_rows = dot == nullptr ? nullptr : k.dot_rows[static_cast<int>(w.type)];
  c.dot_tile = dot == nullptr ? nullptr : k.dot_tile[static_cast<int>(w.type)];
  c.row_prefetches = dot != nullptr && k.row_prefetches[static_cast<int>(w.type)];
  c.tile_prefetches = dot != nullptr && k.tile_prefetches[static_cast<int>(w.type)];
  c.type = w.type;
  c.cols = w.cols;
  c.x = xa;
  c.x_stride = x_stride;
  c.m = m;
  c.n_parts = n_parts;
  const int nt = pool.size();
  int64_t total_rows = 0;
  for (const WeightView& wj : ws_in) total_rows += wj.rows;
  int64_t n_chunks = 0;
  for (int j = 0; j < n_parts; ++j) {
    const WeightView& wj = ws_in[j];
    MatMulPart& p = c.parts[j];
    p.w = static_cast<const uint8_t*>(wj.data);
    p.w_stride = wj.row_bytes;
    p.rows = wj.rows;
    p.y = ys[j];
    p.ldy = ldys[j];
    if (m == 1) {
      // ~8 chunks per thread over all parts balances load without
      // measurable counter traffic; a multiple of kMaxNr keeps every matvec
      // call at full width.
      p.chunk_rows = std::max<int64_t>(16, (total_rows + 8 * nt - 1) / (8 * nt));
      p.chunk_rows = (p.chunk_rows + kMaxNr - 1) / kMaxNr * kMaxNr;
    } else {
      p.chunk_rows = 16;
    }
    p.first_chunk = n_chunks;
    n_chunks += (wj.rows + p.chunk_rows - 1) / p.chunk_rows;
  }
  c.n_chunks = n_chunks;
  if (n_chunks == 0) return true;
  if (nt == 1 || c.n_chunks == 1) {
    MatMulTask(&c, 0, 1);
  } else {
    pool.RunDynamic(MatMulTask, &c);
  }
  return true;
}

bool MatMulMulti(std::span<const WeightView> w, const float* x, int64_t m, int64_t ldx,
                 std::span<float* const> ys, std::span<const int64_t> ldys, MatMulWorkspace& ws,
                 ThreadPool& pool) {
  return MatMulMulti(w, x, m, ldx, ys, ldys, ws, pool, ActiveIsa());
}

bool MatMul(const WeightView& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
            MatMulWorkspace& ws, ThreadPool& pool, Isa isa) {
  float* ys[1] = {y};
  const int64_t ldys[1] = {ldy};
  return MatMulMulti(std::span<const WeightView>(&w, 1), x, m, ldx, ys, ldys, ws, pool, isa);
}

bool MatMul(const WeightView& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy,
            MatMulWorkspace& ws, ThreadPool& pool) {
  return MatMul(w, x, m, ldx, y, ldy, ws, pool, ActiveIsa());
}

const char* MatMulIsaName() { return IsaName(KernelsFor(ActiveIsa()).isa); }

}  // namespace tandem::kernels
