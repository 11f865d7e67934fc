#include "runtime/backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/dequantize.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/launch.h"

namespace tandem::runtime {
namespace {

using kernels::cuda::CudaStatus;
namespace launch = kernels::cuda::launch;

absl::Status CublasStatus(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": cuBLAS status ", static_cast<int>(s)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(const CudaBackendOptions& options) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    return absl::UnavailableError(absl::StrCat(
        "no CUDA device found: ", err != cudaSuccess ? cudaGetErrorString(err) : "the driver reports 0 devices"));
  }
  if (options.device < 0 || options.device >= count) {
    return absl::InvalidArgumentError(absl::StrCat("CUDA device ", options.device, " does not exist (", count,
                                                   " visible)"));
  }
  if (options.cublas_min_rows < 0) return absl::InvalidArgumentError("cublas_min_rows must be >= 0");
  std::unique_ptr<CudaBackend> b(new CudaBackend());
  b->device_ = options.device;
  b->cublas_min_rows_ = options.cublas_min_rows;
  b->graphs_enabled_ = options.cuda_graphs;
  b->graph_max_rows_ = options.graph_max_rows;
  b->int8_activations_ = options.int8_activations;
  if (absl::Status s = CudaStatus(cudaSetDevice(b->device_), "cudaSetDevice"); !s.ok()) return s;
  if (absl::Status s = CudaStatus(cudaStreamCreateWithFlags(&b->stream_, cudaStreamNonBlocking), "cudaStreamCreate");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CublasStatus(cublasCreate(&b->cublas_), "cublasCreate"); !s.ok()) return s;
  if (absl::Status s = CublasStatus(cublasSetStream(b->cublas_, b->stream_), "cublasSetStream"); !s.ok()) return s;
  return std::unique_ptr<Backend>(std::move(b));
}

CudaBackend::~CudaBackend() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void CudaBackend::Check(cudaError_t err, const char* what) { Record(CudaStatus(err, what)); }

const int32_t* CudaBackend::Sync(Upload& u, std::span<const int32_t> data, const char* what) {
  if (recording_) return SyncRecorded(u, data, what);
  const size_t bytes = data.size() * sizeof(int32_t);
  const bool same = u.host.size() == data.size() && u.device.bytes() >= bytes &&
                    (bytes == 0 || std::memcmp(u.host.data(), data.data(), bytes) == 0);
  if (same) return u.device.as<int32_t>();
  if (u.device.bytes() < bytes) {
    absl::StatusOr<cuda::DeviceBuffer> buf = cuda::DeviceBuffer::Allocate(std::max<size_t>(2 * bytes, 4096), what);
    if (!buf.ok()) {
      Record(buf.status());
      return nullptr;
    }
    u.device = std::move(*buf);
  }
  u.host.assign(data.begin(), data.end());
  // From pageable memory: returns once the bytes are staged, and the stream
  // orders the copy after every kernel still reading the previous contents.
  if (bytes > 0) Check(cudaMemcpyAsync(u.device.get(), u.host.data(), bytes, cudaMemcpyHostToDevice, stream_), what);
  return u.device.as<int32_t>();
}

const int32_t* CudaBackend::SyncRecorded(Upload& u, std::span<const int32_t> data, const char* what) {
  const size_t bytes = data.size() * sizeof(int32_t);
  // The same description again in this pass (every layer passes the same
  // slots and pages): the recorded copy already holds it.
  if (u.pass == pass_ && u.host.size() == data.size() &&
      (bytes == 0 || std::memcmp(u.host.data(), data.data(), bytes) == 0)) {
    return u.device.as<int32_t>();
  }
  if (u.device.bytes() < bytes) {
    // PrepareRecording reserves enough; allocating now would fail the capture.
    Record(absl::InternalError(absl::StrCat(what, ": ", bytes, " bytes exceed the pass reservation")));
    return nullptr;
  }
  // Always copied on the first use in a pass, changed or not, so the graph
  // has the same nodes every step and updates in place.
  absl::StatusOr<void*> staged = staging_.Take(bytes);
  if (!staged.ok()) {
    Record(staged.status());
    return nullptr;
  }
  if (bytes > 0) std::memcpy(*staged, data.data(), bytes);
  u.host.assign(data.begin(), data.end());
  u.pass = pass_;
  if (bytes > 0) Check(cudaMemcpyAsync(u.device.get(), *staged, bytes, cudaMemcpyHostToDevice, stream_), what);
  return u.device.as<int32_t>();
}

absl::Status CudaBackend::PrepareRecording(int64_t rows) {
  // The previous graph still reads the staging memory until it finishes.
  if (absl::Status s = staging_.WaitIdleAndReset(); !s.ok()) return s;
  const size_t r = static_cast<size_t>(rows);
  const size_t table = static_cast<size_t>(std::max<int64_t>(kv_pages_, 1));
  const std::pair<Upload*, size_t> need[] = {
      {&ids_, r}, {&positions_, r}, {&slots_, 2 * r}, {&row_desc_, 2 * r}, {&pages_, r * table}};
  size_t total = 0;
  for (const auto& [u, count] : need) {
    const size_t bytes = count * sizeof(int32_t);
    total += (bytes + 15) / 16 * 16;
    if (u->device.bytes() >= bytes) continue;
    absl::StatusOr<cuda::DeviceBuffer> buf = cuda::DeviceBuffer::Allocate(std::max<size_t>(bytes, 4096), "pass upload");
    if (!buf.ok()) return buf.status();
    u->device = std::move(*buf);
    u->host.clear();  // the new buffer holds nothing yet
  }
  if (rows > rope_rows_capacity_) {
    if (absl::Status s = ReserveScratch(rows); !s.ok()) return s;
  }
  // n_head <= q_cols / 32 (head_dim is a multiple of 32), so this bounds the
  // split attention's scratch whatever the heads are.
  if (absl::Status s = ReserveAttentionScratch(rows, max_activation_cols_); !s.ok()) return s;
  // Twice the single-upload total: a description that changes inside a pass
  // is staged again.
  return staging_.Reserve(2 * total);
}

absl::Status CudaBackend::RunPass(int64_t rows, absl::FunctionRef<absl::Status()> ops) {
  cudaSetDevice(device_);
  FlushAdd();
  if (!Ok()) return error_;
  if (!graphs_enabled_ || rows > graph_max_rows_ || !graphs_.Enabled(rows)) return ops();
  if (absl::Status s = PrepareRecording(rows); !s.ok()) return s;
  ++pass_;
  absl::Status recorded = graphs_.Begin(stream_);
  if (recorded.ok()) {
    recording_ = true;
    absl::Status body = ops();
    FlushAdd();  // the pass' last residual add belongs in the graph
    recording_ = false;
    if (body.ok() && Ok()) {
      recorded = graphs_.EndAndLaunch(stream_, rows);
    } else {
      graphs_.Abandon(stream_);
      recorded = body.ok() ? error_ : body;
    }
    if (recorded.ok()) return staging_.MarkInUse(stream_);
  }
  // Recording failed (an op that cannot be captured, a capture-unsafe call,
  // or the ops' own error): nothing of the pass ran. Forget what the
  // recording claimed to have uploaded or deferred, and run it eagerly,
  // which also reports a genuine error of the ops again.
  cudaGetLastError();
  error_ = absl::OkStatus();
  pending_ = PendingAdd{};
  for (Upload* u : {&ids_, &positions_, &slots_, &row_desc_, &pages_, &gather_}) u->host.clear();
  graphs_.Disable(rows);
  ++graph_fallbacks_;
  return ops();
}

absl::StatusOr<WeightHandle> CudaBackend::AddWeight(std::string_view name, kernels::GgmlType type, const void* data,
                                                    int64_t rows, int64_t cols, bool for_matmul) {
  cudaSetDevice(device_);
  const size_t row_bytes = kernels::RowBytes(type, cols);
  if (row_bytes == 0 || rows <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", std::string(name), ": ", cols, " columns is not a whole number of blocks"));
  }
  Weight w;
  const bool raw = for_matmul && kernels::cuda::HasDeviceKernel(type);
  if (for_matmul && cols % 32 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", std::string(name), ": the CUDA kernels need a multiple of 32 columns, got ", cols));
  }
  std::vector<float> widened;
  const void* src = data;
  size_t src_row_bytes = row_bytes;
  kernels::GgmlType dtype = type;
  if (!raw && type != kernels::GgmlType::kF32) {
    // Norm weights, biases and types without device kernels: fp32 once.
    widened.resize(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
      if (!kernels::DequantizeRow(type, static_cast<const uint8_t*>(data) + r * row_bytes, widened.data() + r * cols,
                                  cols)) {
        return absl::UnimplementedError(absl::StrCat("tensor ", std::string(name), ": cannot dequantize its type"));
      }
    }
    src = widened.data();
    src_row_bytes = static_cast<size_t>(cols) * sizeof(float);
    dtype = kernels::GgmlType::kF32;
  }
  const size_t bytes = src_row_bytes * static_cast<size_t>(rows);
  absl::StatusOr<cuda::DeviceBuffer> buf = cuda::DeviceBuffer::Allocate(bytes, "a weight");
  if (!buf.ok()) return absl::Status(buf.status().code(), absl::StrCat("tensor ", std::string(name), ": ",
                                                                       buf.status().message()));
  w.data = std::move(*buf);
  if (absl::Status s = CudaStatus(cudaMemcpy(w.data.get(), src, bytes, cudaMemcpyHostToDevice),
                                  "uploading a weight");
      !s.ok()) {
    return s;
  }
  w.view = kernels::cuda::DeviceWeight{dtype, w.data.get(), rows, cols, src_row_bytes};
  if (UsesInt8(w.view) && kernels::cuda::Int8ScratchBytes(cols) > int8_scratch_.bytes()) {
    absl::StatusOr<cuda::DeviceBuffer> q =
        cuda::DeviceBuffer::Allocate(kernels::cuda::Int8ScratchBytes(cols), "the int8 activation scratch");
    if (!q.ok()) return q.status();
    int8_scratch_ = std::move(*q);
  }
  weights_.push_back(std::move(w));
  return WeightHandle{static_cast<int32_t>(weights_.size() - 1), rows, cols, dtype};
}

absl::StatusOr<Activation> CudaBackend::NewActivation(int64_t cols) {
  if (cols <= 0) return absl::InvalidArgumentError("activation needs a positive column count");
  max_activation_cols_ = std::max(max_activation_cols_, cols);
  buffers_.push_back(Buffer{});
  return Activation{static_cast<int32_t>(buffers_.size() - 1), 0, cols};
}

absl::Status CudaBackend::EnsureRows(Activation& a, int64_t rows) {
  if (!error_.ok()) return error_;
  cudaSetDevice(device_);
  Buffer& b = buffers_[a.id];
  if (rows > b.capacity_rows) {
    FlushAdd();
    absl::StatusOr<cuda::DeviceBuffer> nb =
        cuda::DeviceBuffer::Allocate(static_cast<size_t>(rows * a.cols) * sizeof(float), "an activation");
    if (!nb.ok()) return nb.status();
    // Keep the contents like the CPU backend's resize does.
    if (b.capacity_rows > 0) {
      Check(cudaMemcpyAsync(nb->get(), b.data.get(), static_cast<size_t>(b.capacity_rows * a.cols) * sizeof(float),
                            cudaMemcpyDeviceToDevice, stream_),
            "growing an activation");
      Check(cudaStreamSynchronize(stream_), "growing an activation");
    }
    b.data = std::move(*nb);
    b.capacity_rows = rows;
  }
  a.rows = rows;
  return error_;
}

absl::Status CudaBackend::ReserveScratch(int64_t rows) {
  cudaSetDevice(device_);
  const size_t half = static_cast<size_t>(rope_.rot_dim / 2);
  if (rows > rope_rows_capacity_ && half > 0) {
    absl::StatusOr<cuda::DeviceBuffer> c = cuda::DeviceBuffer::Allocate(rows * half * sizeof(float), "rope tables");
    if (!c.ok()) return c.status();
    absl::StatusOr<cuda::DeviceBuffer> s = cuda::DeviceBuffer::Allocate(rows * half * sizeof(float), "rope tables");
    if (!s.ok()) return s.status();
    rope_cos_ = std::move(*c);
    rope_sin_ = std::move(*s);
    rope_rows_capacity_ = rows;
  }
  if (cublas_min_rows_ > 0) {
    size_t need = 0;
    for (const Weight& w : weights_) {
      need = std::max(need, static_cast<size_t>(w.view.rows * w.view.cols) * sizeof(float));
    }
    if (need > gemm_scratch_.bytes()) {
      absl::StatusOr<cuda::DeviceBuffer> g = cuda::DeviceBuffer::Allocate(need, "the cuBLAS weight scratch");
      if (!g.ok()) return g.status();
      gemm_scratch_ = std::move(*g);
    }
  }
  return error_;
}

namespace {
constexpr int64_t kAttentionScratchRows = 64;
}  // namespace

absl::Status CudaBackend::ReserveAttentionScratch(int64_t rows, int64_t q_cols) {
  const int64_t n = std::min(rows, kAttentionScratchRows);
  // floats per row: splits * (n_head * head_dim + 2 * n_head), n_head <= q_cols / 32.
  const size_t need = static_cast<size_t>(n) * launch::kAttentionSplits *
                      static_cast<size_t>(q_cols + 2 * (q_cols / 32 + 1)) * sizeof(float);
  if (need <= attn_scratch_.bytes()) return absl::OkStatus();
  if (recording_) {
    return absl::InternalError(absl::StrCat("attention scratch of ", need, " bytes exceeds the pass reservation"));
  }
  absl::StatusOr<cuda::DeviceBuffer> b = cuda::DeviceBuffer::Allocate(need, "the attention scratch");
  if (!b.ok()) return b.status();
  attn_scratch_ = std::move(*b);
  return absl::OkStatus();
}

void CudaBackend::SetRope(const RopeConfig& config) {
  cudaSetDevice(device_);
  rope_ = config;
  absl::StatusOr<cuda::DeviceBuffer> f =
      cuda::DeviceBuffer::Allocate(std::max<size_t>(1, config.inv_freq.size()) * sizeof(float), "rope frequencies");
  if (!f.ok()) {
    Record(f.status());
    return;
  }
  inv_freq_ = std::move(*f);
  if (!config.inv_freq.empty()) {
    Check(cudaMemcpy(inv_freq_.get(), config.inv_freq.data(), config.inv_freq.size() * sizeof(float),
                     cudaMemcpyHostToDevice),
          "uploading rope frequencies");
  }
}

absl::Status CudaBackend::InitKvPool(const KvLayout& layout, int64_t max_pages) {
  cudaSetDevice(device_);
  if (layout.page_tokens <= 0 || layout.page_tokens > 256 || layout.kv_dim <= 0 || layout.n_layers <= 0 ||
      max_pages <= 0) {
    return absl::InvalidArgumentError("bad KV layout");
  }
  kv_layout_ = layout;
  page_elems_ = static_cast<size_t>(layout.n_layers) * 2 * layout.page_tokens * layout.kv_dim;
  kv_pages_ = max_pages;
  // Device memory is committed up front (the CPU backend commits lazily).
  absl::StatusOr<cuda::DeviceBuffer> kv =
      cuda::DeviceBuffer::Allocate(page_elems_ * sizeof(uint16_t) * static_cast<size_t>(max_pages), "the KV cache");
  if (!kv.ok()) return kv.status();
  kv_ = std::move(*kv);
  return absl::OkStatus();
}

size_t CudaBackend::KvPageBytes() const {
  return static_cast<size_t>(kv_layout_.n_layers) * 2 * kv_layout_.page_tokens * kv_layout_.kv_dim *
         sizeof(uint16_t);
}

void CudaBackend::CopyKvPage(int32_t src, int32_t dst) {
  cudaSetDevice(device_);
  uint16_t* base = kv_.as<uint16_t>();
  Check(cudaMemcpyAsync(base + static_cast<size_t>(dst) * page_elems_, base + static_cast<size_t>(src) * page_elems_,
                        page_elems_ * sizeof(uint16_t), cudaMemcpyDeviceToDevice, stream_),
        "copying a KV page");
}

void CudaBackend::FlushAdd() {
  if (pending_.x < 0) return;
  if (Ok()) {
    Check(launch::Add(buffers_[pending_.x].data.as<float>(), buffers_[pending_.y].data.as<float>(), pending_.n,
                      stream_),
          "Add kernel");
  }
  pending_ = PendingAdd{};
}

void CudaBackend::Embed(const WeightHandle& table, std::span<const int32_t> ids, Activation& out) {
  cudaSetDevice(device_);
  FlushAdd();
  const int32_t* d_ids = Sync(ids_, ids, "token ids");
  if (!Ok()) return;
  Record(kernels::cuda::DequantizeRows(weights_[table.id].view, d_ids, static_cast<int64_t>(ids.size()),
                                       DeviceData(out), out.cols, stream_));
}

void CudaBackend::RmsNorm(const Activation& x, const WeightHandle& w, float eps, Activation& out) {
  cudaSetDevice(device_);
  const bool fuse = pending_.x == x.id;
  const float* residual = fuse ? buffers_[pending_.y].data.as<float>() : nullptr;
  if (fuse) {
    pending_ = PendingAdd{};
  } else {
    FlushAdd();
  }
  if (!Ok()) return;
  float* xs = DeviceData(x);
  Check(launch::RmsNorm(xs, residual, xs, WeightF32(w), eps, x.rows, x.cols, DeviceData(out), stream_),
        "RmsNorm kernel");
}

absl::Status CudaBackend::MatMul(const WeightHandle& w, const WeightHandle* bias, const Activation& x,
                                 Activation& out) {
  cudaSetDevice(device_);
  FlushAdd();
  if (!Ok()) return error_;
  const kernels::cuda::DeviceWeight& view = weights_[w.id].view;
  const float* b = bias != nullptr ? WeightF32(*bias) : nullptr;
  if (cublas_min_rows_ > 0 && x.rows >= cublas_min_rows_ && gemm_scratch_.bytes() >= static_cast<size_t>(
                                                                                         view.rows * view.cols) *
                                                                                         sizeof(float)) {
    // y^T (rows_w x m, column-major) = W (row-major rows_w x cols) . x^T.
    float* wf = gemm_scratch_.as<float>();
    if (absl::Status s = kernels::cuda::DequantizeRows(view, nullptr, view.rows, wf, view.cols, stream_); !s.ok()) {
      return s;
    }
    const float one = 1.0f, zero = 0.0f;
    if (absl::Status s = CublasStatus(
            cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(view.rows), static_cast<int>(x.rows),
                        static_cast<int>(view.cols), &one, wf, static_cast<int>(view.cols), DeviceData(x),
                        static_cast<int>(x.cols), &zero, DeviceData(out), static_cast<int>(out.cols)),
            "cublasSgemm");
        !s.ok()) {
      return s;
    }
    if (b != nullptr) Check(launch::AddBias(DeviceData(out), x.rows, out.cols, b, view.rows, stream_), "bias add");
    return error_;
  }
  if (UsesInt8(view)) {
    return kernels::cuda::MatVecInt8(view, DeviceData(x), x.rows, x.cols, DeviceData(out), out.cols, b,
                                     int8_scratch_.get(), int8_scratch_.bytes(), stream_);
  }
  return kernels::cuda::MatVec(view, DeviceData(x), x.rows, x.cols, DeviceData(out), out.cols, b, stream_);
}

