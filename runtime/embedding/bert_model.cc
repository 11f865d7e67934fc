#include "runtime/embedding/bert_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/ops.h"

namespace tandem::embedding {
namespace {

// y = LayerNorm(x) * w + b over n elements; statistics in double so that the
// variance of rows with a large mean keeps its precision.
void LayerNorm(const float* x, const float* w, const float* b, float* y, int64_t n, double eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - mean;
    sq += d * d;
  }
  const float inv = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(n) + eps));
  const float m = static_cast<float>(mean);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * inv * w[i] + b[i];
}

// The exact (erf) GELU BERT was trained with, not the tanh approximation.
float Gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

void AddBias(float* y, const float* bias, int64_t rows, int64_t n, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) kernels::Add(y + r * ld, bias, y + r * ld, n);
}

// Runs fn(task) for task in [0, n) on the pool's threads, each thread
// claiming the next task from a shared counter (tasks of uneven cost, e.g.
// attention over sequences of different lengths, balance themselves).
template <typename Fn>
void ParallelTasks(kernels::ThreadPool& pool, int64_t n, Fn&& fn) {
  struct Ctx {
    Fn* fn;
    int64_t n;
    std::atomic<int64_t> next{0};
  } ctx{&fn, n};
  pool.RunDynamic(
      [](void* p, int, int) {
        auto* c = static_cast<Ctx*>(p);
        for (int64_t t; (t = c->next.fetch_add(1, std::memory_order_relaxed)) < c->n;) (*c->fn)(t);
      },
      &ctx);
}

}  // namespace

absl::StatusOr<const float*> BertModel::Bind(const std::string& name, std::vector<int64_t> shape) {
  const std::string full = prefix_ + name;
  const SafetensorsTensor* t = file_->Find(full);
  if (t == nullptr) return absl::InvalidArgumentError(absl::StrCat("bert: tensor '", full, "' is missing"));
  if (t->dtype != SafetensorsDtype::kF32) {
    return absl::InvalidArgumentError(
        absl::StrCat("bert: tensor '", full, "' has dtype ", absl::string_view(DtypeName(t->dtype).data(),
                                                                                DtypeName(t->dtype).size()),
                     ", expected F32"));
  }
  if (t->shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat("bert: tensor '", full, "' has shape [",
                                                   absl::StrJoin(t->shape, ", "), "], expected [",
                                                   absl::StrJoin(shape, ", "), "]"));
  }
  if (reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0) return reinterpret_cast<const float*>(t->data);
  // The format does not promise aligned data; copy rather than read floats
  // through a misaligned pointer.
  std::vector<float>& copy = copies_.emplace_back(static_cast<size_t>(t->num_elements));
  std::memcpy(copy.data(), t->data, t->size_bytes);
  return copy.data();
}

absl::StatusOr<kernels::WeightView> BertModel::BindMatrix(const std::string& name, int64_t rows, int64_t cols) {
  absl::StatusOr<const float*> p = Bind(name, {rows, cols});
  if (!p.ok()) return p.status();
  return kernels::WeightView{kernels::GgmlType::kF32, *p, rows, cols, static_cast<size_t>(cols) * sizeof(float)};
}

absl::StatusOr<std::unique_ptr<BertModel>> BertModel::Load(const std::string& safetensors_path,
                                                           const BertConfig& config) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(safetensors_path);
  if (!file.ok()) return file.status();
  std::unique_ptr<BertModel> m(new BertModel());
  m->config_ = config;
  m->file_ = std::move(*file);
  // BertForMaskedLM-style checkpoints prefix every name with "bert.".
  if (m->file_->Find("embeddings.word_embeddings.weight") == nullptr &&
      m->file_->Find("bert.embeddings.word_embeddings.weight") != nullptr) {
    m->prefix_ = "bert.";
  }
  const int64_t h = config.hidden_size, inter = config.intermediate_size;
