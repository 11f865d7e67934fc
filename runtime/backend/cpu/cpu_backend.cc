#include "runtime/backend/cpu/cpu_backend.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/ops.h"
#include "runtime/backend/cpu/attention_kernels.h"

namespace tandem::runtime {
namespace {

// Below this many rows the elementwise ops run inline: a pool dispatch costs
// more than normalizing one 576-wide row.
constexpr int64_t kParallelRows = 4;

int ResolveThreads(int n) {
  if (n > 0) return n;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// f(begin, end) over [0, n) in pieces of `grain` items claimed from an
// atomic counter through RunDynamic: on a shared machine a worker that the
// scheduler has not run yet is skipped instead of waited for (a static split
// makes every decode step wait a time slice for it, once per layer). Every
// item is computed by the same code whichever thread claims it, so results do
// not depend on the split.
template <typename F>
void ParallelForDynamic(kernels::ThreadPool& pool, int64_t n, int64_t grain, F&& f) {
  struct Ctx {
    std::remove_reference_t<F>* f;
    int64_t n, grain;
    alignas(64) std::atomic<int64_t> next{0};
  } ctx{&f, n, grain};
  pool.RunDynamic(
      [](void* p, int, int) {
        auto* c = static_cast<Ctx*>(p);
        for (;;) {
          const int64_t b = c->next.fetch_add(c->grain, std::memory_order_relaxed);
          if (b >= c->n) return;
          (*c->f)(b, std::min(c->n, b + c->grain));
        }
      },
      &ctx);
}

template <typename F>
void ForRows(kernels::ThreadPool& pool, int64_t rows, F&& f) {
  if (rows < kParallelRows || pool.size() == 1) {
    f(0, rows);
  } else {
    // About four pieces per thread: balance without counter traffic.
    const int64_t grain = std::max<int64_t>(1, rows / (4 * pool.size()));
    ParallelForDynamic(pool, rows, grain, std::forward<F>(f));
  }
}

}  // namespace

CpuBackend::CpuBackend(int n_threads) : pool_(ResolveThreads(n_threads)) {}

CpuBackend::~CpuBackend() {
  if (kv_base_ != nullptr) munmap(kv_base_, kv_map_bytes_);
}

int CpuBackend::n_threads() const { return pool_.size(); }

absl::StatusOr<WeightHandle> CpuBackend::AddWeight(std::string_view name, kernels::GgmlType type,
                                                   const void* data, int64_t rows, int64_t cols,
                                                   bool for_matmul) {
  const size_t row_bytes = kernels::RowBytes(type, cols);
  if (row_bytes == 0 || rows <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", std::string(name), ": ", cols, " columns is not a whole number of blocks"));
  }
  Weight w;
  w.view = kernels::WeightView{type, data, rows, cols, row_bytes};
  if (!for_matmul && type != kernels::GgmlType::kF32) {
    // Norm weights and biases are read elementwise in fp32: widen them once.
    w.owned.resize(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
      if (!kernels::DequantizeRow(type, static_cast<const uint8_t*>(data) + r * row_bytes,
                                  w.owned.data() + r * cols, cols)) {
        return absl::UnimplementedError(absl::StrCat("tensor ", std::string(name), ": cannot dequantize its type"));
      }
    }
    w.view = kernels::WeightView{kernels::GgmlType::kF32, w.owned.data(), rows, cols,
                                 static_cast<size_t>(cols) * sizeof(float)};
  }
  weights_.push_back(std::move(w));
  return WeightHandle{static_cast<int32_t>(weights_.size() - 1), rows, cols,
                      weights_.back().view.type};
}

absl::StatusOr<Activation> CpuBackend::NewActivation(int64_t cols) {
  if (cols <= 0) return absl::InvalidArgumentError("activation needs a positive column count");
  buffers_.push_back(Buffer{});
  return Activation{static_cast<int32_t>(buffers_.size() - 1), 0, cols};
}

absl::Status CpuBackend::EnsureRows(Activation& a, int64_t rows) {
  Buffer& b = buffers_[a.id];
  if (rows > b.capacity_rows) {
    b.data.resize(static_cast<size_t>(rows * a.cols));
    b.capacity_rows = rows;
  }
  a.rows = rows;
  return absl::OkStatus();
}

absl::Status CpuBackend::ReserveScratch(int64_t rows) {
  size_t bytes = 0;
  for (const Weight& w : weights_) {
    if (w.owned.empty()) bytes = std::max(bytes, kernels::MatMulWorkspaceBytes(w.view, rows));
  }
  ws_.Reserve(bytes);
  const size_t half = static_cast<size_t>(rope_.rot_dim / 2);
  if (rope_cos_.size() < rows * half) {
    rope_cos_.resize(rows * half);
    rope_sin_.resize(rows * half);
  }
  return absl::OkStatus();
}

void CpuBackend::SetRope(const RopeConfig& config) { rope_ = config; }

absl::Status CpuBackend::InitKvPool(const KvLayout& layout, int64_t max_pages) {
  if (layout.page_tokens <= 0 || layout.page_tokens > 256 || layout.kv_dim <= 0 ||
      layout.n_layers <= 0 || max_pages <= 0) {
    return absl::InvalidArgumentError("bad KV layout");
  }
  if (kv_base_ != nullptr) munmap(kv_base_, kv_map_bytes_);
  kv_layout_ = layout;
  page_elems_ = static_cast<size_t>(layout.n_layers) * 2 * layout.page_tokens * layout.kv_dim;
  kv_pages_ = max_pages;
  kv_map_bytes_ = page_elems_ * sizeof(uint16_t) * static_cast<size_t>(max_pages);
  // Anonymous mappings are committed page by page on first touch, so the
  // budget costs address space, not memory, until sessions fill it.
  void* p = mmap(nullptr, kv_map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) {
    kv_base_ = nullptr;
    return absl::ResourceExhaustedError(absl::StrCat("cannot map ", kv_map_bytes_, " bytes of KV cache"));
  }
  kv_base_ = static_cast<uint16_t*>(p);
  return absl::OkStatus();
}

size_t CpuBackend::KvPageBytes() const {
  return static_cast<size_t>(kv_layout_.n_layers) * 2 * kv_layout_.page_tokens * kv_layout_.kv_dim *
         sizeof(uint16_t);
}

void CpuBackend::CopyKvPage(int32_t src, int32_t dst) {
  std::memcpy(PageBase(dst), PageBase(src), page_elems_ * sizeof(uint16_t));
}

void CpuBackend::Embed(const WeightHandle& table, std::span<const int32_t> ids, Activation& out) {
  const kernels::WeightView& w = weights_[table.id].view;
  float* y = Data(out);
  const int64_t cols = w.cols;
  ForRows(pool_, static_cast<int64_t>(ids.size()), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      kernels::DequantizeRow(w.type, static_cast<const uint8_t*>(w.data) + ids[i] * w.row_bytes,
                             y + i * cols, cols);
    }
  });
}

