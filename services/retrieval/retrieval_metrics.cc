#include "services/retrieval/retrieval_metrics.h"

#include <map>
#include <string>

#include "services/common/status_convert.h"

namespace tandem::retrieval {
namespace {

// Seconds: a BM25 search of a small collection takes microseconds, an
// inline 32K-token context with embedding several seconds on a CPU.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                 0.1,    0.25,  0.5,    1.0,   2.5,   5.0,  10.0,
                                                                 30.0,   60.0};

}  // namespace

RetrievalMetrics::RetrievalMetrics(prometheus::Registry& registry) {
  latency_ = &prometheus::BuildHistogram()
                  .Name("tandem:retrieval_search_latency_seconds")
                  .Help("Search latency: chunking and embedding (inline contexts), embedding the query, ranking")
                  .Register(registry);
  retrieved_tokens_ = &prometheus::BuildCounter()
                           .Name("tandem:retrieval_retrieved_tokens_total")
                           .Help("Target-tokenizer tokens of the chunks returned by searches")
                           .Register(registry);
  retrieved_chunks_ = &prometheus::BuildCounter()
                           .Name("tandem:retrieval_retrieved_chunks_total")
                           .Help("Chunks returned by searches")
                           .Register(registry);
  ingested_documents_ = &prometheus::BuildCounter()
                             .Name("tandem:retrieval_ingested_documents_total")
                             .Help("Documents committed to collections")
                             .Register(registry)
                             .Add({});
  ingested_chunks_ = &prometheus::BuildCounter()
                          .Name("tandem:retrieval_ingested_chunks_total")
                          .Help("Chunks committed to collections")
                          .Register(registry)
                          .Add({});
  ingested_tokens_ = &prometheus::BuildCounter()
                          .Name("tandem:retrieval_ingested_tokens_total")
                          .Help("Target-tokenizer tokens committed to collections")
                          .Register(registry)
                          .Add({});
  failures_ = &prometheus::BuildCounter()
                   .Name("tandem:retrieval_requests_failed_total")
                   .Help("Retrieval RPCs that ended with an error status")
                   .Register(registry);
}

void RetrievalMetrics::ObserveSearch(std::string_view mode, std::string_view source, double seconds,
                                     int64_t chunks, int64_t tokens) {
  const std::map<std::string, std::string> labels = {{"mode", std::string(mode)}, {"source", std::string(source)}};
  latency_->Add(labels, kLatencyBuckets).Observe(seconds);
  retrieved_tokens_->Add(labels).Increment(static_cast<double>(tokens));
  retrieved_chunks_->Add(labels).Increment(static_cast<double>(chunks));
}

void RetrievalMetrics::RecordIngested(uint64_t documents, uint64_t chunks, uint64_t tokens) {
  ingested_documents_->Increment(static_cast<double>(documents));
  ingested_chunks_->Increment(static_cast<double>(chunks));
  ingested_tokens_->Increment(static_cast<double>(tokens));
}

void RetrievalMetrics::RecordFailure(std::string_view method, absl::StatusCode code) {
  failures_->Add({{"method", std::string(method)}, {"code", services::StatusCodeName(code)}}).Increment();
}

}  // namespace tandem::retrieval
