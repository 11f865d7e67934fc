// The CUDA implementation of the compute-backend interface (backend.h):
// weights, activations and the fp16 KV pages live in device memory of one
// GPU, ops are kernels from kernels/cuda queued on one stream, and only
// ReadRows synchronizes with the host.
//
// Design points:
// - Batch invariance: every op computes a row in one fixed float order (see
//   kernels/cuda/matvec.h), so a token's logits do not depend on how many
//   rows share the pass and greedy speculation equals target-only on the GPU.
//   The one exception is opt-in: with cublas_min_rows > 0, products of at
//   least that many rows go to cuBLAS (weights dequantized to fp32 scratch,
//   SGEMM), whose order depends on the shape; keep it 0 where bitwise
//   invariance matters.
// - Residual add + RMSNorm fusion: Add(x, y) is deferred; when the next op is
//   RmsNorm of the same x, one kernel does both (the model calls Add then
//   RmsNorm at every layer boundary). Any other op first flushes the add.
// - Errors: the void ops of the interface cannot return a Status, so a
//   failed launch is kept (first error wins) and returned by the next
//   Status-returning call (MatMul, EnsureRows, ...); ops after an error are
//   skipped.
// - Host descriptions of the pass (ids, positions, KV slots, page tables) are
//   uploaded when they change; the model passes the same slots and pages to
//   every layer, so each is uploaded once per pass.
// - Types without device kernels (Q5_1, Q2_K, Q3_K, ...) are widened to fp32
//   at load: correct, at 4 bytes per weight.
// - CUDA graphs (RunPass, pass_graphs.h): the model's layers are one pass,
//   recorded by stream capture and launched as one graph per row count
//   (updated in place each step). While recording, the pass' host
//   descriptions are staged in pinned memory and every description is
//   uploaded once per pass, so that the graph's shape does not depend on
//   which descriptions changed since the last step. A pass whose recording
//   fails runs eagerly, and that row count stays eager from then on.
//   CudaBackendOptions::cuda_graphs = false (TANDEM_CUDA_GRAPHS=0 through
//   CreateBackend) runs every pass eagerly.
// - Q4_K products take int8 activations (CudaBackendOptions::int8_activations):
//   each MatMul quantizes its input into one scratch buffer on the stream, so
//   products stay ordered by the stream and the graphs capture them as is.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"

#include "kernels/cuda/matvec.h"
#include "runtime/backend/backend.h"
#include "runtime/backend/cuda/device_buffer.h"
#include "runtime/backend/cuda/pass_graphs.h"

namespace tandem::runtime {

struct CudaBackendOptions {
  int device = 0;
  // Products with at least this many activation rows use cuBLAS; 0 = never
  // (bitwise batch-invariant everywhere).
  int64_t cublas_min_rows = 0;
  // Record each forward pass into a CUDA graph (RunPass); false = eager launches.
  bool cuda_graphs = true;
  // Only passes of at most this many rows use graphs: decode steps and verify
  // blocks, whose many short kernels are launch-bound. Prefills are long
  // enough to hide launches, and each prompt length would be a graph of its own.
  int64_t graph_max_rows = 16;
  // Q4_K products quantize their activations to int8 like the CPU kernels'
  // Q8_K and use dp4a (kernels/cuda/matvec.h, MatVecInt8): the CPU's
  // numerics, and a quarter of the activation traffic that bounds the fp32
  // kernel. false = fp32 activations for every type (TANDEM_CUDA_INT8=0
  // through CreateBackend).
  bool int8_activations = true;
};

// Unavailable "no CUDA device found: ..." when no GPU is visible.
absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(const CudaBackendOptions& options);

class CudaBackend final : public Backend {
 public:
  ~CudaBackend() override;

  std::string_view name() const override { return "cuda"; }
  int n_threads() const override { return 1; }
  cudaStream_t stream() const { return stream_; }
  // Device pointer to the rows of an activation (tests, the device sampler).
  float* DeviceData(const Activation& a) { return buffers_[a.id].data.as<float>(); }

  absl::StatusOr<WeightHandle> AddWeight(std::string_view name, kernels::GgmlType type, const void* data,
                                         int64_t rows, int64_t cols, bool for_matmul) override;
  absl::StatusOr<Activation> NewActivation(int64_t cols) override;
  absl::Status EnsureRows(Activation& a, int64_t rows) override;
  absl::Status ReserveScratch(int64_t rows) override;
  void SetRope(const RopeConfig& config) override;
  absl::Status InitKvPool(const KvLayout& layout, int64_t max_pages) override;
  size_t KvPageBytes() const override;
  void CopyKvPage(int32_t src, int32_t dst) override;

