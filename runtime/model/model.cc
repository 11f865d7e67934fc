#include "runtime/model/model.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/quantize.h"
#include "runtime/gguf/huge_page_image.h"

namespace tandem::runtime {
namespace {

// ggml's name of a weight type ("q4_K"), for messages.
std::string TypeName(kernels::GgmlType type) {
  const kernels::TypeTraits* t = kernels::FindTypeTraits(static_cast<uint32_t>(type));
  return t != nullptr ? t->name : absl::StrCat("type ", static_cast<uint32_t>(type));
}

// Tokens per KV page: small enough that a short session wastes little, large
// enough that the attention loop runs long tiles.
constexpr int kPageTokens = 64;
// Rows per forward pass; longer batches are split into several passes so the
// activation scratch stays bounded (a 512 x 4864 fp32 matrix is 10 MB).
constexpr int64_t kMaxPassRows = 512;
// Logit rows computed per output-projection chunk (bounds the vocab-wide scratch).
constexpr int64_t kLogitChunkRows = 32;

std::string ShapeString(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

// ModelOptions::weights resolved for the backend that will read them.
absl::StatusOr<gguf::GgufMemory> ResolveWeightMemory(WeightMemory requested, std::string_view backend) {
  if (requested == WeightMemory::kMapped) return gguf::GgufMemory::kMapped;
  if (requested == WeightMemory::kHugePages) return gguf::GgufMemory::kHugePages;
  if (const char* env = std::getenv("TANDEM_WEIGHTS"); env != nullptr && *env != '\0') {
    const std::string_view v(env);
    if (v == "mmap") return gguf::GgufMemory::kMapped;
    if (v == "hugepages") return gguf::GgufMemory::kHugePages;
    return absl::InvalidArgumentError(
        absl::StrCat("TANDEM_WEIGHTS='", std::string(v), "': expected 'mmap' or 'hugepages' (or unset for the default)"));
  }
  return backend == "cpu" && gguf::TransparentHugePagesAvailable() ? gguf::GgufMemory::kHugePages
                                                                   : gguf::GgufMemory::kMapped;
}

}  // namespace

// ---------------------------------------------------------------- Session --

Session::Session(const Model* model, std::unique_ptr<KvSequence> kv)
    : model_(model), kv_(std::move(kv)) {}

Session::~Session() = default;

absl::Status Session::Truncate(int64_t n) {
  if (n < 0 || n > length()) {
    return absl::OutOfRangeError(absl::StrCat("cannot truncate a session of ", length(),
                                              " tokens to ", n));
  }
  kv_->Truncate(n);
  tokens_.resize(static_cast<size_t>(n));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Session>> Session::Fork() const {
  std::unique_ptr<Session> s(new Session(model_, kv_->Fork()));
  s->tokens_.reserve(tokens_.capacity());
  s->tokens_ = tokens_;
  return s;
}

// ------------------------------------------------------------------ Model --

Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& gguf_path,
                                                   const ModelOptions& options) {
  std::unique_ptr<Model> m(new Model());
  if (options.n_threads < 0) return absl::InvalidArgumentError("n_threads must be >= 0");
  if (options.head_vocab < 0) {
    return absl::InvalidArgumentError(absl::StrCat("head_vocab must be >= 0 (0: the whole vocabulary), got ",
                                                   options.head_vocab));
  }
  // The backend first: which one reads the weights decides how they are held.
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateBackend(options.device, options.n_threads);
  if (!backend.ok()) return backend.status();
  m->backend_ = std::move(*backend);
  absl::StatusOr<gguf::GgufMemory> memory = ResolveWeightMemory(options.weights, m->backend_->name());
  if (!memory.ok()) return memory.status();
  absl::StatusOr<std::unique_ptr<gguf::GgufFile>> file = gguf::GgufFile::Open(gguf_path, *memory);
  if (!file.ok()) return file.status();
  m->file_ = std::move(*file);
  absl::StatusOr<ModelConfig> config = ReadModelConfig(*m->file_);
  if (!config.ok()) return config.status();
  m->config_ = *config;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(*m->file_);
  if (!tok.ok()) {
    return absl::Status(tok.status().code(), absl::StrCat("tokenizer: ", tok.status().message()));
  }
  m->tokenizer_ = std::move(*tok);
  if (options.requantize.has_value() && !kernels::CanQuantize(*options.requantize)) {
    return absl::InvalidArgumentError(absl::StrCat("requantize: cannot quantize to ",
                                                   TypeName(*options.requantize), " (", kernels::kQuantizeTypeNames, ")"));
  }
  if (absl::Status s = m->LoadWeights(options.head_vocab, options.requantize); !s.ok()) return s;

  const ModelConfig& c = m->config_;
  m->max_context_ = options.max_context > 0 ? options.max_context : c.context_length;

  // Rotary frequencies: theta_i = base^(-2i/rot_dim), divided by the Llama 3
  // per-frequency factors when the file carries them.
  RopeConfig rope;
  rope.style = c.rope_style;
  rope.head_dim = c.head_dim;
  rope.rot_dim = c.rope_dim;
  rope.position_scale = 1.0f / c.rope_linear_factor;
  rope.inv_freq.resize(c.rope_dim / 2);
  for (int i = 0; i < c.rope_dim / 2; ++i) {
    rope.inv_freq[i] = static_cast<float>(std::pow(static_cast<double>(c.rope_base),
                                                   -2.0 * i / static_cast<double>(c.rope_dim)));
  }
  if (const gguf::TensorInfo* ff = m->file_->FindTensor("rope_freqs.weight"); ff != nullptr) {
    if (ff->type != kernels::GgmlType::kF32 || ff->num_elements() != c.rope_dim / 2) {
      return absl::InvalidArgumentError(absl::StrCat("tensor rope_freqs.weight: expected ", c.rope_dim / 2,
                                                     " f32 values, got shape ", ShapeString(ff->dims)));
    }
    const float* factors = reinterpret_cast<const float*>(ff->data);
    for (int i = 0; i < c.rope_dim / 2; ++i) rope.inv_freq[i] /= factors[i];
  }
  m->backend_->SetRope(rope);

  KvLayout layout{c.n_layers, c.n_head_kv * c.head_dim, kPageTokens};
  const size_t page_bytes = static_cast<size_t>(layout.n_layers) * 2 * layout.page_tokens *
                            layout.kv_dim * sizeof(uint16_t);
  const int64_t max_pages = static_cast<int64_t>(options.kv_budget_bytes / page_bytes);
  if (max_pages < 1) {
    return absl::InvalidArgumentError(absl::StrCat("kv_budget_bytes ", options.kv_budget_bytes,
                                                   " is below one KV page (", page_bytes, " bytes)"));
  }
  if (absl::Status s = m->backend_->InitKvPool(layout, max_pages); !s.ok()) return s;
  m->kv_pool_ = std::make_unique<KvPool>(*m->backend_, kPageTokens, max_pages, m->backend_->KvPageBytes());

  Backend& b = *m->backend_;
  for (auto [a, cols] : {std::pair{&m->x_, c.n_embd}, {&m->h_, c.n_embd}, {&m->q_, c.n_head * c.head_dim},
                         {&m->k_, c.n_head_kv * c.head_dim}, {&m->v_, c.n_head_kv * c.head_dim},
                         {&m->attn_, c.n_head * c.head_dim}, {&m->gate_, c.n_ff}, {&m->up_, c.n_ff},
                         {&m->lx_, c.n_embd}, {&m->lh_, c.n_embd}, {&m->logits_, m->head_vocab_}}) {
    absl::StatusOr<Activation> act = b.NewActivation(cols);
    if (!act.ok()) return act.status();
    *a = *act;
  }
  if (absl::Status s = b.ReserveScratch(kMaxPassRows); !s.ok()) return s;
  return m;
}

namespace {

// Bytes of tensor t re-quantized to `type` (its layer matrices only, see
// LoadWeights); 0 when that would not make its rows smaller.
size_t RequantizedBytes(const gguf::TensorInfo& t, kernels::GgmlType type) {
  if (t.dims.size() != 2 || !absl::StartsWith(t.name, "blk.")) return 0;
  const size_t src_row = kernels::RowBytes(t.type, t.dims[0]), dst_row = kernels::RowBytes(type, t.dims[0]);
  if (dst_row == 0 || src_row == 0 || dst_row >= src_row) return 0;
  return (static_cast<size_t>(t.dims[1]) * dst_row + 63) / 64 * 64;
}

}  // namespace

absl::Status Model::ReserveRequantized(kernels::GgmlType type) {
  size_t total = 0;
  for (const gguf::TensorInfo& t : file_->tensors()) total += RequantizedBytes(t, type);
  if (total == 0) return absl::OkStatus();
  // One region on huge pages, like the file's image: a decode step streams
  // these weights like the others.
  absl::StatusOr<std::unique_ptr<gguf::HugePageImage>> region =
      gguf::HugePageImage::Allocate(total, "the re-quantized weights (requantize)");
  if (!region.ok()) return region.status();
  requantized_ = *std::move(region);
  return absl::OkStatus();
}

absl::StatusOr<const void*> Model::Requantize(const gguf::TensorInfo& t, kernels::GgmlType type) {
  const size_t bytes = RequantizedBytes(t, type);
  if (bytes == 0) return nullptr;
  if (requantized_ == nullptr || requantized_used_ + bytes > requantized_->size()) {
    return absl::InternalError(absl::StrCat("requantize ", t.name, ": outside the reserved region"));
  }
  uint8_t* out = requantized_->mutable_data() + requantized_used_;
  const int64_t cols = t.dims[0], rows = t.dims[1];
  const size_t src_row = kernels::RowBytes(t.type, cols), dst_row = kernels::RowBytes(type, cols);
  const auto* src = static_cast<const uint8_t*>(t.data);
  // Rows [r0, r1): false where a row cannot be converted (a type without a
  // dequantizer, or rows that are not whole blocks: the same for every row).
  auto convert = [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      if (!kernels::DequantizeRow(t.type, src + r * src_row, row.data(), cols) ||
          !kernels::QuantizeRow(type, row.data(), out + r * dst_row, cols)) {
        return false;
      }
    }
    return true;
  };
  // The first row on this thread (the error, if any, shows there), the rest
  // split over the model's threads: a draft's layers take ~1.4 s on one.
  bool ok = convert(0, 1);
  if (ok && rows > 1) {
    const int64_t n = std::clamp<int64_t>(backend_->n_threads(), 1, rows - 1);
    std::vector<std::thread> workers;
    std::vector<char> done(static_cast<size_t>(n), 0);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r0 = 1 + (rows - 1) * i / n, r1 = 1 + (rows - 1) * (i + 1) / n;
      workers.emplace_back([&, i, r0, r1] { done[static_cast<size_t>(i)] = convert(r0, r1) ? 1 : 0; });
    }
    for (std::thread& w : workers) w.join();
    for (char d : done) ok = ok && d != 0;
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat("requantize ", t.name, ": cannot convert ", TypeName(t.type),
                                                   " rows of ", cols, " to ", TypeName(type)));
  }
  requantized_used_ += bytes;
  // The file's bytes of this tensor (a layer's matrix) are not read again:
  // give their whole pages back, so that the process holds the smaller copy
  // only. On the huge-page image those pages read as zeros afterwards;
  // through a file mapping they would fault back in.
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(t.data), end = begin + t.size_bytes;
  const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (last > first) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  return out;
}

