// The compute-backend interface. The model code (runtime/model/) describes a
// transformer forward pass as a sequence of these ops and never touches the
// memory behind a handle: weights, KV-cache pages and activations all live in
// the backend (host memory for the CPU backend, device memory for a future
// CUDA backend), so a new backend slots in without touching the model code.
//
// Conventions: an Activation is a row-major [rows x cols] fp32 matrix with a
// fixed column count and a capacity in rows that only grows through
// EnsureRows (outside the hot path). Ops take host-side descriptions of the
// batch (token ids, positions, page tables) by span; a device backend copies
// them over. Ops are called by one thread at a time (the model serializes
// Forward calls); the backend parallelizes inside an op.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cpu/ggml_types.h"

namespace tandem::runtime {

// A weight tensor resident in the backend: a [rows x cols] matrix in its GGUF
// type (vectors such as norm weights and biases have rows == 1).
struct WeightHandle {
  int32_t id = -1;
  int64_t rows = 0;
  int64_t cols = 0;
  kernels::GgmlType type = kernels::GgmlType::kF32;
  bool valid() const { return id >= 0; }
};

struct Activation {
  int32_t id = -1;
  int64_t rows = 0;  // rows in use for the current pass (set by the model)
  int64_t cols = 0;
};

// How rotary position embedding pairs up the dimensions of a head. GGUF llama
// weights are stored permuted so that adjacent pairs (2i, 2i+1) rotate
// together; qwen2 keeps the Hugging Face layout where dimension i pairs with
// i + rot_dim/2.
enum class RopeStyle { kAdjacentPairs, kHalfSplit };

struct RopeConfig {
  RopeStyle style = RopeStyle::kAdjacentPairs;
  int head_dim = 0;
  int rot_dim = 0;                 // leading dimensions of each head that rotate
  std::vector<float> inv_freq;     // rot_dim/2 angular frequencies (scaling folded in)
  float position_scale = 1.0f;     // linear rope scaling: position * scale
};

// KV storage is paged: the pool holds `max_pages` pages of `page_tokens`
// tokens, each page holding K and V for all layers. A session owns a page
// table; token t of a session lives in page table[t / page_tokens] at slot
// t % page_tokens.
struct KvLayout {
  int n_layers = 0;
  int kv_dim = 0;        // n_head_kv * head_dim
  int page_tokens = 64;
};

struct KvSlot {
  int32_t page = 0;
  int32_t slot = 0;
};

// One query row of attention: the session's page table and how many of its
// tokens (positions [0, n_ctx)) this row attends to. Causality inside a batch
// of new tokens falls out of n_ctx = position + 1.
struct AttentionRow {
  const int32_t* pages = nullptr;
  int32_t n_ctx = 0;
};

struct AttentionShape {
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  float scale = 1.0f;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual int n_threads() const = 0;

  // --- Resources (load time / outside the hot path) ---

  // Registers a weight [rows x cols] whose bytes are `data` (rows * row bytes
  // of `type`); the CPU backend keeps a zero-copy view, a device backend
  // uploads. `for_matmul` weights must be usable by MatMul; other weights
  // (norms, biases) are used elementwise. Errors name `name`.
  virtual absl::StatusOr<WeightHandle> AddWeight(std::string_view name, kernels::GgmlType type,
                                                 const void* data, int64_t rows, int64_t cols,
                                                 bool for_matmul) = 0;
  virtual absl::StatusOr<Activation> NewActivation(int64_t cols) = 0;
  // Grows the capacity of `a` to at least `rows` rows; allocates only when
  // the capacity grows. Also sets a.rows = rows.
  virtual absl::Status EnsureRows(Activation& a, int64_t rows) = 0;
  // Prepares internal scratch (matmul workspaces) for passes of up to `rows` rows.
  virtual absl::Status ReserveScratch(int64_t rows) = 0;

  virtual void SetRope(const RopeConfig& config) = 0;
  virtual absl::Status InitKvPool(const KvLayout& layout, int64_t max_pages) = 0;
  virtual size_t KvPageBytes() const = 0;
  virtual void CopyKvPage(int32_t src, int32_t dst) = 0;

