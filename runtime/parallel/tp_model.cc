#include "runtime/parallel/tp_model.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tandem::runtime::parallel {
namespace {

// As runtime::Model: 64-token KV pages.
constexpr int kPageTokens = 64;

std::string Shape(const std::vector<int64_t>& dims) { return absl::StrCat("[", absl::StrJoin(dims, ", "), "]"); }

}  // namespace

absl::Status TpSession::Truncate(int64_t n) {
  if (n < 0 || n > length()) {
    return absl::OutOfRangeError(absl::StrCat("cannot truncate a session of ", length(), " tokens to ", n));
  }
  kv_->Truncate(n);
  return absl::OkStatus();
}

TensorParallelModel::~TensorParallelModel() = default;

absl::StatusOr<std::unique_ptr<TensorParallelModel>> TensorParallelModel::Load(const gguf::GgufFile& file,
                                                                               Backend& backend, Communicator& comm,
                                                                               const TpOptions& options) {
  std::unique_ptr<TensorParallelModel> m(new TensorParallelModel(backend, comm));
  absl::StatusOr<ModelConfig> config = ReadModelConfig(file);
  if (!config.ok()) return config.status();
  m->config_ = *config;
  const ModelConfig& c = m->config_;
  const int world = comm.world_size(), rank = comm.rank();
  absl::StatusOr<HeadPartition> heads = PartitionHeads(c.n_head, c.n_head_kv, world, rank);
  if (!heads.ok()) return heads.status();
  m->heads_ = *heads;
  if (c.n_ff % world != 0) {
    return absl::InvalidArgumentError(absl::StrCat("n_ff ", c.n_ff, " is not divisible by the world size ", world));
  }
  m->ff_count_ = c.n_ff / world;
  m->ff_begin_ = m->ff_count_ * rank;
  if (absl::Status s = m->LoadShard(file); !s.ok()) return s;

  // Rotary frequencies exactly as runtime::Model::Load computes them.
  RopeConfig rope;
  rope.style = c.rope_style;
  rope.head_dim = c.head_dim;
  rope.rot_dim = c.rope_dim;
  rope.position_scale = 1.0f / c.rope_linear_factor;
  rope.inv_freq.resize(c.rope_dim / 2);
  for (int i = 0; i < c.rope_dim / 2; ++i) {
    rope.inv_freq[i] = static_cast<float>(
        std::pow(static_cast<double>(c.rope_base), -2.0 * i / static_cast<double>(c.rope_dim)));
  }
  if (const gguf::TensorInfo* ff = file.FindTensor("rope_freqs.weight"); ff != nullptr) {
    if (ff->type != kernels::GgmlType::kF32 || ff->num_elements() != c.rope_dim / 2) {
      return absl::InvalidArgumentError("tensor rope_freqs.weight: unexpected type or size");
    }
    const float* factors = reinterpret_cast<const float*>(ff->data);
    for (int i = 0; i < c.rope_dim / 2; ++i) rope.inv_freq[i] /= factors[i];
  }
  backend.SetRope(rope);

  const HeadPartition& hp = m->heads_;
  KvLayout layout{c.n_layers, hp.kv_count * c.head_dim, kPageTokens};
  const size_t page_bytes =
      static_cast<size_t>(layout.n_layers) * 2 * layout.page_tokens * layout.kv_dim * sizeof(uint16_t);
  const int64_t max_pages = static_cast<int64_t>(options.kv_budget_bytes / page_bytes);
  if (max_pages < 1) return absl::InvalidArgumentError("kv_budget_bytes is below one KV page");
  if (absl::Status s = backend.InitKvPool(layout, max_pages); !s.ok()) return s;
  m->kv_pool_ = std::make_unique<KvPool>(backend, kPageTokens, max_pages, backend.KvPageBytes());

  const int64_t QL = int64_t{hp.q_count} * c.head_dim, KL = int64_t{hp.kv_count} * c.head_dim;
  for (auto [a, cols] : {std::pair{&m->x_, int64_t{c.n_embd}}, {&m->h_, c.n_embd}, {&m->q_, QL}, {&m->k_, KL},
                         {&m->v_, KL}, {&m->attn_, QL}, {&m->gate_, m->ff_count_}, {&m->up_, m->ff_count_},
                         {&m->logits_, m->output_.rows}}) {
    absl::StatusOr<Activation> act = backend.NewActivation(cols);
    if (!act.ok()) return act.status();
    *a = *act;
  }
  if (absl::Status s = backend.ReserveScratch(512); !s.ok()) return s;
  return m;
}

