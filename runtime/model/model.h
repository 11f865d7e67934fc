// A llama-family language model (llama, qwen2) loaded from GGUF, and the
// sessions (KV state of one sequence each) that a batched Forward advances.
//
// Forward concatenates the new tokens of all items into one activation matrix
// so every weight is streamed from memory once per pass; attention runs per
// row against that row's own session. Prefill, one-token decode and
// multi-token verification are the same call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/backend/backend_factory.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/gguf/huge_page_image.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model_config.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tandem::runtime {

using tokenizer::Tokenizer;

// Where the weights live (gguf::GgufMemory). kAuto: on transparent huge pages
// when the backend is the CPU one (it streams every weight each step) and the
// kernel offers them, else the file mapping (a GPU backend uploads the
// weights once); the environment variable TANDEM_WEIGHTS=mmap|hugepages
// overrides kAuto.
enum class WeightMemory { kAuto, kMapped, kHugePages };

struct ModelOptions {
  int n_threads = 0;                     // 0 = all cores
  size_t kv_budget_bytes = 512u << 20;   // total KV memory for all sessions of this model
  int64_t max_context = 0;               // 0 = the model's trained context length
  DeviceKind device = DeviceKind::kCpu;  // compute backend (runtime/backend/backend_factory.h)
  WeightMemory weights = WeightMemory::kAuto;
  // 0: logits for the whole vocabulary. Else only token ids [0, head_vocab)
  // get logits (the output projection reads that many rows), the others
  // -inf: a draft model's cheaper output head. BPE vocabularies number their
  // tokens in merge order, so low ids are the frequent ones; the 0.5B Qwen
  // draft's head over all 151936 ids is 30 % of its weight bytes per token.
  // Lossless for speculative decoding: the target verifies against the q the
  // drafter actually sampled from.
  int64_t head_vocab = 0;
  // Set: the layers' matrix weights are re-quantized to this type at load
  // wherever that makes their rows smaller (Q4_0 or Q8_0; Q5_0 / Q6_K /
  // Q8_0 weights become Q4_0): a draft model is bound by the bytes it
  // streams per token, and a coarser draft only costs acceptance, never
  // correctness, since the target verifies against the q the drafter
  // sampled from. The output head and the embedding table keep their type.
  std::optional<kernels::GgmlType> requantize = std::nullopt;
};

class Model;

// The KV state of one sequence. Must not outlive its Model. A Session is not
// thread-safe; different sessions may be used from different threads, but
// Forward calls on the model are serialized by the caller.
class Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int64_t length() const { return static_cast<int64_t>(tokens_.size()); }
  std::span<const int32_t> tokens() const { return tokens_; }
  // Rollback: keeps the first n tokens (0 <= n <= length()).
  absl::Status Truncate(int64_t n);
  // An independent copy. KV pages are shared copy-on-write, so a fork costs
  // no KV memory until one of the two sessions writes into a shared page.
  absl::StatusOr<std::unique_ptr<Session>> Fork() const;
  // KV bytes referenced by this session (pages shared with forks are counted
  // by every holder).
  size_t kv_bytes() const { return kv_->bytes(); }

 private:
  friend class Model;
  Session(const Model* model, std::unique_ptr<KvSequence> kv);
  const Model* model_;
  std::unique_ptr<KvSequence> kv_;
  std::vector<int32_t> tokens_;
};

struct ForwardItem {
  Session* session = nullptr;
  std::span<const int32_t> tokens;       // new tokens appended to the session
  bool all_logits = true;                // false: only the last new position's logits
  std::vector<float>* logits = nullptr;  // out: rows x vocab_size (rows = tokens.size() or 1); may be null
  // out: the same rows of the final normalized hidden state (after
  // output_norm, before the output projection), rows x n_embd; may be null.
  // Score heads (reward models, classifiers) read it. With logits == null the
  // vocabulary projection is skipped for these rows.
  std::vector<float>* hidden = nullptr;
};

class Model {
 public:
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& gguf_path,
                                                     const ModelOptions& options);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const gguf::GgufFile& gguf() const { return *file_; }
  // Longest session this model accepts (options.max_context or the trained length).
  int64_t max_context() const { return max_context_; }
  // Elements of every weight tensor, embeddings included (what FLOPs
  // estimates charge as 2 x this per forwarded token).
  int64_t parameter_count() const;
  int n_threads() const { return backend_->n_threads(); }
  // Token ids [0, head_vocab()) get logits (ModelOptions::head_vocab).
  int64_t head_vocab() const { return head_vocab_; }

  absl::StatusOr<std::unique_ptr<Session>> NewSession();

  // One batched forward pass over several sessions. Row i of item.logits is
  // the next-token distribution after item.tokens[i]. Callers serialize calls.
  // On error (bad token id, session of another model or listed twice, context
  // length exceeded -> OutOfRange, KV budget exceeded -> ResourceExhausted)
  // no session changes.
  absl::Status Forward(std::span<ForwardItem> batch);

  size_t kv_bytes_in_use() const { return kv_pool_->bytes_in_use(); }
  size_t kv_budget_bytes() const { return kv_pool_->max_pages() * kv_pool_->page_bytes(); }

 private:
  struct Layer {
    WeightHandle attn_norm, wq, wk, wv, bq, bk, bv, wo;
    WeightHandle ffn_norm, w_gate, w_up, w_down;
  };
  // Where the rows of one item's tokens in the current pass go.
  struct Segment {
    int32_t item;
    int64_t begin;  // first token index within item.tokens
    int64_t count;
  };

  Model() = default;
  absl::Status LoadWeights(int64_t head_vocab, std::optional<kernels::GgmlType> requantize);
  // ModelOptions::requantize: one region for every layer matrix whose rows
  // the type makes smaller, then each such tensor t re-quantized into it
  // (nullptr for the others: the file's bytes are used).
  absl::Status ReserveRequantized(kernels::GgmlType type);
  absl::StatusOr<const void*> Requantize(const gguf::TensorInfo& t, kernels::GgmlType type);
  absl::Status RunPass(std::span<ForwardItem> batch, std::span<const Segment> segments,
                       std::span<const int64_t> start_lengths);

  std::unique_ptr<gguf::GgufFile> file_;
  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<KvPool> kv_pool_;
  int64_t max_context_ = 0;
  int64_t head_vocab_ = 0;  // rows of output_ that the head computes
  // Re-quantized layer weights (ModelOptions::requantize): one region on
  // huge pages, filled in load order.
  std::unique_ptr<gguf::HugePageImage> requantized_;
  size_t requantized_used_ = 0;

  WeightHandle tok_embd_, output_norm_, output_;
  std::vector<Layer> layers_;

  // Activations, grown on demand and reused.
  Activation x_, h_, q_, k_, v_, attn_, gate_, up_, lx_, lh_, logits_;
  // Host-side descriptions of a pass, reused (capacity only grows).
  std::vector<int32_t> ids_, positions_, logit_rows_;
  std::vector<KvSlot> slots_;
  std::vector<AttentionRow> attn_rows_;
  std::vector<float*> logit_dst_;   // per output row; null = no logits wanted
  std::vector<float*> hidden_dst_;  // per output row; null = no hidden state wanted
  std::vector<int64_t> start_lengths_;
  std::vector<Segment> segments_;
};

}  // namespace tandem::runtime
