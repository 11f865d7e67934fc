// MatMul throughput for the weight shapes of the bundled models, reported as
// GB/s of weights streamed (decode is bandwidth-bound, so this is the number
// that predicts tokens/s) and, for m > 1, as GMAC/s.
//
//   build-*/bench/kernels/bench_kernels [--benchmark_filter=q4_1]
//   TANDEM_ISA=scalar|avx2|avx512 pins the kernel level.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/ggml_types.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/thread_pool.h"

namespace tk = tandem::kernels;

namespace {

struct Shape {
  int64_t rows, cols;
};

// Weights with random codes and sane scales. The values matter for speed
// only through denormals (microcode assists on Intel), so every float field
// holds a normal number.
std::vector<uint8_t> MakeWeights(tk::GgmlType type, int64_t rows, int64_t cols) {
  const size_t row_bytes = tk::RowBytes(type, cols);
  std::vector<uint8_t> w(row_bytes * rows);
  std::mt19937 rng(42);
  // Bytes 0x30..0x3f: as fp16 scale fields (byte pairs) they are normal
  // numbers around 0.1-1.
  for (auto& b : w) b = static_cast<uint8_t>(0x30 | (rng() & 0x0f));
  const int64_t n = rows * cols;
  auto value = [&rng] { return static_cast<float>(static_cast<int>(rng() % 200) - 100) * 0.01f + 0.005f; };
  if (type == tk::GgmlType::kF32) {
    auto* f = reinterpret_cast<float*>(w.data());
    for (int64_t i = 0; i < n; ++i) f[i] = value();
  } else if (type == tk::GgmlType::kF16) {
    auto* h = reinterpret_cast<uint16_t*>(w.data());
    for (int64_t i = 0; i < n; ++i) h[i] = tk::Fp32ToFp16(value());
  } else if (type == tk::GgmlType::kBF16) {
    auto* h = reinterpret_cast<uint16_t*>(w.data());
    for (int64_t i = 0; i < n; ++i) {
      const float v = value();
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      h[i] = static_cast<uint16_t>(bits >> 16);
    }
  }
  return w;
}

struct Pools {
  tk::ThreadPool one{1};
  tk::ThreadPool two{2};
  tk::ThreadPool& Get(int n) { return n == 1 ? one : two; }
};

Pools& GetPools() {
  static Pools* p = new Pools;
  return *p;
}

void BM_MatMul(benchmark::State& state, tk::GgmlType type, Shape s, int64_t m, int threads) {
  const std::vector<uint8_t> w = MakeWeights(type, s.rows, s.cols);
  const tk::WeightView view{type, w.data(), s.rows, s.cols, tk::RowBytes(type, s.cols)};
  std::vector<float> x(m * s.cols), y(m * s.rows);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  for (auto& v : x) v = nd(rng);
  tk::MatMulWorkspace ws;
  ws.Reserve(tk::MatMulWorkspaceBytes(view, m));
  tk::ThreadPool& pool = GetPools().Get(threads);
  for (auto _ : state) {
    if (!tk::MatMul(view, x.data(), m, s.cols, y.data(), s.rows, ws, pool)) {
      state.SkipWithError("MatMul refused the shape");
      break;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(s.rows * s.cols * m) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void BM_PoolRun(benchmark::State& state, int threads) {
  tk::ThreadPool& pool = GetPools().Get(threads);
  for (auto _ : state) pool.Run([](void*, int, int) {}, nullptr);
}

void BM_RmsNorm(benchmark::State& state) {
  std::vector<float> x(576, 0.5f), w(576, 1.0f), out(576);
  for (auto _ : state) {
    tk::RmsNorm(x.data(), w.data(), out.data(), 576, 1e-5f);
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_Softmax(benchmark::State& state) {
  std::vector<float> x(state.range(0), 0.5f);
  for (auto _ : state) {
    tk::Softmax(x.data(), static_cast<int64_t>(x.size()));
    benchmark::DoNotOptimize(x.data());
  }
}

void RegisterAll() {
  using T = tk::GgmlType;
  // SmolLM2-135M: q/o 576x576, k/v 192x576, gate/up 1536x576, down 576x1536,
  // output head 49152x576 (Q8_0, tied to token_embd).
  const std::vector<Shape> smol = {{576, 576}, {1536, 576}, {576, 1536}};
  // K-quants need cols % 256 == 0: Qwen2.5-Coder-1.5B shapes.
  const std::vector<Shape> qwen = {{1536, 1536}, {8960, 1536}, {1536, 8960}};
  struct Entry { T type; const char* name; const std::vector<Shape>* shapes; };
  const std::vector<Entry> entries = {
      {T::kQ4_0, "q4_0", &smol}, {T::kQ4_1, "q4_1", &smol}, {T::kQ5_0, "q5_0", &smol},
      {T::kQ8_0, "q8_0", &smol}, {T::kQ4_K, "q4_K", &qwen}, {T::kQ5_K, "q5_K", &qwen},
      {T::kQ6_K, "q6_K", &qwen}, {T::kF32, "f32", &smol},   {T::kF16, "f16", &smol},
      {T::kBF16, "bf16", &smol},
  };
  auto reg = [](const char* name, T type, Shape s, int64_t m, int threads) {
    const std::string n = std::string("MatMul/") + name + "/" + std::to_string(s.rows) + "x" +
                          std::to_string(s.cols) + "/m:" + std::to_string(m) + "/threads:" + std::to_string(threads);
    benchmark::RegisterBenchmark(n.c_str(), BM_MatMul, type, s, m, threads)->UseRealTime()->Unit(benchmark::kMicrosecond);
  };
  for (const Entry& e : entries) {
    for (const Shape& s : *e.shapes) {
      // m = 2..6: verify blocks of gamma + 1 tokens (one decode per tile; the
      // cost each row adds, bench/speculative/ceiling.py); 8 and 16: batched
      // decode steps of that many sessions.
      for (int64_t m : {1, 2, 3, 4, 5, 6, 8, 12, 16, 32}) {
        for (int t : {1, 2}) reg(e.name, e.type, s, m, t);
      }
    }
  }
  for (int t : {1, 2}) reg("q8_0", T::kQ8_0, {49152, 576}, 1, t);
  for (int t : {1, 2}) {
    benchmark::RegisterBenchmark(("PoolRun/threads:" + std::to_string(t)).c_str(), BM_PoolRun, t)->UseRealTime();
  }
  benchmark::RegisterBenchmark("RmsNorm/576", BM_RmsNorm);
  benchmark::RegisterBenchmark("Softmax", BM_Softmax)->Arg(64)->Arg(2048)->Arg(49152);
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("kernel level: %s\n", tk::MatMulIsaName());
  RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
