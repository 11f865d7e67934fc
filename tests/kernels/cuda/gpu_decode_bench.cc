// Decode-step timing of llama-shaped models on the GPU against the HBM
// bandwidth roofline, with weights generated on the device in the real
// shapes (Llama-3-8B, Qwen2.5-1.5B, Qwen2.5-0.5B; F16, Q4_K (+Q6_K output,
// like Q4_K_M files), Q8_0). One step is the kernels the CUDA backend runs for a
// forward pass of `rows` tokens of one session at context `ctx`, captured
// once into a CUDA graph and replayed: the pass descriptions (positions, KV
// slots, page table) sit in device memory, refreshed by memcpy nodes from
// pinned host memory, so a replay needs no kernel-parameter changes.
//
// Prints markdown table rows:
//   | model | weights | layout | rows | ctx | ms/step | GB/step | GB/s | % of roofline |
// and a verify/decode cost line. A speculative speedup line is a model from
// the measured step times (draft decode vs target verify), not an end-to-end
// measurement: random weights have no meaningful acceptance rate.
//
// usage: gpu_decode_bench --model llama3-8b|qwen2.5-1.5b|qwen2.5-0.5b --type f16|q4_k|q8_0
//                         [--ctx 512] [--iters 50] [--hbm-gbps 4800] [--draft MODEL:TYPE]
//                         [--layout warps|groups|int8]   (the matrix-vector thread layout, matvec.h;
//                          int8: warp per row, and Q4_K products take int8 activations, MatVecInt8)
//                         [--attention split|block]  (split: AttentionSplit, the CUDA backend's; block: the
//                          one-block-per-(row, head) kernel, for comparison)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/ggml_types.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/random_fill.h"

