// CUDA graphs of the forward pass (CudaBackend::RunPass) against eager
// launches: the same synthetic model on two CUDA backends, one recording each
// pass into a graph and one launching every kernel eagerly, must produce
// bitwise identical logits for a prefill, 1-row decode steps and 5-row verify
// blocks (the graph replays the same kernels with the same arguments). The
// graphs must really be used (instantiated once per row count, updated in
// place afterwards, no fallback to eager). Decode step times of both are
// printed for scripts/gpu-check.sh; nothing asserts on time.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/backend/cuda/cuda_backend.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/parallel/local_communicator.h"
#include "runtime/parallel/tp_model.h"
#include "tests/kernels/cuda/synthetic_model.h"

namespace tandem::runtime {
namespace {

struct Loaded {
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<parallel::Communicator> comm;
  std::unique_ptr<parallel::TensorParallelModel> model;
  CudaBackend* cuda() { return static_cast<CudaBackend*>(backend.get()); }
};

// Empty string = loaded; else why the test must skip.
std::string Load(const std::vector<uint8_t>& image, bool graphs, Loaded* out) {
  auto file = gguf::GgufFile::FromBuffer(image);
  EXPECT_TRUE(file.ok()) << file.status();
  out->file = std::move(*file);
  CudaBackendOptions options;
  options.cuda_graphs = graphs;
  auto backend = MakeCudaBackend(options);
  if (!backend.ok()) {
    if (backend.status().code() == absl::StatusCode::kUnavailable) return std::string(backend.status().message());
    ADD_FAILURE() << backend.status();
    return "backend failed";
  }
  out->backend = std::move(*backend);
  auto group = parallel::LocalGroup::Create(1);
  out->comm = std::move(*(*group)->Rank(0));
  auto m = parallel::TensorParallelModel::Load(*out->file, *out->backend, *out->comm, parallel::TpOptions{});
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return "load failed";
  out->model = std::move(*m);
  return "";
}

bool BitwiseEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The token stream both backends are fed: a fixed prompt, then decode steps
// and verify blocks of fixed tokens (the same for both, so the comparison
// never depends on sampling).
struct Step {
  std::vector<int32_t> tokens;
};

std::vector<Step> Script() {
  std::vector<Step> steps = {{{5, 900, 17, 42, 42, 3, 777, 64, 1, 250, 999, 12, 0, 600}}};
  for (int i = 0; i < 40; ++i) {
    if (i % 8 == 7) {
      steps.push_back({{static_cast<int32_t>(i * 13 % 1000), 7, 8, 9, static_cast<int32_t>(i)}});  // verify of 5
    } else {
      steps.push_back({{static_cast<int32_t>(i * 37 % 1000)}});
    }
  }
  return steps;
}

TEST(CudaGraphs, GraphLogitsAreBitwiseEagerLogits) {
  testing_util::SyntheticShape shape;
  shape.n_layers = 4;
  const std::vector<uint8_t> image = testing_util::BuildSyntheticGguf(shape);
  Loaded graph, eager;
  if (std::string skip = Load(image, true, &graph); !skip.empty()) GTEST_SKIP() << "no CUDA device: " << skip;
  ASSERT_EQ(Load(image, false, &eager), "");
  auto gs = graph.model->NewSession();
  auto es = eager.model->NewSession();
  ASSERT_TRUE(gs.ok() && es.ok());
  int step = 0;
  for (const Step& s : Script()) {
    std::vector<float> g, e;
    ASSERT_TRUE(graph.model->Forward(**gs, s.tokens, &g).ok()) << step;
    ASSERT_TRUE(eager.model->Forward(**es, s.tokens, &e).ok()) << step;
    ASSERT_FALSE(g.empty());
    ASSERT_TRUE(BitwiseEqual(g, e)) << "step " << step << " (" << s.tokens.size() << " rows)";
    ++step;
  }
  EXPECT_EQ(graph.cuda()->graph_fallbacks(), 0);
  // One graph per row count seen (the 14-row prompt, 1, 5), re-used by
  // in-place updates (graph_max_rows is 16).
  EXPECT_EQ(graph.cuda()->graph_instantiations(), 3);
  EXPECT_GE(graph.cuda()->graph_updates(), 30);
  EXPECT_EQ(eager.cuda()->graph_instantiations(), 0);
}

TEST(CudaGraphs, DecodeTimeWithAndWithoutGraphs) {
  testing_util::SyntheticShape shape;
  shape.n_layers = 16;
  const std::vector<uint8_t> image = testing_util::BuildSyntheticGguf(shape);
  double ms[2] = {0, 0};
  for (int graphs = 0; graphs < 2; ++graphs) {
    Loaded l;
    if (std::string skip = Load(image, graphs == 1, &l); !skip.empty()) GTEST_SKIP() << "no CUDA device: " << skip;
    auto s = l.model->NewSession();
    ASSERT_TRUE(s.ok());
    std::vector<float> out;
    const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8};
    ASSERT_TRUE(l.model->Forward(**s, prompt, &out).ok());
    constexpr int kWarm = 5, kSteps = 100;
    std::chrono::steady_clock::time_point start;
    for (int i = 0; i < kWarm + kSteps; ++i) {
      if (i == kWarm) start = std::chrono::steady_clock::now();
      const int32_t t = (i * 31) % 1000;
      ASSERT_TRUE(l.model->Forward(**s, std::span<const int32_t>(&t, 1), &out).ok());
    }
    ms[graphs] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / kSteps;
    if (graphs == 1) {
      EXPECT_EQ(l.cuda()->graph_fallbacks(), 0);
    }
  }
  std::printf("cuda-graphs decode step (16 layers, n_embd 512, synthetic): eager %.3f ms, graph %.3f ms (%.2fx)\n",
              ms[0], ms[1], ms[0] / ms[1]);
}

}  // namespace
}  // namespace tandem::runtime
