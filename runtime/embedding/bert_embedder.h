// The real Embedder: a BERT sentence encoder loaded from a model folder
// (model.safetensors, vocab.txt, config.json), e.g. all-MiniLM-L6-v2 as
// scripts/fetch_models.py places it in the model cache.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/embedding/embedder.h"

namespace tandem::embedding {

// Name of the bundled sentence embedder (a folder in the model cache).
inline constexpr std::string_view kDefaultEmbedderModel = "all-minilm-l6-v2";

struct BertEmbedderOptions {
  // Compute threads (the calling thread included); 0 = all cores.
  int threads = 0;
  // Longest input in tokens, [CLS] and [SEP] included; longer texts are
  // truncated. Capped by the model's max_position_embeddings (512). Note:
  // sentence-transformers truncates all-MiniLM-L6-v2 at 256 (its training
  // length); set 256 to reproduce its embeddings of longer texts exactly.
  int max_tokens = 512;
  // Most tokens in one forward pass: bounds the activation memory when many
  // texts arrive at once (fp32 rows of 7 x hidden + intermediate floats per
  // token, ~17 KB for all-MiniLM-L6-v2: 8192 tokens ~ 140 MB).
  int max_batch_tokens = 8192;
};

// Loads the model folder `dir`. NotFound if a file is missing (naming it and
// the command that fetches the bundled model), InvalidArgument for bad
// options or a corrupt / mismatched file. Embed() calls are serialized on the
// embedder's thread pool; tokenization runs on the callers' threads.
absl::StatusOr<std::unique_ptr<Embedder>> LoadBertEmbedder(const std::string& dir,
                                                           const BertEmbedderOptions& options = {});

// A folder that exists is returned as is; the bundled name
// ("all-minilm-l6-v2") maps to <model cache>/all-minilm-l6-v2 (the cache is
// $TANDEM_MODEL_DIR, else ~/.cache/tandem/models; see
// runtime/model_store). NotFound with the fetch command otherwise.
absl::StatusOr<std::string> ResolveEmbedderModelDir(std::string_view name_or_dir = kDefaultEmbedderModel);

// ResolveEmbedderModelDir then LoadBertEmbedder, what a service does with
// the embedder named in its configuration; an empty name (unset in the
// configuration) means kDefaultEmbedderModel.
absl::StatusOr<std::unique_ptr<Embedder>> LoadNamedBertEmbedder(std::string_view name_or_dir,
                                                                const BertEmbedderOptions& options = {});

}  // namespace tandem::embedding