namespace tandem::bench {
namespace {

namespace launch = kernels::cuda::launch;
using kernels::GgmlType;

#define CK(expr)                                                                                  \
  do {                                                                                            \
    const cudaError_t e_ = (expr);                                                                \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "gpu_decode_bench: %s failed: %s\n", #expr, cudaGetErrorString(e_)); \
      std::exit(1);                                                                               \
    }                                                                                             \
  } while (0)

struct Shape {
  const char* name;
  int layers, embd, ff, heads, kv_heads, head_dim, vocab;
};
const Shape kShapes[] = {
    {"llama3-8b", 32, 4096, 14336, 32, 8, 128, 128256},
    {"qwen2.5-1.5b", 28, 1536, 8960, 12, 2, 128, 151936},
    {"qwen2.5-0.5b", 24, 896, 4864, 14, 2, 64, 151936},
};

struct Weight {
  GgmlType type;
  void* data = nullptr;
  int64_t rows = 0, cols = 0;
  size_t row_bytes = 0;
};

constexpr int kPageTokens = 64;
constexpr int kMaxRows = 16;

class Model {
 public:
  Model(const Shape& s, GgmlType type, int ctx, bool groups, bool int8, bool split_attention, cudaStream_t stream)
      : s_(s), ctx_(ctx), groups_(groups), int8_(int8), split_attention_(split_attention), stream_(stream) {
    uint64_t seed = 1;
    const int64_t qd = int64_t{s.heads} * s.head_dim, kd = int64_t{s.kv_heads} * s.head_dim;
    const GgmlType out_type = type == GgmlType::kQ4_K ? GgmlType::kQ6_K : type;
    for (int l = 0; l < s.layers; ++l) {
      Layer L;
      L.wq = NewWeight(type, qd, s.embd, seed++);
      L.wk = NewWeight(type, kd, s.embd, seed++);
      L.wv = NewWeight(type, kd, s.embd, seed++);
      L.wo = NewWeight(type, s.embd, qd, seed++);
      L.gate = NewWeight(type, s.ff, s.embd, seed++);
      L.up = NewWeight(type, s.ff, s.embd, seed++);
      L.down = NewWeight(type, s.embd, s.ff, seed++);
      L.attn_norm = NewFloats(s.embd, seed++, 0.1f, 1.0f);
      L.ffn_norm = NewFloats(s.embd, seed++, 0.1f, 1.0f);
      layers_.push_back(L);
    }
    output_ = NewWeight(out_type, s.vocab, s.embd, seed++);
    out_norm_ = NewFloats(s.embd, seed++, 0.1f, 1.0f);
    x0_ = NewFloats(kMaxRows * int64_t{s.embd}, seed++, 1.0f, 0.0f);
    x_ = Alloc<float>(kMaxRows * int64_t{s.embd});
    h_ = Alloc<float>(kMaxRows * int64_t{s.embd});
    h2_ = Alloc<float>(kMaxRows * int64_t{s.embd});
    q_ = Alloc<float>(kMaxRows * qd);
    k_ = Alloc<float>(kMaxRows * kd);
    v_ = Alloc<float>(kMaxRows * kd);
    attn_ = Alloc<float>(kMaxRows * qd);
    gate_ = Alloc<float>(kMaxRows * int64_t{s.ff});
    up_ = Alloc<float>(kMaxRows * int64_t{s.ff});
    logits_ = Alloc<float>(kMaxRows * int64_t{s.vocab});
    // Int8 activations of the widest input (the down projection's).
    const int64_t widest = std::max<int64_t>({s.embd, qd, s.ff});
    attn_scratch_ = Alloc<float>(launch::AttentionSplitScratchFloats(kMaxRows, s.heads, s.head_dim));
    q8_qs_ = Alloc<int8_t>(kMaxRows * widest);
    q8_d_ = Alloc<float>(kMaxRows * widest / 256 + 1);
    q8_sums_ = Alloc<int32_t>(kMaxRows * widest / 32);
    // Rope frequencies and tables.
    std::vector<float> inv(s.head_dim / 2);
    for (int i = 0; i < s.head_dim / 2; ++i) inv[i] = std::pow(500000.0f, -2.0f * i / s.head_dim);
    inv_freq_ = Alloc<float>(inv.size());
    CK(cudaMemcpy(inv_freq_, inv.data(), inv.size() * 4, cudaMemcpyHostToDevice));
    cos_ = Alloc<float>(kMaxRows * s.head_dim / 2);
    sin_ = Alloc<float>(kMaxRows * s.head_dim / 2);
    // KV pool: enough pages for ctx + kMaxRows tokens, random fp16 contents.
    n_pages_ = (ctx + kMaxRows + kPageTokens - 1) / kPageTokens;
    page_elems_ = static_cast<size_t>(s.layers) * 2 * kPageTokens * kd;
    kv_ = Alloc<uint16_t>(page_elems_ * n_pages_);
    CK(kernels::cuda::FillRandomWeights(GgmlType::kF16, kv_, static_cast<int64_t>(n_pages_), page_elems_,
                                        page_elems_ * 2, seed++, 1.0f, stream_));
    // Pass descriptions: pinned host staging + device copies.
    CK(cudaMallocHost(reinterpret_cast<void**>(&host_desc_), kDescInts * sizeof(int32_t)));
    desc_ = Alloc<int32_t>(kDescInts);
    CK(cudaStreamSynchronize(stream_));
  }

  ~Model() {
    for (void* p : allocs_) cudaFree(p);
    cudaFreeHost(host_desc_);
  }

  // Bytes a step must read at least: every weight once, plus the KV cache.
  double StepBytes(int rows) const {
    double b = static_cast<double>(weight_bytes_);
    const double kd = static_cast<double>(s_.kv_heads) * s_.head_dim;
    b += static_cast<double>(s_.layers) * 2 * kd * 2 * (ctx_ + rows);
    return b;
  }

