// Prometheus families of the retrieval service (registered in the process's
// ServiceMetrics registry, `tandem:` prefix like the other services):
//   tandem:retrieval_search_latency_seconds{mode,source}  histogram; source = collection | context
//   tandem:retrieval_retrieved_tokens_total{mode,source}  target tokens of the returned chunks
//   tandem:retrieval_retrieved_chunks_total{mode,source}
//   tandem:retrieval_ingested_documents_total, tandem:retrieval_ingested_chunks_total,
//   tandem:retrieval_ingested_tokens_total               committed ingestion only
//   tandem:retrieval_requests_failed_total{method,code}
#pragma once

#include <cstdint>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"

namespace tandem::retrieval {

class RetrievalMetrics {
 public:
  explicit RetrievalMetrics(prometheus::Registry& registry);

  void ObserveSearch(std::string_view mode, std::string_view source, double seconds, int64_t chunks,
                     int64_t tokens);
  void RecordIngested(uint64_t documents, uint64_t chunks, uint64_t tokens);
  void RecordFailure(std::string_view method, absl::StatusCode code);

 private:
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Counter>* retrieved_tokens_;
  prometheus::Family<prometheus::Counter>* retrieved_chunks_;
  prometheus::Counter* ingested_documents_;
  prometheus::Counter* ingested_chunks_;
  prometheus::Counter* ingested_tokens_;
  prometheus::Family<prometheus::Counter>* failures_;
};

}  // namespace tandem::retrieval