#define TANDEM_BIND(dst, expr)            \
  do {                                    \
    auto bound = (expr);                  \
    if (!bound.ok()) return bound.status(); \
    dst = *bound;                         \
  } while (0)
  TANDEM_BIND(m->word_emb_, m->Bind("embeddings.word_embeddings.weight", {config.vocab_size, h}));
  TANDEM_BIND(m->pos_emb_, m->Bind("embeddings.position_embeddings.weight", {config.max_position_embeddings, h}));
  TANDEM_BIND(m->type_emb_, m->Bind("embeddings.token_type_embeddings.weight", {config.type_vocab_size, h}));
  TANDEM_BIND(m->emb_ln_w_, m->Bind("embeddings.LayerNorm.weight", {h}));
  TANDEM_BIND(m->emb_ln_b_, m->Bind("embeddings.LayerNorm.bias", {h}));
  for (int l = 0; l < config.num_hidden_layers; ++l) {
    const std::string p = absl::StrCat("encoder.layer.", l, ".");
    Layer L;
    TANDEM_BIND(L.q, m->BindMatrix(p + "attention.self.query.weight", h, h));
    TANDEM_BIND(L.k, m->BindMatrix(p + "attention.self.key.weight", h, h));
    TANDEM_BIND(L.v, m->BindMatrix(p + "attention.self.value.weight", h, h));
    TANDEM_BIND(L.o, m->BindMatrix(p + "attention.output.dense.weight", h, h));
    TANDEM_BIND(L.inter, m->BindMatrix(p + "intermediate.dense.weight", inter, h));
    TANDEM_BIND(L.out, m->BindMatrix(p + "output.dense.weight", h, inter));
    TANDEM_BIND(L.q_b, m->Bind(p + "attention.self.query.bias", {h}));
    TANDEM_BIND(L.k_b, m->Bind(p + "attention.self.key.bias", {h}));
    TANDEM_BIND(L.v_b, m->Bind(p + "attention.self.value.bias", {h}));
    TANDEM_BIND(L.o_b, m->Bind(p + "attention.output.dense.bias", {h}));
    TANDEM_BIND(L.inter_b, m->Bind(p + "intermediate.dense.bias", {inter}));
    TANDEM_BIND(L.out_b, m->Bind(p + "output.dense.bias", {h}));
    TANDEM_BIND(L.attn_ln_w, m->Bind(p + "attention.output.LayerNorm.weight", {h}));
    TANDEM_BIND(L.attn_ln_b, m->Bind(p + "attention.output.LayerNorm.bias", {h}));
    TANDEM_BIND(L.out_ln_w, m->Bind(p + "output.LayerNorm.weight", {h}));
    TANDEM_BIND(L.out_ln_b, m->Bind(p + "output.LayerNorm.bias", {h}));
    m->layers_.push_back(L);
  }
#undef TANDEM_BIND
  return m;
}