  // Times `iters` graph replays of a `rows`-token step; ms per step.
  double Time(int rows, int iters) {
    WriteDescriptions(rows);
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    Step(rows);
    CK(cudaStreamEndCapture(stream_, &graph));
    CK(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < 3; ++i) CK(cudaGraphLaunch(exec, stream_));  // warm-up
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a, stream_));
    for (int i = 0; i < iters; ++i) CK(cudaGraphLaunch(exec, stream_));
    CK(cudaEventRecord(b, stream_));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    // Sanity: the logits of the step are finite and not all zero.
    std::vector<float> row(s_.vocab);
    CK(cudaMemcpy(row.data(), logits_, row.size() * 4, cudaMemcpyDeviceToHost));
    double mag = 0;
    for (float f : row) {
      if (!std::isfinite(f)) {
        std::fprintf(stderr, "gpu_decode_bench: non-finite logit\n");
        std::exit(1);
      }
      mag = std::max(mag, std::fabs(double{f}));
    }
    if (mag == 0.0) {
      std::fprintf(stderr, "gpu_decode_bench: all-zero logits; one eager step, stage by stage:\n");
      probe_ = true;
      Step(rows);
      std::exit(1);
    }
    CK(cudaGraphExecDestroy(exec));
    CK(cudaGraphDestroy(graph));
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    return ms / iters;
  }

 private:
  struct Layer {
    Weight wq, wk, wv, wo, gate, up, down;
    float *attn_norm, *ffn_norm;
  };
  // positions[16] | slots[32] | row_desc[32] | pages[...]
  static constexpr int kDescInts = 16 + 32 + 32 + 1024;

  template <typename T>
  T* Alloc(size_t n) {
    void* p = nullptr;
    CK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)));
    allocs_.push_back(p);
    return static_cast<T*>(p);
  }
  Weight NewWeight(GgmlType type, int64_t rows, int64_t cols, uint64_t seed) {
    Weight w{type, nullptr, rows, cols, kernels::RowBytes(type, cols)};
    if (w.row_bytes == 0) {
      std::fprintf(stderr, "gpu_decode_bench: %lld columns do not fit %s blocks\n", static_cast<long long>(cols),
                   kernels::FindTypeTraits(static_cast<uint32_t>(type))->name);
      std::exit(2);
    }
    w.data = Alloc<uint8_t>(w.row_bytes * rows);
    weight_bytes_ += w.row_bytes * rows;
    CK(kernels::cuda::FillRandomWeights(type, w.data, rows, cols, w.row_bytes, seed, 1.0f / std::sqrt(float(cols)),
                                        stream_));
    return w;
  }
  float* NewFloats(int64_t n, uint64_t seed, float scale, float offset) {
    float* p = Alloc<float>(n);
    CK(kernels::cuda::FillRandomFloats(p, n, seed, scale, offset, stream_));
    return p;
  }
  void WriteDescriptions(int rows) {
    int32_t* pos = host_desc_;
    int32_t* slots = host_desc_ + 16;
    int32_t* desc = host_desc_ + 48;
    int32_t* pages = host_desc_ + 80;
    for (int r = 0; r < rows; ++r) {
      const int t = ctx_ + r;
      pos[r] = t;
      slots[2 * r] = t / kPageTokens;
      slots[2 * r + 1] = t % kPageTokens;
      desc[2 * r] = 0;
      desc[2 * r + 1] = t + 1;  // causal inside the block
    }
    for (int p = 0; p < n_pages_; ++p) pages[p] = p;
  }
  // With probe_ set (after a failed sanity check), prints the largest
  // magnitude and the non-finite count of a stage's output, first row.
  void Probe(const char* what, int layer, const float* d, int64_t n) {
    if (!probe_ || (layer > 1 && layer != s_.layers - 1)) return;
    std::vector<float> h(static_cast<size_t>(n));
    CK(cudaStreamSynchronize(stream_));
    CK(cudaMemcpy(h.data(), d, h.size() * 4, cudaMemcpyDeviceToHost));
    double mx = 0;
    int64_t bad = 0;
    for (float f : h) {
      if (!std::isfinite(f)) ++bad;
      else mx = std::max(mx, std::fabs(double{f}));
    }
    std::fprintf(stderr, "  layer %d %-6s max |v| %.4g, non-finite %lld\n", layer, what, mx, static_cast<long long>(bad));
  }
  // As the CUDA backend does: with int8 activations, a Q4_K product first
  // quantizes its input (every call, as CudaBackend::MatMul).
  void MatVec(const Weight& w, const float* x, int rows, float* y) {
    if (int8_ && launch::HasInt8Kernel(w.type) && w.cols % 256 == 0) {
      CK(launch::QuantizeQ8K(x, w.cols, rows, w.cols, q8_qs_, q8_d_, q8_sums_, stream_));
      kernels::cuda::Int8Rows q{q8_qs_, q8_d_, q8_sums_, w.cols};
      CK(launch::MatVecInt8(w.type, w.data, w.row_bytes, w.rows, q, rows, y, w.rows, nullptr, stream_));
      return;
    }
    CK(launch::MatVec(w.type, w.data, w.row_bytes, w.rows, w.cols, x, w.cols, rows, y, w.rows, nullptr, stream_,
                      groups_));
  }
  // The kernels of one forward pass of `rows` tokens (the CUDA backend's
  // sequence, with the residual add fused into the next RMSNorm).
  void Step(int rows) {
    CK(cudaMemcpyAsync(desc_, host_desc_, kDescInts * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    const int32_t* d_pos = desc_;
    const int32_t* d_slots = desc_ + 16;
    const int32_t* d_desc = desc_ + 48;
    const int32_t* d_pages = desc_ + 80;
    const int hd = s_.head_dim, half = hd / 2, kd = s_.kv_heads * hd, qd = s_.heads * hd;
    // Every replay starts from the same input rows (the embedding lookup of a
    // real step): the residual stream is updated in place, so without this
    // each replay would add 32 more layers to the last one's output.
    CK(cudaMemcpyAsync(x_, x0_, static_cast<size_t>(rows) * s_.embd * sizeof(float), cudaMemcpyDeviceToDevice,
                       stream_));
    CK(launch::RopeTables(d_pos, rows, inv_freq_, half, 1.0f, cos_, sin_, stream_));
    const float* pending = nullptr;  // residual to add into x before the next norm
    for (int l = 0; l < s_.layers; ++l) {
      const Layer& L = layers_[l];
      CK(launch::RmsNorm(x_, pending, x_, L.attn_norm, 1e-5f, rows, s_.embd, h_, stream_));
      Probe("x", l, x_, s_.embd);
      Probe("norm", l, h_, s_.embd);
      MatVec(L.wq, h_, rows, q_);
      Probe("q", l, q_, qd);
      MatVec(L.wk, h_, rows, k_);
      MatVec(L.wv, h_, rows, v_);
      CK(launch::Rope(q_, rows, qd, s_.heads, hd, half, true, cos_, sin_, stream_));
      CK(launch::Rope(k_, rows, kd, s_.kv_heads, hd, half, true, cos_, sin_, stream_));
      const size_t layer_off = static_cast<size_t>(l) * 2 * kPageTokens * kd;
      const size_t v_off = static_cast<size_t>(kPageTokens) * kd;
      CK(launch::StoreKv(k_, kd, v_, kd, d_slots, rows, kv_, page_elems_, layer_off, v_off, kd, stream_));
      if (split_attention_) {
        CK(launch::AttentionSplit(q_, qd, rows, d_desc, d_pages, kv_, page_elems_, layer_off, v_off, kd, kPageTokens,
                                  s_.heads, s_.kv_heads, hd, 1.0f / std::sqrt(float(hd)), attn_, qd, attn_scratch_,
                                  kMaxRows, stream_));
      } else {
        CK(launch::Attention(q_, qd, rows, d_desc, d_pages, kv_, page_elems_, layer_off, v_off, kd, kPageTokens,
                             s_.heads, s_.kv_heads, hd, 1.0f / std::sqrt(float(hd)), attn_, qd, stream_));
      }
      Probe("attn", l, attn_, qd);
      MatVec(L.wo, attn_, rows, h2_);
      Probe("o", l, h2_, s_.embd);
      CK(launch::RmsNorm(x_, h2_, x_, L.ffn_norm, 1e-5f, rows, s_.embd, h_, stream_));
      MatVec(L.gate, h_, rows, gate_);
      MatVec(L.up, h_, rows, up_);
      CK(launch::SiluMul(gate_, up_, gate_, int64_t{rows} * s_.ff, stream_));
      Probe("silu*u", l, gate_, s_.ff);
      MatVec(L.down, gate_, rows, h2_);
      Probe("down", l, h2_, s_.embd);
      pending = h2_;
    }
    CK(launch::RmsNorm(x_, pending, x_, out_norm_, 1e-5f, rows, s_.embd, h_, stream_));
    MatVec(output_, h_, rows, logits_);
    Probe("head-in", s_.layers - 1, h_, s_.embd);
    Probe("logits", s_.layers - 1, logits_, s_.vocab);
  }

  Shape s_;
  int ctx_;
  bool groups_;
  bool int8_;
  bool split_attention_;
  float* attn_scratch_;
  int8_t* q8_qs_;
  float* q8_d_;
  int32_t* q8_sums_;
  bool probe_ = false;
  cudaStream_t stream_;
  std::vector<void*> allocs_;
  std::vector<Layer> layers_;
  Weight output_;
  float *out_norm_, *x0_, *x_, *h_, *h2_, *q_, *k_, *v_, *attn_, *gate_, *up_, *logits_, *inv_freq_, *cos_, *sin_;
  uint16_t* kv_;
  int n_pages_ = 0;
  size_t page_elems_ = 0;
  size_t weight_bytes_ = 0;
  int32_t* host_desc_ = nullptr;
  int32_t* desc_ = nullptr;
};

const Shape* FindShape(const std::string& name) {
  for (const Shape& s : kShapes) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

bool ParseType(const std::string& t, GgmlType* out) {
  if (t == "f16") *out = GgmlType::kF16;
  else if (t == "q4_k") *out = GgmlType::kQ4_K;
  else if (t == "q8_0") *out = GgmlType::kQ8_0;
  else return false;
  return true;
}

int Main(int argc, char** argv) {
  std::string model = "llama3-8b", type_name = "f16", draft, layout = "warps", attention = "split";
  int ctx = 512, iters = 50;
  double hbm_gbps = 4800;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model = v;
    else if (k == "--type") type_name = v;
    else if (k == "--ctx") ctx = std::atoi(v.c_str());
    else if (k == "--iters") iters = std::atoi(v.c_str());
    else if (k == "--hbm-gbps") hbm_gbps = std::atof(v.c_str());
    else if (k == "--draft") draft = v;
    else if (k == "--layout") layout = v;
    else if (k == "--attention") attention = v;
    else {
      std::fprintf(stderr, "gpu_decode_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  const Shape* shape = FindShape(model);
  GgmlType type;
  if (shape == nullptr || !ParseType(type_name, &type) || ctx < 1 || ctx > 60000 || iters < 1 ||
      (layout != "warps" && layout != "groups" && layout != "int8") ||
      (attention != "split" && attention != "block")) {
    std::fprintf(stderr, "gpu_decode_bench: bad --model/--type/--ctx/--iters/--layout/--attention\n");
    return 2;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "gpu_decode_bench: no CUDA device\n");
    return 3;
  }
  cudaStream_t stream;
  CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  double t1 = 0, t5 = 0;
  // The table's layout column also names a non-default attention kernel.
  const std::string label = attention == "block" ? layout + "+block-attn" : layout;
  {
    const bool groups = layout == "groups";
    Model m(*shape, type, ctx, groups, layout == "int8", attention == "split", stream);
    for (int rows : {1, 5}) {
      const double ms = m.Time(rows, iters);
      const double gb = m.StepBytes(rows) / 1e9;
      const double gbps = gb / (ms / 1e3);
      std::printf("| %s | %s | %s | %d | %d | %.3f | %.2f | %.0f | %.1f %% |\n", shape->name, type_name.c_str(),
                  label.c_str(), rows, ctx, ms, gb, gbps, 100.0 * gbps / hbm_gbps);
      (rows == 1 ? t1 : t5) = ms;
    }
  }
  std::printf("VERIFY %s %s %s: verify-of-5 / decode-of-1 = %.3f\n", shape->name, type_name.c_str(), label.c_str(),
              t5 / t1);
  if (!draft.empty()) {
    const size_t colon = draft.find(':');
    const Shape* ds = FindShape(draft.substr(0, colon));
    GgmlType dt;
    if (ds == nullptr || colon == std::string::npos || !ParseType(draft.substr(colon + 1), &dt)) {
      std::fprintf(stderr, "gpu_decode_bench: bad --draft (MODEL:TYPE)\n");
      return 2;
    }
    double td = 0;
    {
      Model d(*ds, dt, ctx, layout == "groups", layout == "int8", attention == "split", stream);
      td = d.Time(1, iters);
    }
    const int gamma = 4;
    for (double alpha : {0.6, 0.7, 0.8}) {
      const double tokens = (1 - std::pow(alpha, gamma + 1)) / (1 - alpha);
      const double round = gamma * td + t5;
      std::printf("SPEC %s %s (%s) + draft %s: gamma %d, per-token acceptance %.1f (assumed) -> modelled speedup %.2fx "
                  "(draft step %.3f ms, verify %.3f ms, target step %.3f ms)\n",
                  shape->name, type_name.c_str(), label.c_str(), draft.c_str(), gamma, alpha, tokens * t1 / round, td, t5, t1);
    }
  }
  CK(cudaStreamDestroy(stream));
  return 0;
}

}  // namespace
}  // namespace tandem::bench

int main(int argc, char** argv) { return tandem::bench::Main(argc, argv); }