void CpuBackend::RmsNorm(const Activation& x, const WeightHandle& w, float eps, Activation& out) {
  const float* xs = Data(x);
  float* ys = Data(out);
  const float* g = WeightF32(w);
  const int64_t n = x.cols;
  ForRows(pool_, x.rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = xs + r * n;
      float* yr = ys + r * n;
      float ss = 0.0f;
      for (int64_t j = 0; j < n; ++j) ss += xr[j] * xr[j];
      const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
      for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] * inv * g[j];
    }
  });
}

absl::Status CpuBackend::MatMulMulti(std::span<const WeightHandle* const> ws,
                                     std::span<const WeightHandle* const> biases, const Activation& x,
                                     std::span<Activation* const> outs) {
  const size_t n = ws.size();
  bool fusable = n >= 1 && n <= static_cast<size_t>(kernels::kMaxMatMulParts) && biases.size() == n &&
                 outs.size() == n;
  kernels::WeightView views[kernels::kMaxMatMulParts];
  float* ys[kernels::kMaxMatMulParts];
  int64_t ldys[kernels::kMaxMatMulParts];
  for (size_t j = 0; fusable && j < n; ++j) {
    views[j] = weights_[ws[j]->id].view;
    ys[j] = Data(*outs[j]);
    ldys[j] = outs[j]->cols;
    fusable = views[j].type == views[0].type && views[j].cols == views[0].cols;
  }
  if (!fusable) return Backend::MatMulMulti(ws, biases, x, outs);
  if (!kernels::MatMulMulti(std::span<const kernels::WeightView>(views, n), Data(x), x.rows, x.cols,
                            std::span<float* const>(ys, n), std::span<const int64_t>(ldys, n), ws_, pool_)) {
    return absl::UnimplementedError(absl::StrCat("no matmul kernel for weight type ",
                                                 static_cast<int>(views[0].type)));
  }
  for (size_t j = 0; j < n; ++j) {
    if (biases[j] == nullptr) continue;
    const float* bv = WeightF32(*biases[j]);
    for (int64_t r = 0; r < x.rows; ++r) {
      float* yr = ys[j] + r * outs[j]->cols;
      for (int64_t c = 0; c < outs[j]->cols; ++c) yr[c] += bv[c];
    }
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::MatMul(const WeightHandle& w, const WeightHandle* bias, const Activation& x,
                                Activation& out) {
  const kernels::WeightView& view = weights_[w.id].view;
  float* y = Data(out);
  if (!kernels::MatMul(view, Data(x), x.rows, x.cols, y, out.cols, ws_, pool_)) {
    return absl::UnimplementedError(absl::StrCat("no matmul kernel for weight type ",
                                                 static_cast<int>(view.type)));
  }
  if (bias != nullptr) {
    const float* bv = WeightF32(*bias);
    for (int64_t r = 0; r < x.rows; ++r) {
      float* yr = y + r * out.cols;
      for (int64_t j = 0; j < out.cols; ++j) yr[j] += bv[j];
    }
  }
  return absl::OkStatus();
}

void CpuBackend::SetPositions(std::span<const int32_t> positions) {
  const int half = rope_.rot_dim / 2;
  const size_t need = positions.size() * static_cast<size_t>(half);
  if (rope_cos_.size() < need) {  // only when a caller skipped ReserveScratch
    rope_cos_.resize(need);
    rope_sin_.resize(need);
  }
  for (size_t r = 0; r < positions.size(); ++r) {
    const double pos = static_cast<double>(positions[r]) * rope_.position_scale;
    for (int i = 0; i < half; ++i) {
      const double theta = pos * rope_.inv_freq[i];
      rope_cos_[r * half + i] = static_cast<float>(std::cos(theta));
      rope_sin_[r * half + i] = static_cast<float>(std::sin(theta));
    }
  }
  rope_rows_ = static_cast<int64_t>(positions.size());
}

void CpuBackend::Rope(Activation& x, int n_heads) {
  float* xs = Data(x);
  const int half = rope_.rot_dim / 2;
  const int hd = rope_.head_dim;
  const bool adjacent = rope_.style == RopeStyle::kAdjacentPairs;
  ForRows(pool_, x.rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* c = rope_cos_.data() + r * half;
      const float* s = rope_sin_.data() + r * half;
      for (int h = 0; h < n_heads; ++h) {
        float* v = xs + r * x.cols + static_cast<int64_t>(h) * hd;
        for (int i = 0; i < half; ++i) {
          const int a = adjacent ? 2 * i : i;
          const int bi = adjacent ? 2 * i + 1 : i + half;
          const float x0 = v[a], x1 = v[bi];
          v[a] = x0 * c[i] - x1 * s[i];
          v[bi] = x0 * s[i] + x1 * c[i];
        }
      }
    }
  });
}

