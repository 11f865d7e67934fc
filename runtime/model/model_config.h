// Hyper-parameters of a llama-family model, read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/gguf/gguf_file.h"

namespace tandem::runtime {

struct ModelConfig {
  std::string arch, name;
  int n_layers = 0, n_embd = 0, n_ff = 0, n_head = 0, n_head_kv = 0, head_dim = 0, vocab_size = 0;
  int64_t context_length = 0;
  float rope_base = 10000.0f, norm_eps = 1e-5f;
  bool tied_embeddings = false;
  // Rotary embedding details: dimensions rotated per head, pairing style and
  // linear scaling (1 = none). Llama 3 frequency factors come from the
  // rope_freqs.weight tensor, applied at load.
  int rope_dim = 0;
  RopeStyle rope_style = RopeStyle::kAdjacentPairs;
  float rope_linear_factor = 1.0f;
  bool has_qkv_bias = false;
};

// Reads the config of a supported architecture ("llama", "qwen2"); errors
// name the missing or invalid key. vocab_size and tied_embeddings come from
// the tensors.
absl::StatusOr<ModelConfig> ReadModelConfig(const gguf::GgufFile& file);

}  // namespace tandem::runtime