absl::Status TensorParallelModel::LoadShard(const gguf::GgufFile& file) {
  ModelConfig& c = config_;
  const HeadPartition& hp = heads_;
  // A shard's bytes must outlive the backend's view of them (the CPU backend
  // is zero-copy); they are kept in owned_ below.
  auto find = [&](const std::string& name, std::vector<int64_t> shape,
                  bool optional = false) -> absl::StatusOr<const gguf::TensorInfo*> {
    const gguf::TensorInfo* t = file.FindTensor(name);
    if (t == nullptr) {
      if (optional) return nullptr;
      return absl::NotFoundError(absl::StrCat("missing tensor ", name));
    }
    if (t->dims != shape) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", name, ": expected shape ", Shape(shape), ", got ", Shape(t->dims)));
    }
    return t;
  };
  auto add = [&](const gguf::TensorInfo& t, absl::StatusOr<std::vector<uint8_t>> bytes, int64_t rows, int64_t cols,
                 bool for_matmul) -> absl::StatusOr<WeightHandle> {
    if (!bytes.ok()) return bytes.status();
    owned_.push_back(std::move(*bytes));
    return b_.AddWeight(t.name, t.type, owned_.back().data(), rows, cols, for_matmul);
  };
  // Column-parallel: rows [begin, begin + count) of a [cols x rows] tensor.
  auto rows_of = [&](const std::string& name, int64_t cols, int64_t all_rows, int64_t begin, int64_t count,
                     WeightHandle* out) -> absl::Status {
    absl::StatusOr<const gguf::TensorInfo*> t = find(name, {cols, all_rows});
    if (!t.ok()) return t.status();
    absl::StatusOr<WeightHandle> w = add(**t, SliceRows(**t, begin, count), count, cols, true);
    if (!w.ok()) return w.status();
    *out = *w;
    return absl::OkStatus();
  };
  // Row-parallel: columns [begin, begin + count) of a [all_cols x rows] tensor.
  auto cols_of = [&](const std::string& name, int64_t all_cols, int64_t rows, int64_t begin, int64_t count,
                     WeightHandle* out) -> absl::Status {
    absl::StatusOr<const gguf::TensorInfo*> t = find(name, {all_cols, rows});
    if (!t.ok()) return t.status();
    absl::StatusOr<WeightHandle> w = add(**t, SliceCols(**t, begin, count), rows, count, true);
    if (!w.ok()) return w.status();
    *out = *w;
    return absl::OkStatus();
  };
  // A vector: whole (norms) or the slice [begin, begin + count) (biases).
  auto vec = [&](const std::string& name, int64_t n, int64_t begin, int64_t count, bool optional,
                 WeightHandle* out) -> absl::Status {
    absl::StatusOr<const gguf::TensorInfo*> t = find(name, {n}, optional);
    if (!t.ok()) return t.status();
    if (*t == nullptr) return absl::OkStatus();
    absl::StatusOr<WeightHandle> w = add(**t, SliceCols(**t, begin, count), 1, count, false);
    if (!w.ok()) return w.status();
    *out = *w;
    return absl::OkStatus();
  };

  const gguf::TensorInfo* embd = file.FindTensor("token_embd.weight");
  if (embd == nullptr) return absl::NotFoundError("missing tensor token_embd.weight");
  if (embd->dims.size() != 2 || embd->dims[0] != c.n_embd || embd->dims[1] <= 0 ||
      embd->dims[1] > (int64_t{1} << 31)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor token_embd.weight: expected shape [", c.n_embd, ", vocab], got ", Shape(embd->dims)));
  }
  c.vocab_size = static_cast<int>(embd->dims[1]);
  absl::StatusOr<VocabPartition> vp = PartitionVocab(c.vocab_size, comm_.world_size(), comm_.rank());
  if (!vp.ok()) return vp.status();
  vocab_ = *vp;
  const int64_t E = c.n_embd, V = c.vocab_size;
  // This rank's vocabulary rows, zero rows for the padding, and one more zero
  // row that the ids of other ranks' slices look up (their embedding is
  // contributed by their owner; the all-reduce adds this rank's zeros).
  {
    absl::StatusOr<WeightHandle> w = add(*embd, SliceRows(*embd, vocab_.begin, vocab_.real,
                                                          vocab_.per_rank - vocab_.real + 1),
                                         vocab_.per_rank + 1, E, true);
    if (!w.ok()) return w.status();
    embd_ = *w;
  }
  if (absl::Status s = vec("output_norm.weight", E, 0, E, false, &output_norm_); !s.ok()) return s;
  absl::StatusOr<const gguf::TensorInfo*> out = find("output.weight", {E, V}, true);
  if (!out.ok()) return out.status();
  c.tied_embeddings = *out == nullptr;
  if (c.tied_embeddings) {
    output_ = embd_;  // its extra zero row yields one extra logit, never returned
  } else {
    absl::StatusOr<WeightHandle> w =
        add(**out, SliceRows(**out, vocab_.begin, vocab_.real, vocab_.per_rank - vocab_.real), vocab_.per_rank, E,
            true);
    if (!w.ok()) return w.status();
    output_ = *w;
  }

  const int64_t hd = c.head_dim, QD = int64_t{c.n_head} * hd, KD = int64_t{c.n_head_kv} * hd, F = c.n_ff;
  const int64_t q0 = hp.q_begin * hd, ql = hp.q_count * hd, k0 = hp.kv_begin * hd, kl = hp.kv_count * hd;
  layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    Layer& L = layers_[l];
    for (absl::Status s : {
             vec(p + "attn_norm.weight", E, 0, E, false, &L.attn_norm),
             rows_of(p + "attn_q.weight", E, QD, q0, ql, &L.wq),
             rows_of(p + "attn_k.weight", E, KD, k0, kl, &L.wk),
             rows_of(p + "attn_v.weight", E, KD, k0, kl, &L.wv),
             cols_of(p + "attn_output.weight", QD, E, q0, ql, &L.wo),
             vec(p + "attn_q.bias", QD, q0, ql, !c.has_qkv_bias, &L.bq),
             vec(p + "attn_k.bias", KD, k0, kl, !c.has_qkv_bias, &L.bk),
             vec(p + "attn_v.bias", KD, k0, kl, !c.has_qkv_bias, &L.bv),
             vec(p + "ffn_norm.weight", E, 0, E, false, &L.ffn_norm),
             rows_of(p + "ffn_gate.weight", E, F, ff_begin_, ff_count_, &L.w_gate),
             rows_of(p + "ffn_up.weight", E, F, ff_begin_, ff_count_, &L.w_up),
             cols_of(p + "ffn_down.weight", F, E, ff_begin_, ff_count_, &L.w_down),
         }) {
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TpSession>> TensorParallelModel::NewSession() {
  return std::unique_ptr<TpSession>(new TpSession(std::make_unique<KvSequence>(kv_pool_.get())));
}

absl::Status TensorParallelModel::AllReduce(Activation& a) {
  return comm_.AllReduceSum(b_.RowData(a), static_cast<size_t>(a.rows * a.cols));
}

absl::Status TensorParallelModel::Forward(TpSession& session, std::span<const int32_t> tokens,
                                          std::vector<float>* local_logits) {
  absl::Status s = Run(session, tokens, local_logits);
  if (!s.ok()) comm_.Abort(s);
  return s;
}

absl::Status TensorParallelModel::CheckForward(const TpSession& session, std::span<const int32_t> tokens) const {
  const ModelConfig& c = config_;
  if (tokens.empty()) return absl::InvalidArgumentError("no tokens");
  for (int32_t t : tokens) {
    if (t < 0 || t >= c.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", t, " outside the vocabulary [0, ", c.vocab_size, ")"));
    }
  }
  const KvSequence& kv = *session.kv_;
  const int64_t end = kv.length() + static_cast<int64_t>(tokens.size());
  if (end > c.context_length) {
    return absl::OutOfRangeError(absl::StrCat(end, " tokens exceed the context length ", c.context_length));
  }
  // Sessions never fork here, so a session holds exactly the pages of its
  // committed tokens and needs ceil(end / page) of them.
  const int64_t needed = (end + kPageTokens - 1) / kPageTokens - static_cast<int64_t>(kv.pages().size());
  const int64_t free_pages = kv_pool_->max_pages() - kv_pool_->pages_in_use();
  if (needed > free_pages) {
    return absl::ResourceExhaustedError(absl::StrCat("KV cache budget exhausted: ", needed, " more pages needed, ",
                                                     free_pages, " free"));
  }
  return absl::OkStatus();
}

absl::Status TensorParallelModel::Run(TpSession& session, std::span<const int32_t> tokens,
                                      std::vector<float>* local_logits) {
  if (static_cast<int64_t>(tokens.size()) > kMaxTpForwardTokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxTpForwardTokens, " tokens per tensor-parallel forward"));
  }
  if (absl::Status s = CheckForward(session, tokens); !s.ok()) return s;
  const ModelConfig& c = config_;
  KvSequence& kv = *session.kv_;
  const int64_t start = kv.length();
  const int64_t R = static_cast<int64_t>(tokens.size());
  if (absl::Status s = kv.Reserve(R); !s.ok()) return s;
  ids_.clear();
  positions_.clear();
  slots_.clear();
  attn_rows_.clear();
  for (int64_t i = 0; i < R; ++i) {
    const int64_t g = tokens[i] - vocab_.begin;
    ids_.push_back(g >= 0 && g < vocab_.real ? static_cast<int32_t>(g) : static_cast<int32_t>(vocab_.per_rank));
    positions_.push_back(static_cast<int32_t>(start + i));
    slots_.push_back(kv.SlotOf(start + i));
    attn_rows_.push_back(AttentionRow{kv.pages().data(), static_cast<int32_t>(start + i + 1)});
  }
  auto fail = [&](absl::Status s) {
    kv.Truncate(start);
    return s;
  };
  for (Activation* a : {&x_, &h_, &q_, &k_, &v_, &attn_, &gate_, &up_, &logits_}) {
    if (absl::Status s = b_.EnsureRows(*a, R); !s.ok()) return fail(s);
  }
  const HeadPartition& hp = heads_;
  const AttentionShape shape{hp.q_count, hp.kv_count, c.head_dim,
                             static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)))};
  // One backend pass (a CUDA graph per row count on the GPU; the collectives
  // are enqueued on the backend's stream, so NCCL's are recorded too).
  auto pass = [&]() -> absl::Status {
    b_.SetPositions(positions_);
    b_.Embed(embd_, ids_, x_);
    if (absl::Status s = AllReduce(x_); !s.ok()) return s;
    for (int l = 0; l < c.n_layers; ++l) {
      const Layer& L = layers_[l];
      b_.RmsNorm(x_, L.attn_norm, c.norm_eps, h_);
      {
        const WeightHandle* qkv[3] = {&L.wq, &L.wk, &L.wv};
        const WeightHandle* bias[3] = {L.bq.valid() ? &L.bq : nullptr, L.bk.valid() ? &L.bk : nullptr,
                                       L.bv.valid() ? &L.bv : nullptr};
        Activation* out[3] = {&q_, &k_, &v_};
        if (absl::Status s = b_.MatMulMulti(qkv, bias, h_, out); !s.ok()) return s;
      }
      b_.Rope(q_, hp.q_count);
      b_.Rope(k_, hp.kv_count);
      b_.StoreKv(l, k_, v_, slots_);
      b_.Attention(l, q_, attn_rows_, shape, attn_);
      if (absl::Status s = b_.MatMul(L.wo, nullptr, attn_, h_); !s.ok()) return s;
      if (absl::Status s = AllReduce(h_); !s.ok()) return s;
      b_.Add(x_, h_);
      b_.RmsNorm(x_, L.ffn_norm, c.norm_eps, h_);
      {
        const WeightHandle* gu[2] = {&L.w_gate, &L.w_up};
        const WeightHandle* no_bias[2] = {nullptr, nullptr};
        Activation* out[2] = {&gate_, &up_};
        if (absl::Status s = b_.MatMulMulti(gu, no_bias, h_, out); !s.ok()) return s;
      }
      b_.SiluMul(gate_, up_, gate_);
      if (absl::Status s = b_.MatMul(L.w_down, nullptr, gate_, h_); !s.ok()) return s;
      if (absl::Status s = AllReduce(h_); !s.ok()) return s;
      b_.Add(x_, h_);
    }
    b_.RmsNorm(x_, output_norm_, c.norm_eps, h_);
    if (absl::Status s = b_.MatMul(output_, nullptr, h_, logits_); !s.ok()) return s;
    return absl::OkStatus();
  };
  if (absl::Status s = b_.RunPass(R, pass); !s.ok()) return fail(s);
  if (local_logits != nullptr) {
    const int64_t width = logits_.cols;
    std::vector<float> row(static_cast<size_t>(width));
    local_logits->resize(static_cast<size_t>(R * vocab_.real));
    for (int64_t i = 0; i < R; ++i) {
      b_.ReadRows(logits_, i, 1, row.data());
      std::copy(row.begin(), row.begin() + vocab_.real, local_logits->begin() + i * vocab_.real);
    }
  }
  kv.Commit(R);
  return absl::OkStatus();
}

}  // namespace tandem::runtime::parallel
