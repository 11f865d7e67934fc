// Shared pieces of the service tests: stubs for a running server, a
// thread-safe wrapper for the (single-threaded) synthetic language model, and
// generation through the strategies.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "gtest/gtest.h"
#include "services/orchestrator/local/language_model.h"
#include "services/orchestrator/remote/remote_drafter.h"
#include "services/orchestrator/remote/remote_verifier.h"
#include "services/orchestrator/strategies/speculative.h"
#include "services/orchestrator/strategies/target_only.h"
#include "tandem/v1/draft.grpc.pb.h"
#include "tandem/v1/target.grpc.pb.h"

namespace tandem::dt_test {

// Serialises every call into a LanguageModel that is not thread-safe, so the
// services' gRPC threads can share it.
class LockedLm : public orchestrator::LanguageModel {
 public:
  explicit LockedLm(orchestrator::LanguageModel& base) : base_(base) {}
  int32_t vocab_size() const override { return base_.vocab_size(); }
  absl::StatusOr<std::unique_ptr<orchestrator::LmSequence>> NewSequence() override {
    std::lock_guard<std::mutex> lock(mu_);
    auto seq = base_.NewSequence();
    if (!seq.ok()) return seq.status();
    return std::unique_ptr<orchestrator::LmSequence>(new Seq(*this, std::move(*seq)));
  }

 private:
  class Seq : public orchestrator::LmSequence {
   public:
    Seq(LockedLm& owner, std::unique_ptr<orchestrator::LmSequence> base) : owner_(owner), base_(std::move(base)) {}
    ~Seq() override {
      std::lock_guard<std::mutex> lock(owner_.mu_);
      base_.reset();
    }
    std::span<const int32_t> tokens() const override { return base_->tokens(); }
    absl::Status Truncate(int64_t n) override {
      std::lock_guard<std::mutex> lock(owner_.mu_);
      return base_->Truncate(n);
    }
    absl::Status Append(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits) override {
      std::lock_guard<std::mutex> lock(owner_.mu_);
      return base_->Append(tokens, all_logits, logits);
    }
    absl::StatusOr<std::unique_ptr<orchestrator::LmSequence>> Fork() const override {
      std::lock_guard<std::mutex> lock(owner_.mu_);
      auto fork = base_->Fork();
      if (!fork.ok()) return fork.status();
      return std::unique_ptr<orchestrator::LmSequence>(new Seq(owner_, std::move(*fork)));
    }

   private:
    LockedLm& owner_;
    std::unique_ptr<orchestrator::LmSequence> base_;
  };
  orchestrator::LanguageModel& base_;
  std::mutex mu_;
};

inline std::unique_ptr<tandem::v1::Target::Stub> TargetStub(const std::string& address) {
  return tandem::v1::Target::NewStub(orchestrator::MakeServiceChannel(address));
}
inline std::unique_ptr<tandem::v1::Draft::Stub> DraftStub(const std::string& address) {
  return tandem::v1::Draft::NewStub(orchestrator::MakeServiceChannel(address));
}

// Runs a strategy; speculative when `drafter` is set.
inline orchestrator::GenerationResult Generate(const orchestrator::GenerationRequest& req,
                                               orchestrator::Verifier& verifier, orchestrator::Drafter* drafter,
                                               const orchestrator::Vocabulary& vocab) {
  orchestrator::GenerationResult result;
  auto cb = [](const orchestrator::StreamChunk&) { return absl::OkStatus(); };
  absl::Status s = drafter == nullptr ? orchestrator::RunTargetOnly(req, verifier, vocab, cb, &result)
                                      : orchestrator::RunSpeculative(req, *drafter, verifier, vocab, cb, &result);
  EXPECT_TRUE(s.ok()) << s;
  return result;
}

template <typename T>
std::string Str(const std::vector<T>& v) {
  std::string s;
  for (const T& x : v) s += std::to_string(x) + " ";
  return s;
}

}  // namespace tandem::dt_test
