// One rank of a tensor-parallel llama/qwen2 model: this rank's shard of the
// weights (sliced from the GGUF mapping, see sharding.h), its own KV pages
// (its KV heads only), its own compute backend, and a Communicator to the
// other ranks. All ranks run the same Forward calls with the same tokens
// (SPMD); the two all-reduces per layer (after the attention output and the
// down projection) and one after the vocabulary-parallel embedding are the
// only communication. The output stays vocabulary-parallel: each rank returns
// its slice of the logits (DistributedArgmax / DistributedTopK select without
// gathering; AllGather when a full row is needed).
//
// Scope: one sequence per session and per Forward call (prefill, decode and
// the multi-token verify block are all Forward); batching several sessions
// into one pass is runtime::Model's job and not repeated here.
//
// Numerics versus the unsharded runtime::Model on the same backend: world
// size 1 is bitwise identical (same ops, same order; the all-reduces are the
// identity). Column-parallel products compute each output exactly as the
// unsharded product does, the vocabulary-parallel embedding sum adds zeros,
// and attention per head is unchanged; only the row-parallel products differ:
// their dot products are summed as W partial sums instead of one, so results
// move by float rounding, which the next layer's activation quantization can
// amplify (tests/parallel states and asserts the bound).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model_config.h"
#include "runtime/parallel/communicator.h"
#include "runtime/parallel/sharding.h"

namespace tandem::runtime::parallel {

// The most tokens one Forward call takes (a longer prompt is several calls).
inline constexpr int64_t kMaxTpForwardTokens = 512;

struct TpOptions {
  size_t kv_budget_bytes = 64u << 20;  // this rank's KV memory
};

class TensorParallelModel;

// The KV state of one sequence on one rank.
class TpSession {
 public:
  int64_t length() const { return kv_->length(); }
  // Rollback to the first n tokens (every rank must do the same).
  absl::Status Truncate(int64_t n);

 private:
  friend class TensorParallelModel;
  explicit TpSession(std::unique_ptr<KvSequence> kv) : kv_(std::move(kv)) {}
  std::unique_ptr<KvSequence> kv_;
};

class TensorParallelModel {
 public:
  // Loads this rank's shard of `file` (which must outlive the model) onto
  // `backend`, talking to the other ranks through `comm` (both owned by the
  // caller, outliving the model; with NCCL the communicator must use the
  // backend's stream). Errors name the tensor or the partition rule.
  static absl::StatusOr<std::unique_ptr<TensorParallelModel>> Load(const gguf::GgufFile& file, Backend& backend,
                                                                   Communicator& comm, const TpOptions& options);
  ~TensorParallelModel();

  const ModelConfig& config() const { return config_; }
  const HeadPartition& heads() const { return heads_; }
  const VocabPartition& vocab() const { return vocab_; }
  int64_t ff_begin() const { return ff_begin_; }
  int64_t ff_count() const { return ff_count_; }

  absl::StatusOr<std::unique_ptr<TpSession>> NewSession();

  // Appends tokens to the session and writes this rank's logits slice for
  // every new token: tokens.size() rows of vocab().real floats, ids
  // [vocab().begin, vocab().begin + vocab().real). Collective: every rank
  // calls it with the same tokens. On error the session is unchanged and the
  // group is aborted (the other ranks' calls fail rather than hang).
  absl::Status Forward(TpSession& session, std::span<const int32_t> tokens, std::vector<float>* local_logits);

  // The checks Forward makes before its first collective, without any
  // communication: token ids, the context length and the KV budget for
  // appending `tokens` (any number; Forward takes kMaxTpForwardTokens at a
  // time). Every rank holds the same pages for the same sessions, so rank 0
  // can refuse a request here instead of aborting the whole group in Forward.
  absl::Status CheckForward(const TpSession& session, std::span<const int32_t> tokens) const;

  // KV memory held by this rank's sessions.
  size_t kv_bytes_in_use() const { return kv_pool_->bytes_in_use(); }

 private:
  struct Layer {
    WeightHandle attn_norm, wq, wk, wv, bq, bk, bv, wo;
    WeightHandle ffn_norm, w_gate, w_up, w_down;
  };
  TensorParallelModel(Backend& backend, Communicator& comm) : b_(backend), comm_(comm) {}
  absl::Status LoadShard(const gguf::GgufFile& file);
  absl::Status Run(TpSession& session, std::span<const int32_t> tokens, std::vector<float>* local_logits);
  absl::Status AllReduce(Activation& a);

  Backend& b_;
  Communicator& comm_;
  ModelConfig config_;
  HeadPartition heads_;
  VocabPartition vocab_;
  int64_t ff_begin_ = 0, ff_count_ = 0;
  std::unique_ptr<KvPool> kv_pool_;

  WeightHandle embd_, output_norm_, output_;
  std::vector<Layer> layers_;
  std::vector<std::vector<uint8_t>> owned_;  // shard bytes the backend may view zero-copy
  Activation x_, h_, q_, k_, v_, attn_, gate_, up_, logits_;
  std::vector<int32_t> ids_, positions_;
  std::vector<KvSlot> slots_;
  std::vector<AttentionRow> attn_rows_;
};

}  // namespace tandem::runtime::parallel
