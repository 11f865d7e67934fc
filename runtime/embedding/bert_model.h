// BERT encoder forward pass in fp32 (word + position + token-type embeddings,
// post-LayerNorm transformer layers with erf GELU), followed by mean pooling
// over the tokens and L2 normalization: the sentence-transformers recipe of
// all-MiniLM-L6-v2.
//
// A batch is packed, not padded: the sequences' tokens are concatenated into
// one [tokens x hidden] matrix for the linear layers, and attention runs per
// sequence over its own tokens only. That is exactly what padding plus an
// attention mask computes for the real tokens, without the padded rows'
// work. All matrix products go through GemmF32 (gemm_f32.h), whose result
// per row does not depend on the other rows, so a text's embedding is
// bitwise the same alone or in any batch, with any thread count.
#pragma once

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cpu/thread_pool.h"
#include "runtime/embedding/bert_config.h"
#include "runtime/embedding/gemm_f32.h"
#include "runtime/embedding/safetensors.h"

namespace tandem::embedding {

class BertModel {
 public:
  // Maps model.safetensors and binds every weight the config implies
  // (Hugging Face BertModel names, with or without a "bert." prefix), each
  // checked for dtype F32 and its exact shape, and packs the linear layers
  // for GemmF32 (Q, K and V as one [3 x hidden, hidden] product). The pooler
  // is not used.
  static absl::StatusOr<std::unique_ptr<BertModel>> Load(const std::string& safetensors_path,
                                                         const BertConfig& config);

  const BertConfig& config() const { return config_; }

  // out[i * hidden .. (i+1) * hidden) = normalized mean-pooled embedding of
  // sequences[i] (token ids, [CLS] and [SEP] included). Every sequence needs
  // 1..max_position_embeddings ids in [0, vocab_size), else InvalidArgument.
  // Uses `pool` for all parallel work; one call per pool at a time.
  absl::Status Embed(std::span<const std::vector<int32_t>> sequences, kernels::ThreadPool& pool,
                     float* out) const;

 private:
  struct Layer {
    PackedWeights qkv, o, inter, out;  // biases packed with them
    const float *attn_ln_w, *attn_ln_b, *out_ln_w, *out_ln_b;
  };

  BertModel() = default;
  absl::StatusOr<const float*> Bind(const std::string& name, std::vector<int64_t> shape);
  // Packs the Linear layers `names` (stacked in order) with their biases.
  absl::StatusOr<PackedWeights> PackLinear(const std::string& prefix, std::initializer_list<const char*> names,
                                           int64_t rows, int64_t cols);

  BertConfig config_;
  std::unique_ptr<SafetensorsFile> file_;
  std::string prefix_;                     // "" or "bert."
  std::deque<std::vector<float>> copies_;  // weights that were not 4-byte aligned in the file
  const float* word_emb_ = nullptr;
  const float* pos_emb_ = nullptr;
  const float* type_emb_ = nullptr;
  const float* emb_ln_w_ = nullptr;
  const float* emb_ln_b_ = nullptr;
  std::vector<Layer> layers_;
};

}  // namespace tandem::embedding