  void Embed(const WeightHandle& table, std::span<const int32_t> ids, Activation& out) override;
  void RmsNorm(const Activation& x, const WeightHandle& w, float eps, Activation& out) override;
  absl::Status MatMul(const WeightHandle& w, const WeightHandle* bias, const Activation& x,
                      Activation& out) override;
  void SetPositions(std::span<const int32_t> positions) override;
  void Rope(Activation& x, int n_heads) override;
  void StoreKv(int layer, const Activation& k, const Activation& v, std::span<const KvSlot> slots) override;
  void Attention(int layer, const Activation& q, std::span<const AttentionRow> rows, const AttentionShape& shape,
                 Activation& out) override;
  void SiluMul(const Activation& gate, const Activation& up, Activation& out) override;
  void Add(Activation& x, const Activation& y) override;
  void GatherRows(const Activation& x, std::span<const int32_t> rows, Activation& out) override;
  void ReadRows(const Activation& x, int64_t row_begin, int64_t n, float* dst) override;
  float* RowData(const Activation& x) override {
    FlushAdd();  // the pending residual add may write x
    return DeviceData(x);
  }
  absl::Status RunPass(int64_t rows, absl::FunctionRef<absl::Status()> ops) override;

  // For tests and benchmarks: graphs built, graphs updated in place, and
  // passes that fell back to eager launches because recording failed.
  int64_t graph_instantiations() const { return graphs_.instantiations(); }
  int64_t graph_updates() const { return graphs_.updates(); }
  int64_t graph_fallbacks() const { return graph_fallbacks_; }

 private:
  friend absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(const CudaBackendOptions& options);
  CudaBackend() = default;

  struct Weight {
    kernels::cuda::DeviceWeight view;
    cuda::DeviceBuffer data;
  };
  struct Buffer {
    cuda::DeviceBuffer data;
    int64_t capacity_rows = 0;
  };
  // A device copy of a small host array, re-uploaded only when it changes.
  struct Upload {
    std::vector<int32_t> host;
    cuda::DeviceBuffer device;
    uint64_t pass = 0;  // the recorded pass that last uploaded it
  };

  bool Ok() const { return error_.ok(); }
  bool UsesInt8(const kernels::cuda::DeviceWeight& w) const {
    return int8_activations_ && kernels::cuda::HasInt8Kernel(w.type) && w.cols % 256 == 0;
  }
  void Record(absl::Status s) {
    if (error_.ok() && !s.ok()) error_ = std::move(s);
  }
  void Check(cudaError_t err, const char* what);
  void FlushAdd();
  const int32_t* Sync(Upload& u, std::span<const int32_t> data, const char* what);
  // Sync while recording a pass: from pinned staging, into reserved memory.
  const int32_t* SyncRecorded(Upload& u, std::span<const int32_t> data, const char* what);
  // Before recording: room for every description of a `rows`-row pass.
  absl::Status PrepareRecording(int64_t rows);
  const float* WeightF32(const WeightHandle& w) const { return weights_[w.id].data.as<float>(); }

  int device_ = 0;
  int64_t cublas_min_rows_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  absl::Status error_;

  std::vector<Weight> weights_;
  std::vector<Buffer> buffers_;
  cuda::DeviceBuffer gemm_scratch_;  // dequantized weights for the cuBLAS path
  bool int8_activations_ = true;
  cuda::DeviceBuffer int8_scratch_;  // quantized activations of MatVecInt8 (sized by AddWeight)
  // Partial results of the split attention (launch::AttentionSplit) for up
  // to kAttentionScratchRows rows at a time; reserved before a recording
  // from the widest activation (a bound on n_head * head_dim), since the
  // head shape arrives only with the Attention call.
  absl::Status ReserveAttentionScratch(int64_t rows, int64_t q_cols);
  cuda::DeviceBuffer attn_scratch_;
  int64_t max_activation_cols_ = 0;

  struct PendingAdd {
    int32_t x = -1, y = -1;
    int64_t n = 0;
  } pending_;

  RopeConfig rope_;
  cuda::DeviceBuffer inv_freq_, rope_cos_, rope_sin_;
  int64_t rope_rows_capacity_ = 0;

  KvLayout kv_layout_;
  cuda::DeviceBuffer kv_;
  size_t page_elems_ = 0;
  int64_t kv_pages_ = 0;

  Upload ids_, positions_, slots_, row_desc_, pages_, gather_;

  bool graphs_enabled_ = true;
  int64_t graph_max_rows_ = 16;
  bool recording_ = false;
  uint64_t pass_ = 0;  // number of the pass being recorded
  int64_t graph_fallbacks_ = 0;
  cuda::StagingArena staging_;
  cuda::PassGraphs graphs_;  // after staging_: destroyed first
  std::vector<int32_t> slot_pairs_, desc_host_, pages_host_;
};

}  // namespace tandem::runtime
