// The CPU implementation of the compute-backend interface. Weights are
// zero-copy views into the GGUF mapping (small non-fp32 vectors are widened
// once at load), matrix products run on kernels/cpu, the KV pool is one lazily
// committed anonymous mapping of fp16 pages, and all parallel work goes
// through one ThreadPool owned by the backend (so one per Model).
#pragma once

#include <memory>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/thread_pool.h"
#include "runtime/backend/backend.h"

namespace tandem::runtime {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads);
  ~CpuBackend() override;

  std::string_view name() const override { return "cpu"; }
  int n_threads() const override;

  absl::StatusOr<WeightHandle> AddWeight(std::string_view name, kernels::GgmlType type,
                                         const void* data, int64_t rows, int64_t cols,
                                         bool for_matmul) override;
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
  absl::Status MatMulMulti(std::span<const WeightHandle* const> ws, std::span<const WeightHandle* const> biases,
                           const Activation& x, std::span<Activation* const> outs) override;
  void SetPositions(std::span<const int32_t> positions) override;
  void Rope(Activation& x, int n_heads) override;
  void StoreKv(int layer, const Activation& k, const Activation& v,
               std::span<const KvSlot> slots) override;
  void Attention(int layer, const Activation& q, std::span<const AttentionRow> rows,
                 const AttentionShape& shape, Activation& out) override;
  void SiluMul(const Activation& gate, const Activation& up, Activation& out) override;
  void Add(Activation& x, const Activation& y) override;
  void GatherRows(const Activation& x, std::span<const int32_t> rows, Activation& out) override;
  void ReadRows(const Activation& x, int64_t row_begin, int64_t n, float* dst) override;
  float* RowData(const Activation& x) override { return Data(x); }

 private:
  struct Weight {
    kernels::WeightView view;
    std::vector<float> owned;  // widened copy for non-fp32 elementwise weights
  };
  struct Buffer {
    std::vector<float> data;
    int64_t capacity_rows = 0;
  };

  float* Data(const Activation& a) { return buffers_[a.id].data.data(); }
  const float* Data(const Activation& a) const { return buffers_[a.id].data.data(); }
  const float* WeightF32(const WeightHandle& w) const {
    return static_cast<const float*>(weights_[w.id].view.data);
  }
  uint16_t* PageBase(int32_t page) const { return kv_base_ + static_cast<size_t>(page) * page_elems_; }

  kernels::ThreadPool pool_;
  kernels::MatMulWorkspace ws_;
  std::vector<Weight> weights_;
  std::vector<Buffer> buffers_;

  RopeConfig rope_;
  std::vector<float> rope_cos_, rope_sin_;  // [rows x rot_dim/2] for the current pass
  int64_t rope_rows_ = 0;

  KvLayout kv_layout_;
  uint16_t* kv_base_ = nullptr;  // fp16 pages
  size_t kv_map_bytes_ = 0;
  size_t page_elems_ = 0;  // fp16 elements per page
  int64_t kv_pages_ = 0;
};

}  // namespace tandem::runtime