void CpuBackend::StoreKv(int layer, const Activation& k, const Activation& v,
                         std::span<const KvSlot> slots) {
  const int kv_dim = kv_layout_.kv_dim;
  const size_t layer_off = static_cast<size_t>(layer) * 2 * kv_layout_.page_tokens * kv_dim;
  const size_t v_off = static_cast<size_t>(kv_layout_.page_tokens) * kv_dim;
  const float* ks = Data(k);
  const float* vs = Data(v);
  for (size_t r = 0; r < slots.size(); ++r) {
    uint16_t* base = PageBase(slots[r].page) + layer_off + static_cast<size_t>(slots[r].slot) * kv_dim;
    cpu::StoreFp16(ks + r * k.cols, base, kv_dim);
    cpu::StoreFp16(vs + r * v.cols, base + v_off, kv_dim);
  }
}

void CpuBackend::Attention(int layer, const Activation& q, std::span<const AttentionRow> rows,
                           const AttentionShape& shape, Activation& out) {
  const int kv_dim = kv_layout_.kv_dim;
  const size_t layer_off = static_cast<size_t>(layer) * 2 * kv_layout_.page_tokens * kv_dim;
  const size_t v_off = static_cast<size_t>(kv_layout_.page_tokens) * kv_dim;
  const int group = shape.n_head / shape.n_head_kv;
  const float* qs = Data(q);
  float* os = Data(out);
  // Work items. A row alone (decode) gives one item per head: at decode
  // there are only n_head items and their cost grows with the context. Runs
  // of consecutive rows of one session (a prefill or verify block) give one
  // item per KV group and block of rows, attended by cpu::AttendHeads, which
  // reads each page once for all the block's queries of the group; every
  // query's result is bitwise what the per-head item would give, so a row's
  // output does not depend on the rows beside it.
  struct Item {
    int64_t r0, r1;  // rows [r0, r1)
    int head;        // r1 - r0 == 1: one query head; otherwise a KV group
  };
  const int64_t block_rows = std::max<int64_t>(1, cpu::kMaxHeadQueries / group);
  std::vector<Item> items;
  items.reserve(rows.size() * static_cast<size_t>(shape.n_head));
  for (int64_t r0 = 0; r0 < static_cast<int64_t>(rows.size());) {
    int64_t r1 = r0 + 1;
    while (r1 < static_cast<int64_t>(rows.size()) && r1 - r0 < block_rows && rows[r1].pages == rows[r0].pages) ++r1;
    if (r1 - r0 == 1 || block_rows == 1) {
      r1 = r0 + 1;
      for (int h = 0; h < shape.n_head; ++h) items.push_back({r0, r1, h});
    } else {
      for (int g = 0; g < shape.n_head_kv; ++g) items.push_back({r0, r1, g});
    }
    r0 = r1;
  }
  auto head_kv = [&](int64_t r, int g) {
    return cpu::HeadKv{kv_base_,
                       page_elems_,
                       layer_off + static_cast<size_t>(g) * shape.head_dim,
                       layer_off + v_off + static_cast<size_t>(g) * shape.head_dim,
                       kv_dim,
                       kv_layout_.page_tokens,
                       rows[r].pages,
                       rows[r].n_ctx};
  };
  auto work = [&](int64_t b, int64_t e) {
    cpu::HeadQuery queries[cpu::kMaxHeadQueries];
    for (int64_t it = b; it < e; ++it) {
      const Item& item = items[static_cast<size_t>(it)];
      if (item.r1 - item.r0 == 1) {
        const int64_t r = item.r0;
        const int h = item.head;
        cpu::AttendHead(qs + r * q.cols + static_cast<int64_t>(h) * shape.head_dim, shape.head_dim, shape.scale,
                        head_kv(r, h / group), os + r * out.cols + static_cast<int64_t>(h) * shape.head_dim);
        continue;
      }
      int n = 0;
      for (int64_t r = item.r0; r < item.r1; ++r) {
        for (int h = item.head * group; h < (item.head + 1) * group; ++h) {
          const int64_t off = r * q.cols + static_cast<int64_t>(h) * shape.head_dim;
          queries[n++] = {qs + off, os + r * out.cols + static_cast<int64_t>(h) * shape.head_dim, rows[r].n_ctx};
        }
      }
      cpu::AttendHeads(queries, n, shape.head_dim, shape.scale, head_kv(item.r0, item.head));
    }
  };
  if (pool_.size() == 1) {
    work(0, static_cast<int64_t>(items.size()));
  } else {
    ParallelForDynamic(pool_, static_cast<int64_t>(items.size()), 1, work);
  }
}