absl::Status Model::LoadWeights(int64_t head_vocab, std::optional<kernels::GgmlType> requantize) {
  const ModelConfig& c = config_;
  Backend& b = *backend_;
  // Finds a tensor, checks its shape (ggml order: {cols} or {cols, rows}) and
  // registers it with the backend.
  auto get = [&](const std::string& name, std::vector<int64_t> shape, bool for_matmul,
                 bool optional = false) -> absl::StatusOr<WeightHandle> {
    const gguf::TensorInfo* t = file_->FindTensor(name);
    if (t == nullptr) {
      if (optional) return WeightHandle{};
      return absl::NotFoundError(absl::StrCat("missing tensor ", name));
    }
    if (t->dims != shape) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": expected shape ",
                                                     ShapeString(shape), ", got ", ShapeString(t->dims)));
    }
    const int64_t cols = shape[0];
    const int64_t rows = shape.size() > 1 ? shape[1] : 1;
    // The layers' matrices only (RequantizedBytes): the head's precision is
    // the draft's distribution itself (a Q4_0 head lowered acceptance at T = 1
    // from 0.74 to 0.64 on the Qwen pair, the layers alone to 0.71,
    // docs/benchmarks.md), and the embedding table is read one row a token.
    if (requantize.has_value() && for_matmul) {
      absl::StatusOr<const void*> rq = Requantize(*t, *requantize);
      if (!rq.ok()) return rq.status();
      if (*rq != nullptr) return b.AddWeight(name, *requantize, *rq, rows, cols, for_matmul);
    }
    return b.AddWeight(name, t->type, t->data, rows, cols, for_matmul);
  };
