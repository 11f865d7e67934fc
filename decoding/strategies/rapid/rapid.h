// RAPID: retrieval-augmented speculative decoding (algorithms.md section 1,
// reference-code variant). The target reads the request's full long context;
// the drafter (by default the target's own model: self-speculation) reads only
// the chunks retrieved for the question, so its KV cache is short and its
// steps cheap. Drafts of up to gamma tokens (stopping early after a token the
// drafter gives probability < c_conf) are verified on the long context with
// the knowledge-transfer rule (spec/knowledge_transfer.h), which leans the
// target toward the drafter by eta. eta = 0 is lossless speculative sampling
// with a retrieval drafter. Written against the ports only, so the same code
// runs in process and over gRPC.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "decoding/ports/drafter.h"
#include "decoding/ports/retriever.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/spec/knowledge_transfer.h"
#include "decoding/generation/generation.h"
#include "decoding/generation/long_context.h"

namespace tandem::decoding {

struct RapidOptions {
  int gamma = 10;  // draft length per round (constant), 1..32
  // eta 5 (the low end of the paper's same-size-drafter range) and alpha_m 0.1.
  spec::KnowledgeTransfer knowledge_transfer{.eta = 5.0f, .alpha_m = 0.1f};
  float c_conf = 0.1f;      // drafter confidence stop, [0, 1]; 0 = off
  int chunk_tokens = 512;   // S, target-tokenizer tokens per chunk
  float theta = 0.3f;       // drop chunks scoring below (cosine for dense)
  int64_t l_min = 4096;     // L_min: minimum retrieved length in tokens
  double lambda = 24.0;     // compression: retrieved length ~ L / lambda beyond L_min
  RetrievalMode mode = RetrievalMode::kDense;
  // Non-empty: retrieve from this stored collection (SearchCollection; it
  // should hold the same document) instead of chunking the request context.
  std::string collection;
};

// InvalidArgument naming the parameter (params.<name>) when out of range.
absl::Status ValidateRapidOptions(const RapidOptions& options);

// K = ceil(max(L / (S * lambda), min(L_min / S, L / S))) chunks for a context
// of L tokens (so the retrieved length is about max(L_min, L / lambda), never
// more than the context). At least 1.
int RetrievalBudget(int64_t context_tokens, int chunk_tokens, int64_t l_min, double lambda);

// Keeps chunks scoring >= theta, drops repeated (document, position) pairs,
// restores document order (by position: the chunk index in the context or in
// the collection) and joins them with "\n\n": C^S.
std::string JoinRetrievedChunks(std::vector<RetrievedChunk> chunks, float theta, int64_t* kept_chunks,
                                int64_t* kept_tokens);

// Keeps the first limit/2 and the last limit - limit/2 tokens when `ids` is
// longer than `limit` (the reference code's middle truncation).
void MiddleTruncate(std::vector<int32_t>& ids, int64_t limit);

// request.prompt is ignored: the prompts are rendered from `input` (target:
// the full context; drafter: C^S). The drafter must share the target's
// vocabulary. Stats gain the context/retrieval fields of RequestStats.
absl::Status RunRapid(const GenerationRequest& request, const RapidOptions& options,
                      const LongContextInput& input, Drafter& drafter, Verifier& verifier,
                      Retriever& retriever, const Vocabulary& vocab, const StreamCallback& on_chunk,
                      GenerationResult* result);

}  // namespace tandem::decoding
