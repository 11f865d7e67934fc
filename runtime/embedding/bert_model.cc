#include "runtime/embedding/bert_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/ops.h"
#include "runtime/embedding/gelu.h"
#include "runtime/embedding/parallel_tasks.h"

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

// fn(begin, end) over [0, rows) in blocks of 16 rows, claimed dynamically
// (ParallelTasks): on a loaded machine a descheduled worker does not hold
// up the row-wise steps the way a static split would.
template <typename Fn>
void ForRows(kernels::ThreadPool& pool, int64_t rows, Fn&& fn) {
  constexpr int64_t kBlock = 16;
  ParallelTasks(pool, (rows + kBlock - 1) / kBlock,
                [&](int64_t t) { fn(t * kBlock, std::min(rows, (t + 1) * kBlock)); });
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

absl::StatusOr<PackedWeights> BertModel::PackLinear(const std::string& prefix,
                                                    std::initializer_list<const char*> names, int64_t rows,
                                                    int64_t cols) {
  std::vector<float> w, b;
  w.reserve(names.size() * static_cast<size_t>(rows * cols));
  for (const char* name : names) {
    absl::StatusOr<const float*> wp = Bind(absl::StrCat(prefix, name, ".weight"), {rows, cols});
    if (!wp.ok()) return wp.status();
    absl::StatusOr<const float*> bp = Bind(absl::StrCat(prefix, name, ".bias"), {rows});
    if (!bp.ok()) return bp.status();
    w.insert(w.end(), *wp, *wp + rows * cols);
    b.insert(b.end(), *bp, *bp + rows);
  }
  const int64_t n = static_cast<int64_t>(names.size()) * rows;
  return PackedWeights(w.data(), cols, b.data(), n, cols);
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
    TANDEM_BIND(L.qkv, m->PackLinear(p, {"attention.self.query", "attention.self.key", "attention.self.value"}, h, h));
    TANDEM_BIND(L.o, m->PackLinear(p, {"attention.output.dense"}, h, h));
    TANDEM_BIND(L.inter, m->PackLinear(p, {"intermediate.dense"}, inter, h));
    TANDEM_BIND(L.out, m->PackLinear(p, {"output.dense"}, h, inter));
    TANDEM_BIND(L.attn_ln_w, m->Bind(p + "attention.output.LayerNorm.weight", {h}));
    TANDEM_BIND(L.attn_ln_b, m->Bind(p + "attention.output.LayerNorm.bias", {h}));
    TANDEM_BIND(L.out_ln_w, m->Bind(p + "output.LayerNorm.weight", {h}));
    TANDEM_BIND(L.out_ln_b, m->Bind(p + "output.LayerNorm.bias", {h}));
    m->layers_.push_back(std::move(L));
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

  std::vector<float> x(static_cast<size_t>(T * H)), x1(x.size()), tmp(x.size()), ctx(x.size());
  std::vector<float> qkv(static_cast<size_t>(T * 3 * H));  // row: q | k | v
  std::vector<float> inter(static_cast<size_t>(T * I));

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
  const int64_t ld_qkv = 3 * H;
  // Post-LN residual of both sublayers: dst = LayerNorm(tmp + residual) * w + b
  // (tmp holds the sublayer's output and is overwritten).
  auto add_norm = [&](const float* residual, const float* w, const float* b, float* dst) {
    ForRows(pool, T, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        float* row = tmp.data() + r * H;
        kernels::Add(row, residual + r * H, row, H);
        LayerNorm(row, w, b, dst + r * H, H, eps);
      }
    });
  };
  for (const Layer& L : layers_) {
    GemmF32(L.qkv, x.data(), T, H, qkv.data(), ld_qkv, pool);

    // Attention per (sequence, head) on the task's own thread:
    // scores = softmax(Q K^T / sqrt(d)), ctx = scores V, both products
    // through GemmF32 with this head's K and V^T packed as the "weights".
    ParallelTasks(pool, static_cast<int64_t>(sequences.size()) * heads, [&](int64_t task) {
      const int64_t s = task / heads, hd = task % heads;
      const int64_t r0 = start[static_cast<size_t>(s)], n = start[static_cast<size_t>(s) + 1] - r0;
      kernels::ThreadPool inline_pool(1);
      const float* q = qkv.data() + r0 * ld_qkv + hd * D;
      const float* k = q + H;
      const float* v = q + 2 * H;
      const PackedWeights keys(k, ld_qkv, nullptr, n, D);
      std::vector<float> scores(static_cast<size_t>(n * n));
      GemmF32(keys, q, n, ld_qkv, scores.data(), n, inline_pool);
      for (int64_t i = 0; i < n; ++i) {
        kernels::Scale(scores.data() + i * n, scale, n);
        kernels::Softmax(scores.data() + i * n, n);
      }
      std::vector<float> vt(static_cast<size_t>(D * n));
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t d = 0; d < D; ++d) vt[static_cast<size_t>(d * n + j)] = v[j * ld_qkv + d];
      }
      const PackedWeights values(vt.data(), n, nullptr, D, n);
      GemmF32(values, scores.data(), n, n, ctx.data() + r0 * H + hd * D, H, inline_pool);
    });

    GemmF32(L.o, ctx.data(), T, H, tmp.data(), H, pool);
    add_norm(x.data(), L.attn_ln_w, L.attn_ln_b, x1.data());

    GemmF32(L.inter, x1.data(), T, H, inter.data(), I, pool);
    ForRows(pool, T, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        GeluInPlace(inter.data() + r * I, I);
      }
    });

    GemmF32(L.out, inter.data(), T, I, tmp.data(), H, pool);
    add_norm(x1.data(), L.out_ln_w, L.out_ln_b, x.data());
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