#define TANDEM_WEIGHT(dst, ...)        \
  {                                    \
    auto w_ = get(__VA_ARGS__);        \
    if (!w_.ok()) return w_.status();  \
    dst = *w_;                         \
  }
  const gguf::TensorInfo* embd = file_->FindTensor("token_embd.weight");
  if (embd == nullptr) return absl::NotFoundError("missing tensor token_embd.weight");
  if (embd->dims.size() != 2 || embd->dims[0] != c.n_embd || embd->dims[1] <= 0 ||
      embd->dims[1] > (int64_t{1} << 31)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor token_embd.weight: expected shape [",
                                                   c.n_embd, ", vocab], got ", ShapeString(embd->dims)));
  }
  config_.vocab_size = static_cast<int>(embd->dims[1]);
  const int64_t V = c.vocab_size, E = c.n_embd, F = c.n_ff;
  const int64_t QD = int64_t{c.n_head} * c.head_dim, KD = int64_t{c.n_head_kv} * c.head_dim;
  if (tokenizer_->vocab_size() > V) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer has ", tokenizer_->vocab_size(),
                                                   " tokens but token_embd.weight only ", V, " rows"));
  }
  TANDEM_WEIGHT(tok_embd_, "token_embd.weight", {E, V}, true);
  TANDEM_WEIGHT(output_norm_, "output_norm.weight", {E}, false);
  TANDEM_WEIGHT(output_, "output.weight", {E, V}, true, true);
  config_.tied_embeddings = !output_.valid();
  if (config_.tied_embeddings) output_ = tok_embd_;
  head_vocab_ = V;
  if (head_vocab > 0 && head_vocab < V) {
    // The first head_vocab rows of the same bytes (rows are token ids).
    const gguf::TensorInfo* head = file_->FindTensor(config_.tied_embeddings ? "token_embd.weight" : "output.weight");
    absl::StatusOr<WeightHandle> part =
        b.AddWeight(absl::StrCat(head->name, "[0:", head_vocab, "]"), head->type, head->data, head_vocab, E, true);
    if (!part.ok()) return part.status();
    output_ = *part;
    head_vocab_ = head_vocab;
  }

  if (requantize.has_value()) {
    if (absl::Status s = ReserveRequantized(*requantize); !s.ok()) return s;
  }
  layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    Layer& L = layers_[l];
    TANDEM_WEIGHT(L.attn_norm, p + "attn_norm.weight", {E}, false);
    TANDEM_WEIGHT(L.wq, p + "attn_q.weight", {E, QD}, true);
    TANDEM_WEIGHT(L.wk, p + "attn_k.weight", {E, KD}, true);
    TANDEM_WEIGHT(L.wv, p + "attn_v.weight", {E, KD}, true);
    TANDEM_WEIGHT(L.wo, p + "attn_output.weight", {QD, E}, true);
    // qwen2 always has Q/K/V biases; a llama file may carry them too.
    const bool need_bias = c.has_qkv_bias;
    TANDEM_WEIGHT(L.bq, p + "attn_q.bias", {QD}, false, !need_bias);
    TANDEM_WEIGHT(L.bk, p + "attn_k.bias", {KD}, false, !need_bias);
    TANDEM_WEIGHT(L.bv, p + "attn_v.bias", {KD}, false, !need_bias);
    TANDEM_WEIGHT(L.ffn_norm, p + "ffn_norm.weight", {E}, false);
    TANDEM_WEIGHT(L.w_gate, p + "ffn_gate.weight", {E, F}, true);
    TANDEM_WEIGHT(L.w_up, p + "ffn_up.weight", {E, F}, true);
    TANDEM_WEIGHT(L.w_down, p + "ffn_down.weight", {F, E}, true);
  }