void CudaBackend::SetPositions(std::span<const int32_t> positions) {
  cudaSetDevice(device_);
  FlushAdd();
  const int half = rope_.rot_dim / 2;
  const int64_t rows = static_cast<int64_t>(positions.size());
  if (rows > rope_rows_capacity_) Record(ReserveScratch(rows));  // only when a caller skipped ReserveScratch
  const int32_t* d_pos = Sync(positions_, positions, "positions");
  if (!Ok() || half == 0) return;
  Check(launch::RopeTables(d_pos, rows, inv_freq_.as<float>(), half, rope_.position_scale, rope_cos_.as<float>(),
                           rope_sin_.as<float>(), stream_),
        "rope tables kernel");
}

void CudaBackend::Rope(Activation& x, int n_heads) {
  cudaSetDevice(device_);
  FlushAdd();
  if (!Ok()) return;
  Check(launch::Rope(DeviceData(x), x.rows, x.cols, n_heads, rope_.head_dim, rope_.rot_dim / 2,
                     rope_.style == RopeStyle::kAdjacentPairs, rope_cos_.as<float>(), rope_sin_.as<float>(), stream_),
        "Rope kernel");
}

void CudaBackend::StoreKv(int layer, const Activation& k, const Activation& v, std::span<const KvSlot> slots) {
  cudaSetDevice(device_);
  FlushAdd();
  slot_pairs_.resize(2 * slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    slot_pairs_[2 * i] = slots[i].page;
    slot_pairs_[2 * i + 1] = slots[i].slot;
  }
  const int32_t* d_slots = Sync(slots_, slot_pairs_, "KV slots");
  if (!Ok()) return;
  const int kv_dim = kv_layout_.kv_dim;
  const size_t layer_off = static_cast<size_t>(layer) * 2 * kv_layout_.page_tokens * kv_dim;
  const size_t v_off = static_cast<size_t>(kv_layout_.page_tokens) * kv_dim;
  Check(launch::StoreKv(DeviceData(k), k.cols, DeviceData(v), v.cols, d_slots, static_cast<int64_t>(slots.size()),
                        kv_.as<uint16_t>(), page_elems_, layer_off, v_off, kv_dim, stream_),
        "StoreKv kernel");
}