void CpuBackend::SiluMul(const Activation& gate, const Activation& up, Activation& out) {
  const float* g = Data(gate);
  const float* u = Data(up);
  float* y = Data(out);
  const int64_t n = gate.rows * gate.cols;
  // The ISA's vector op (a polynomial exp, within 2 ulp of std::exp): the
  // scalar std::exp loop took 4-5 % of a batched 1.5B step. Every element
  // goes through the same arithmetic wherever it lies in the call, so a
  // row's result does not depend on the rows beside it.
  ForRows(pool_, gate.rows, [&](int64_t b, int64_t e) {
    const int64_t begin = b * gate.cols, end = std::min(e * gate.cols, n);
    if (end > begin) kernels::SiluMul(g + begin, u + begin, y + begin, end - begin);
  });
}

void CpuBackend::Add(Activation& x, const Activation& y) {
  float* xs = Data(x);
  const float* ys = Data(y);
  const int64_t n = x.rows * x.cols;
  for (int64_t i = 0; i < n; ++i) xs[i] += ys[i];
}

void CpuBackend::GatherRows(const Activation& x, std::span<const int32_t> rows, Activation& out) {
  const float* xs = Data(x);
  float* ys = Data(out);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(ys + i * out.cols, xs + rows[i] * x.cols, sizeof(float) * x.cols);
  }
}

void CpuBackend::ReadRows(const Activation& x, int64_t row_begin, int64_t n, float* dst) {
  std::memcpy(dst, Data(x) + row_begin * x.cols, sizeof(float) * n * x.cols);
}

std::unique_ptr<Backend> MakeCpuBackend(int n_threads) {
  return std::make_unique<CpuBackend>(n_threads);
}

}  // namespace tandem::runtime