absl::Status BertModel::Embed(std::span<const std::vector<int32_t>> sequences, kernels::ThreadPool& pool,
                              float* out) const {
  const int64_t H = config_.hidden_size, I = config_.intermediate_size;
  const int64_t heads = config_.num_attention_heads, D = config_.head_dim();
  const double eps = config_.layer_norm_eps;
  std::vector<int64_t> start(sequences.size() + 1, 0);  // first row of each sequence
  for (size_t s = 0; s < sequences.size(); ++s) {
    const auto& ids = sequences[s];
    if (ids.empty() || ids.size() > static_cast<size_t>(config_.max_position_embeddings)) {
      return absl::InvalidArgumentError(absl::StrCat("bert: sequence ", s, " has ", ids.size(),
                                                     " tokens; 1..", config_.max_position_embeddings, " allowed"));
    }
    for (int32_t id : ids) {
      if (id < 0 || id >= config_.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("bert: sequence ", s, " has token id ", id,
                                                       " outside [0, ", config_.vocab_size, ")"));
      }
    }
    start[s + 1] = start[s] + static_cast<int64_t>(ids.size());
  }
  const int64_t T = start.back();
  if (T == 0) return absl::OkStatus();

  std::vector<float> x(static_cast<size_t>(T * H)), x1(x.size()), tmp(x.size());
  std::vector<float> q(x.size()), k(x.size()), v(x.size()), ctx(x.size());
  std::vector<float> inter(static_cast<size_t>(T * I));
  kernels::MatMulWorkspace ws;

  // Embeddings: word + position + token type 0, then LayerNorm.
  ParallelTasks(pool, static_cast<int64_t>(sequences.size()), [&](int64_t s) {
    const auto& ids = sequences[static_cast<size_t>(s)];
    for (size_t p = 0; p < ids.size(); ++p) {
      float* row = x.data() + (start[static_cast<size_t>(s)] + static_cast<int64_t>(p)) * H;
      const float* w = word_emb_ + static_cast<int64_t>(ids[p]) * H;
      const float* pe = pos_emb_ + static_cast<int64_t>(p) * H;
      for (int64_t i = 0; i < H; ++i) row[i] = w[i] + pe[i] + type_emb_[i];
      LayerNorm(row, emb_ln_w_, emb_ln_b_, row, H, eps);
    }
  });

  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const auto fail = [](const char* what) { return absl::InternalError(absl::StrCat("bert: matmul failed: ", what)); };
  for (const Layer& L : layers_) {
    const kernels::WeightView qkv[3] = {L.q, L.k, L.v};
    float* const ys[3] = {q.data(), k.data(), v.data()};
    const int64_t lds[3] = {H, H, H};
    if (!kernels::MatMulMulti(qkv, x.data(), T, H, ys, lds, ws, pool)) return fail("qkv");
    AddBias(q.data(), L.q_b, T, H, H);
    AddBias(k.data(), L.k_b, T, H, H);
    AddBias(v.data(), L.v_b, T, H, H);

    // Attention per (sequence, head): scores = softmax(Q K^T / sqrt(d)),
    // ctx = scores V, each product a single-threaded MatMul on the task's
    // own thread.
    std::atomic<bool> attn_failed{false};
    ParallelTasks(pool, static_cast<int64_t>(sequences.size()) * heads, [&](int64_t task) {
      const int64_t s = task / heads, hd = task % heads;
      const int64_t r0 = start[static_cast<size_t>(s)], n = start[static_cast<size_t>(s) + 1] - r0;
      kernels::ThreadPool inline_pool(1);
      kernels::MatMulWorkspace local_ws;
      std::vector<float> scores(static_cast<size_t>(n * n)), vt(static_cast<size_t>(D * n));
      const kernels::WeightView keys{kernels::GgmlType::kF32, k.data() + r0 * H + hd * D, n, D,
                                     static_cast<size_t>(H) * sizeof(float)};
      bool ok = kernels::MatMul(keys, q.data() + r0 * H + hd * D, n, H, scores.data(), n, local_ws, inline_pool);
      for (int64_t i = 0; i < n; ++i) {
        kernels::Scale(scores.data() + i * n, scale, n);
        kernels::Softmax(scores.data() + i * n, n);
      }
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t d = 0; d < D; ++d) vt[static_cast<size_t>(d * n + j)] = v[static_cast<size_t>((r0 + j) * H + hd * D + d)];
      }
      const kernels::WeightView values{kernels::GgmlType::kF32, vt.data(), D, n, static_cast<size_t>(n) * sizeof(float)};
      ok = ok && kernels::MatMul(values, scores.data(), n, n, ctx.data() + r0 * H + hd * D, H, local_ws, inline_pool);
      if (!ok) attn_failed.store(true, std::memory_order_relaxed);
    });
    if (attn_failed.load()) return fail("attention");

    if (!kernels::MatMul(L.o, ctx.data(), T, H, tmp.data(), H, ws, pool)) return fail("attention output");
    pool.ParallelFor(T, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        float* row = tmp.data() + r * H;
        kernels::Add(row, L.o_b, row, H);
        kernels::Add(row, x.data() + r * H, row, H);
        LayerNorm(row, L.attn_ln_w, L.attn_ln_b, x1.data() + r * H, H, eps);
      }
    });

    if (!kernels::MatMul(L.inter, x1.data(), T, H, inter.data(), I, ws, pool)) return fail("intermediate");
    pool.ParallelFor(T, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        float* row = inter.data() + r * I;
        kernels::Add(row, L.inter_b, row, I);
        for (int64_t i = 0; i < I; ++i) row[i] = Gelu(row[i]);
      }
    });

    if (!kernels::MatMul(L.out, inter.data(), T, I, tmp.data(), H, ws, pool)) return fail("output");
    pool.ParallelFor(T, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        float* row = tmp.data() + r * H;
        kernels::Add(row, L.out_b, row, H);
        kernels::Add(row, x1.data() + r * H, row, H);
        LayerNorm(row, L.out_ln_w, L.out_ln_b, x.data() + r * H, H, eps);
      }
    });
  }

  // Mean over each sequence's tokens ([CLS] and [SEP] included, as the
  // attention mask does in sentence-transformers), then L2 normalization
  // (norm floored at 1e-12 like torch.nn.functional.normalize).
  std::vector<double> acc(static_cast<size_t>(H));
  for (size_t s = 0; s < sequences.size(); ++s) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t r = start[s]; r < start[s + 1]; ++r) {
      const float* row = x.data() + r * H;
      for (int64_t i = 0; i < H; ++i) acc[static_cast<size_t>(i)] += row[i];
    }
    double norm = 0;
    for (double a : acc) norm += a * a;
    norm = std::max(std::sqrt(norm), 1e-12 * static_cast<double>(start[s + 1] - start[s]));
    float* dst = out + static_cast<int64_t>(s) * H;
    for (int64_t i = 0; i < H; ++i) dst[i] = static_cast<float>(acc[static_cast<size_t>(i)] / norm);
  }
  return absl::OkStatus();
}

}  // namespace tandem::embedding