void CudaBackend::Attention(int layer, const Activation& q, std::span<const AttentionRow> rows,
                            const AttentionShape& shape, Activation& out) {
  cudaSetDevice(device_);
  FlushAdd();
  // Rows of one session share its page table (same pointer): upload each
  // table once, long enough for the longest of its rows.
  const int pt = kv_layout_.page_tokens;
  std::vector<std::pair<const int32_t*, int32_t>> tables;  // (table, max n_ctx)
  for (const AttentionRow& r : rows) {
    auto it = std::find_if(tables.begin(), tables.end(), [&](const auto& t) { return t.first == r.pages; });
    if (it == tables.end()) {
      tables.emplace_back(r.pages, r.n_ctx);
    } else {
      it->second = std::max(it->second, r.n_ctx);
    }
  }
  pages_host_.clear();
  std::vector<int32_t> offsets(tables.size());
  for (size_t t = 0; t < tables.size(); ++t) {
    offsets[t] = static_cast<int32_t>(pages_host_.size());
    const int32_t n_pages = (tables[t].second + pt - 1) / pt;
    pages_host_.insert(pages_host_.end(), tables[t].first, tables[t].first + n_pages);
  }
  desc_host_.resize(2 * rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    size_t t = 0;
    while (tables[t].first != rows[i].pages) ++t;
    desc_host_[2 * i] = offsets[t];
    desc_host_[2 * i + 1] = rows[i].n_ctx;
  }
  const int32_t* d_pages = Sync(pages_, pages_host_, "page tables");
  const int32_t* d_desc = Sync(row_desc_, desc_host_, "attention rows");
  if (!Ok()) return;
  const int kv_dim = kv_layout_.kv_dim;
  const size_t layer_off = static_cast<size_t>(layer) * 2 * pt * kv_dim;
  const size_t v_off = static_cast<size_t>(pt) * kv_dim;
  const int64_t n_rows = static_cast<int64_t>(rows.size());
  if (shape.head_dim % 32 != 0) {
    // The split kernel hands each lane whole 32-dimension runs; other head
    // sizes take the per-(row, head) kernel (same contract, slower).
    Check(launch::Attention(DeviceData(q), q.cols, n_rows, d_desc, d_pages, kv_.as<uint16_t>(), page_elems_,
                            layer_off, v_off, kv_dim, pt, shape.n_head, shape.n_head_kv, shape.head_dim, shape.scale,
                            DeviceData(out), out.cols, stream_),
          "Attention kernel");
    return;
  }
  Record(ReserveAttentionScratch(n_rows, static_cast<int64_t>(shape.n_head) * shape.head_dim));
  if (!Ok()) return;
  const int64_t scratch_rows = std::max<int64_t>(1, std::min(n_rows, kAttentionScratchRows));
  Check(launch::AttentionSplit(DeviceData(q), q.cols, n_rows, d_desc, d_pages, kv_.as<uint16_t>(), page_elems_,
                               layer_off, v_off, kv_dim, pt, shape.n_head, shape.n_head_kv, shape.head_dim,
                               shape.scale, DeviceData(out), out.cols, attn_scratch_.as<float>(), scratch_rows,
                               stream_),
        "AttentionSplit kernels");
}

