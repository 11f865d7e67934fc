// Retriever port in process: services/retrieval's engine (the same code the
// retrieval service runs), for the all-in-one wiring and the CLI.
#pragma once

#include <functional>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "decoding/ports/retriever.h"
#include "services/retrieval/retrieval_engine.h"

namespace tandem::retrieval {

class LocalRetriever : public decoding::Retriever {
 public:
  using EngineLoader = std::function<absl::StatusOr<std::shared_ptr<retrieval::RetrievalEngine>>()>;

  explicit LocalRetriever(std::shared_ptr<retrieval::RetrievalEngine> engine) : engine_(std::move(engine)) {}
  // Loads the engine (the sentence embedder: ~90 MB) on the first search, so
  // that deployments which never retrieve do not pay for it. A failed load
  // is remembered and returned by every later call.
  explicit LocalRetriever(EngineLoader loader) : loader_(std::move(loader)) {}

  absl::StatusOr<decoding::RetrievalResult> SearchText(std::string_view context, const decoding::RetrievalQuery& query,
                                             const decoding::ChunkingOptions& chunking) override;
  absl::StatusOr<decoding::RetrievalResult> SearchCollection(std::string_view collection, const decoding::RetrievalQuery& query) override;

  // The engine, loading it if needed.
  absl::StatusOr<retrieval::RetrievalEngine*> engine();

 private:
  absl::Mutex mu_;
  EngineLoader loader_;
  std::shared_ptr<retrieval::RetrievalEngine> engine_ ABSL_GUARDED_BY(mu_);
  absl::Status load_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::retrieval