#undef TANDEM_WEIGHT
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Session>> Model::NewSession() {
  return std::unique_ptr<Session>(new Session(this, std::make_unique<KvSequence>(kv_pool_.get())));
}

absl::Status Model::Forward(std::span<ForwardItem> batch) {
  // Validate everything before touching any session.
  for (size_t i = 0; i < batch.size(); ++i) {
    const ForwardItem& it = batch[i];
    if (it.session == nullptr) return absl::InvalidArgumentError(absl::StrCat("batch item ", i, ": no session"));
    if (it.session->model_ != this) {
      return absl::InvalidArgumentError(absl::StrCat("batch item ", i, ": session belongs to another model"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (batch[j].session == it.session) {
        return absl::InvalidArgumentError(absl::StrCat("batch items ", j, " and ", i, " share a session"));
      }
    }
    if (it.tokens.empty()) return absl::InvalidArgumentError(absl::StrCat("batch item ", i, ": no tokens"));
    for (int32_t t : it.tokens) {
      if (t < 0 || t >= config_.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("batch item ", i, ": token id ", t,
                                                       " outside the vocabulary [0, ", config_.vocab_size, ")"));
      }
    }
    const int64_t want = it.session->length() + static_cast<int64_t>(it.tokens.size());
    if (want > max_context_) {
      return absl::OutOfRangeError(absl::StrCat("batch item ", i, ": ", want,
                                                " tokens exceed the context length ", max_context_));
    }
  }
  // Reserve KV pages for all items; undo on the first failure.
  start_lengths_.clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    KvSequence& kv = *batch[i].session->kv_;
    start_lengths_.push_back(kv.length());
    absl::Status s = kv.Reserve(static_cast<int64_t>(batch[i].tokens.size()));
    if (!s.ok()) {
      for (size_t j = 0; j <= i; ++j) batch[j].session->kv_->Truncate(start_lengths_[j]);
      return s;
    }
  }
  for (ForwardItem& it : batch) {
    const size_t rows = it.all_logits ? it.tokens.size() : 1;
    if (it.logits != nullptr) it.logits->resize(rows * static_cast<size_t>(config_.vocab_size));
    if (it.hidden != nullptr) it.hidden->resize(rows * static_cast<size_t>(config_.n_embd));
  }
  // Split the rows into passes of at most kMaxPassRows.
  int64_t in_pass = 0;
  segments_.clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    const int64_t n = static_cast<int64_t>(batch[i].tokens.size());
    for (int64_t begin = 0; begin < n;) {
      const int64_t take = std::min(n - begin, kMaxPassRows - in_pass);
      segments_.push_back(Segment{static_cast<int32_t>(i), begin, take});
      begin += take;
      in_pass += take;
      if (in_pass == kMaxPassRows) {
        absl::Status s = RunPass(batch, segments_, start_lengths_);
        segments_.clear();
        in_pass = 0;
        if (!s.ok()) {
          for (size_t j = 0; j < batch.size(); ++j) batch[j].session->kv_->Truncate(start_lengths_[j]);
          return s;
        }
      }
    }
  }
  if (!segments_.empty()) {
    absl::Status s = RunPass(batch, segments_, start_lengths_);
    segments_.clear();
    if (!s.ok()) {
      for (size_t j = 0; j < batch.size(); ++j) batch[j].session->kv_->Truncate(start_lengths_[j]);
      return s;
    }
  }
  for (ForwardItem& it : batch) {
    it.session->kv_->Commit(static_cast<int64_t>(it.tokens.size()));
    it.session->tokens_.insert(it.session->tokens_.end(), it.tokens.begin(), it.tokens.end());
  }
  return absl::OkStatus();
}

