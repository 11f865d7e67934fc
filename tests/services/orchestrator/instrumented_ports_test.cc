// The metrics decorators forward every session call, the virtuals with a
// default included: the served path always wraps the ports (metrics are on),
// so a missing override replaced the remote session's answer with the
// default (active_sessions() read 0, and the gamma controller lost the
// target's load).
#include "services/orchestrator/server/instrumented_ports.h"

#include <memory>

#include "gtest/gtest.h"

namespace tandem::orchestrator::server {
namespace {

using decoding::DraftDelta;
using decoding::DraftOptions;
using decoding::DraftProposal;
using decoding::DraftSession;
using decoding::VerifyOptions;
using decoding::VerifyResult;
using decoding::VerifySession;

class LoadedSession : public VerifySession {
 public:
  absl::Status Verify(std::span<const int32_t>, std::span<const runtime::Distribution>, VerifyResult*) override {
    return absl::OkStatus();
  }
  int64_t committed_length() const override { return 11; }
  absl::Status Close() override { return absl::OkStatus(); }
  int active_sessions() const override { return 7; }
  absl::Status Truncate(int64_t length) override { return absl::OutOfRangeError(std::to_string(length)); }
  absl::StatusOr<std::unique_ptr<VerifySession>> Fork(uint64_t) override {
    return std::unique_ptr<VerifySession>(new LoadedSession());
  }
};

class LoadedVerifier : public decoding::Verifier {
 public:
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t>, const runtime::SamplingParams&,
                                                      const VerifyOptions&) override {
    return std::unique_ptr<VerifySession>(new LoadedSession());
  }
};

class PendingDraft : public DraftSession {
 public:
  absl::Status Propose(const DraftDelta&, int, DraftProposal*) override { return absl::OkStatus(); }
  int64_t committed_length() const override { return 5; }
  bool prefill_pending() const override { return true; }
  absl::Status Close() override { return absl::OkStatus(); }
};

class PendingDrafter : public decoding::Drafter {
 public:
  std::string_view name() const override { return "pending"; }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t>, const runtime::SamplingParams&,
                                                     const DraftOptions&) override {
    return std::unique_ptr<DraftSession>(new PendingDraft());
  }
};

TEST(InstrumentedPortsTest, SessionsForwardTheWrappedSessionsAnswers) {
  auto metrics = services::ServiceMetrics::Create(services::MetricsOptions{.listen_address = ""});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  LoadedVerifier verifier;
  InstrumentedVerifier timed(verifier, **metrics);
  auto session = timed.Open({}, {}, {});
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ((*session)->active_sessions(), 7);
  EXPECT_EQ((*session)->committed_length(), 11);
  EXPECT_EQ((*session)->Truncate(3).code(), absl::StatusCode::kOutOfRange);
  auto fork = (*session)->Fork(1);
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_EQ((*fork)->active_sessions(), 7);

  PendingDrafter drafter;
  InstrumentedDrafter timed_drafter(drafter, **metrics);
  EXPECT_EQ(timed_drafter.name(), "pending");
  auto draft = timed_drafter.Open({}, {}, {});
  ASSERT_TRUE(draft.ok()) << draft.status();
  EXPECT_TRUE((*draft)->prefill_pending());
  EXPECT_EQ((*draft)->committed_length(), 5);
}

}  // namespace
}  // namespace tandem::orchestrator::server