void CudaBackend::SiluMul(const Activation& gate, const Activation& up, Activation& out) {
  cudaSetDevice(device_);
  FlushAdd();
  if (!Ok()) return;
  Check(launch::SiluMul(DeviceData(gate), DeviceData(up), DeviceData(out), gate.rows * gate.cols, stream_),
        "SiluMul kernel");
}

void CudaBackend::Add(Activation& x, const Activation& y) {
  cudaSetDevice(device_);
  FlushAdd();
  pending_ = PendingAdd{x.id, y.id, x.rows * x.cols};
}

void CudaBackend::GatherRows(const Activation& x, std::span<const int32_t> rows, Activation& out) {
  cudaSetDevice(device_);
  FlushAdd();
  const int32_t* d_rows = Sync(gather_, rows, "gathered rows");
  if (!Ok()) return;
  Check(launch::GatherRows(DeviceData(x), x.cols, d_rows, static_cast<int64_t>(rows.size()), x.cols, DeviceData(out),
                           out.cols, stream_),
        "GatherRows kernel");
}

void CudaBackend::ReadRows(const Activation& x, int64_t row_begin, int64_t n, float* dst) {
  cudaSetDevice(device_);
  FlushAdd();
  const size_t count = static_cast<size_t>(n * x.cols);
  if (Ok()) {
    Check(cudaMemcpyAsync(dst, DeviceData(x) + row_begin * x.cols, count * sizeof(float), cudaMemcpyDeviceToHost,
                          stream_),
          "reading rows");
    Check(cudaStreamSynchronize(stream_), "reading rows");
  }
  // ReadRows cannot return the error: hand back NaN rows, which the samplers
  // reject, instead of stale numbers; the next MatMul returns the Status.
  if (!Ok()) std::fill(dst, dst + count, std::numeric_limits<float>::quiet_NaN());
}

}  // namespace tandem::runtime
