// The resilience metrics' exposition: queue depth from the start, rejection
// and fallback counters with their labels.
#include "services/common/resilience_metrics.h"

#include "gtest/gtest.h"
#include "services/common/metrics.h"

namespace tandem::services {
namespace {

TEST(ResilienceMetrics, ExportsQueueDepthRejectionsAndFallbacks) {
  auto metrics = ServiceMetrics::Create(MetricsOptions{.listen_address = ""});
  ASSERT_TRUE(metrics.ok());
  ResilienceMetrics r((*metrics)->registry());
  std::string text = (*metrics)->Serialize();
  EXPECT_NE(text.find("tandem:num_requests_waiting 0"), std::string::npos) << text;

  r.SetRequestsWaiting(3);
  r.RecordRejection("queue_full");
  r.RecordRejection("queue_full");
  r.RecordFallback("speculative", "draft unavailable: draft service Propose: Socket closed");
  r.RecordFallback("rapid", "retrieval unavailable: retrieval service Search: Socket closed");
  r.RecordFallback("speculative", "");  // none
  text = (*metrics)->Serialize();
  EXPECT_NE(text.find("tandem:num_requests_waiting 3"), std::string::npos) << text;
  EXPECT_NE(text.find("tandem:request_rejections_total{reason=\"queue_full\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("tandem:request_fallbacks_total{peer=\"draft\",strategy=\"speculative\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("tandem:request_fallbacks_total{peer=\"retrieval\",strategy=\"rapid\"} 1"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace tandem::services