  // --- Ops (the hot path; no allocation) ---

  // out.row(i) = table.row(ids[i]) as fp32. ids are validated by the caller.
  virtual void Embed(const WeightHandle& table, std::span<const int32_t> ids, Activation& out) = 0;
  // out = x / rms(x) * w, row-wise.
  virtual void RmsNorm(const Activation& x, const WeightHandle& w, float eps, Activation& out) = 0;
  // out[rows x w.rows] = x[rows x w.cols] * W^T (+ bias row-broadcast).
  virtual absl::Status MatMul(const WeightHandle& w, const WeightHandle* bias, const Activation& x,
                              Activation& out) = 0;
  // outs[j] = x * ws[j]^T (+ biases[j] when not null) for several weights
  // sharing the input x (Q, K, V; gate, up). Bitwise the same as separate
  // MatMul calls; a backend may fuse them (one activation quantization, one
  // parallel dispatch). ws, biases and outs have the same length.
  virtual absl::Status MatMulMulti(std::span<const WeightHandle* const> ws,
                                   std::span<const WeightHandle* const> biases, const Activation& x,
                                   std::span<Activation* const> outs) {
    for (size_t j = 0; j < ws.size(); ++j) {
      if (absl::Status s = MatMul(*ws[j], biases[j], x, *outs[j]); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  // Sets the positions of the rows of this pass (used by Rope).
  virtual void SetPositions(std::span<const int32_t> positions) = 0;
  // Rotates the first rot_dim dims of each of the n_heads heads of every row.
  virtual void Rope(Activation& x, int n_heads) = 0;
  // Writes row r of k and v (kv_dim wide) of `layer` into slots[r].
  virtual void StoreKv(int layer, const Activation& k, const Activation& v,
                       std::span<const KvSlot> slots) = 0;
  // out.row(r) = softmax(q_r . K^T * scale) V over rows[r]'s context, per head
  // (grouped-query: head h reads kv head h / (n_head / n_head_kv)).
  virtual void Attention(int layer, const Activation& q, std::span<const AttentionRow> rows,
                         const AttentionShape& shape, Activation& out) = 0;
  // out = silu(gate) * up.
  virtual void SiluMul(const Activation& gate, const Activation& up, Activation& out) = 0;
  // x += y.
  virtual void Add(Activation& x, const Activation& y) = 0;
  // out.row(i) = x.row(rows[i]).
  virtual void GatherRows(const Activation& x, std::span<const int32_t> rows, Activation& out) = 0;
  // Copies rows [row_begin, row_begin + n) of x to host memory (n * x.cols floats).
  virtual void ReadRows(const Activation& x, int64_t row_begin, int64_t n, float* dst) = 0;
  // The memory behind x's rows (host memory for the CPU backend, device
  // memory for CUDA), after every queued op that writes x. For collectives
  // that work in place on activations (tensor parallelism, runtime/parallel);
  // valid until x's capacity grows.
  virtual float* RowData(const Activation& x) = 0;

  // --- Pass boundary ---

  // One forward pass over `rows` activation rows: `ops` issues the pass' ops,
  // from SetPositions to the last op before the host reads results (no
  // ReadRows inside: a pass runs asynchronously to the host). The default
  // runs `ops` once, eagerly (the CPU backend). The CUDA backend records the
  // ops into a CUDA graph per row count and launches the graph, which removes
  // the per-kernel launch gaps of a decode step; if recording fails it runs
  // `ops` again eagerly, so `ops` may be called twice and must only issue
  // backend ops over state that the first call did not change (the model's
  // pass descriptions). Errors: those of `ops`, and the backend's own.
  virtual absl::Status RunPass(int64_t rows, absl::FunctionRef<absl::Status()> ops) {
    (void)rows;
    return ops();
  }
};

// The CPU backend (runtime/backend/cpu/): kernels from kernels/cpu, weights
// zero-copy from the mapping, one thread pool of n_threads (0 = all cores).
std::unique_ptr<Backend> MakeCpuBackend(int n_threads);

}  // namespace tandem::runtime
