// The hyper-parameters of a BERT encoder, read from a Hugging Face
// config.json (model_type "bert", absolute position embeddings, GELU).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tandem::embedding {

struct BertConfig {
  int vocab_size = 0;
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int intermediate_size = 0;
  int max_position_embeddings = 0;
  int type_vocab_size = 0;
  double layer_norm_eps = 1e-12;

  int head_dim() const { return hidden_size / num_attention_heads; }
};

// Parses and validates config.json text: every size positive and bounded,
// hidden_size divisible by num_attention_heads, hidden_act "gelu" (the erf
// form), position_embedding_type "absolute" if given. InvalidArgument
// naming the field otherwise.
absl::StatusOr<BertConfig> ParseBertConfig(std::string_view json_text);

// Reads and parses a config.json file (NotFound if missing).
absl::StatusOr<BertConfig> LoadBertConfig(const std::string& path);

}  // namespace tandem::embedding