absl::Status Model::RunPass(std::span<ForwardItem> batch, std::span<const Segment> segments,
                            std::span<const int64_t> start_lengths) {
  const ModelConfig& c = config_;
  Backend& b = *backend_;
  const size_t vocab = static_cast<size_t>(c.vocab_size);
  ids_.clear();
  positions_.clear();
  slots_.clear();
  attn_rows_.clear();
  logit_rows_.clear();
  logit_dst_.clear();
  hidden_dst_.clear();
  const size_t embd = static_cast<size_t>(c.n_embd);
  for (const Segment& seg : segments) {
    ForwardItem& it = batch[seg.item];
    const KvSequence& kv = *it.session->kv_;
    const int64_t n_item = static_cast<int64_t>(it.tokens.size());
    for (int64_t t = seg.begin; t < seg.begin + seg.count; ++t) {
      const int64_t pos = start_lengths[seg.item] + t;
      const int32_t row = static_cast<int32_t>(ids_.size());
      ids_.push_back(it.tokens[t]);
      positions_.push_back(static_cast<int32_t>(pos));
      slots_.push_back(kv.SlotOf(pos));
      attn_rows_.push_back(AttentionRow{kv.pages().data(), static_cast<int32_t>(pos + 1)});
      if ((it.logits != nullptr || it.hidden != nullptr) && (it.all_logits || t == n_item - 1)) {
        const size_t out_row = static_cast<size_t>(it.all_logits ? t : 0);
        logit_rows_.push_back(row);
        logit_dst_.push_back(it.logits != nullptr ? it.logits->data() + out_row * vocab : nullptr);
        hidden_dst_.push_back(it.hidden != nullptr ? it.hidden->data() + out_row * embd : nullptr);
      }
    }
  }
  const int64_t R = static_cast<int64_t>(ids_.size());
  for (Activation* a : {&x_, &h_, &q_, &k_, &v_, &attn_, &gate_, &up_}) {
    if (absl::Status s = b.EnsureRows(*a, R); !s.ok()) return s;
  }
  const AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim,
                             static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)))};
  // The layers are one backend pass (a CUDA graph per row count on the GPU);
  // the output head stays outside because it reads rows back to the host.
  auto layers = [&]() -> absl::Status {
    b.SetPositions(positions_);
    b.Embed(tok_embd_, ids_, x_);
    for (int l = 0; l < c.n_layers; ++l) {
      const Layer& L = layers_[l];
      b.RmsNorm(x_, L.attn_norm, c.norm_eps, h_);
      {
        // Q, K and V share their input: one fused product (bitwise equal to three).
        const WeightHandle* qkv[3] = {&L.wq, &L.wk, &L.wv};
        const WeightHandle* bias[3] = {L.bq.valid() ? &L.bq : nullptr, L.bk.valid() ? &L.bk : nullptr,
                                       L.bv.valid() ? &L.bv : nullptr};
        Activation* out[3] = {&q_, &k_, &v_};
        if (absl::Status s = b.MatMulMulti(qkv, bias, h_, out); !s.ok()) return s;
      }
      b.Rope(q_, c.n_head);
      b.Rope(k_, c.n_head_kv);
      b.StoreKv(l, k_, v_, slots_);
      b.Attention(l, q_, attn_rows_, shape, attn_);
      if (absl::Status s = b.MatMul(L.wo, nullptr, attn_, h_); !s.ok()) return s;
      b.Add(x_, h_);
      b.RmsNorm(x_, L.ffn_norm, c.norm_eps, h_);
      {
        const WeightHandle* gu[2] = {&L.w_gate, &L.w_up};
        const WeightHandle* no_bias[2] = {nullptr, nullptr};
        Activation* out[2] = {&gate_, &up_};
        if (absl::Status s = b.MatMulMulti(gu, no_bias, h_, out); !s.ok()) return s;
      }
      b.SiluMul(gate_, up_, gate_);
      if (absl::Status s = b.MatMul(L.w_down, nullptr, gate_, h_); !s.ok()) return s;
      b.Add(x_, h_);
    }
    return absl::OkStatus();
  };
  if (absl::Status s = b.RunPass(R, layers); !s.ok()) return s;
  // Output head, in chunks of rows so the vocab-wide scratch stays small.
  const int64_t n_logits = static_cast<int64_t>(logit_rows_.size());
  for (int64_t c0 = 0; c0 < n_logits; c0 += kLogitChunkRows) {
    const int64_t n = std::min(kLogitChunkRows, n_logits - c0);
    for (Activation* a : {&lx_, &lh_, &logits_}) {
      if (absl::Status s = b.EnsureRows(*a, n); !s.ok()) return s;
    }
    b.GatherRows(x_, std::span<const int32_t>(logit_rows_).subspan(c0, n), lx_);
    b.RmsNorm(lx_, output_norm_, c.norm_eps, lh_);
    bool any_logits = false;
    for (int64_t r = 0; r < n; ++r) {
      if (hidden_dst_[c0 + r] != nullptr) b.ReadRows(lh_, r, 1, hidden_dst_[c0 + r]);
      any_logits = any_logits || logit_dst_[c0 + r] != nullptr;
    }
    // Hidden-state-only chunks (score heads) skip the vocabulary projection.
    if (!any_logits) continue;
    if (absl::Status s = b.MatMul(output_, nullptr, lh_, logits_); !s.ok()) return s;
    for (int64_t r = 0; r < n; ++r) {
      float* dst = logit_dst_[c0 + r];
      if (dst == nullptr) continue;
      b.ReadRows(logits_, r, 1, dst);
      // Ids beyond a partial head (ModelOptions::head_vocab) cannot be drawn.
      std::fill(dst + head_vocab_, dst + vocab, -std::numeric_limits<float>::infinity());
    }
  }
  return absl::OkStatus();
}

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const auto& t : file_->tensors()) n += t.num_elements();
  return n;
}

}  // namespace tandem::runtime
