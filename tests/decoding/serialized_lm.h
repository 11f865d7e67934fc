// A LanguageModel that serialises every call into one that is not
// thread-safe (FakeLm counts calls; a runtime model's sequences share its
// state), so the services' gRPC threads can share it. Its sequences and
// their forks take the same mutex, also when they are destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "decoding/local/language_model.h"

namespace tandem::decoding::testing {

class SerializedLm : public LanguageModel {
 public:
  explicit SerializedLm(LanguageModel& base) : base_(base) {}
  int32_t vocab_size() const override { return base_.vocab_size(); }
  absl::StatusOr<std::unique_ptr<LmSequence>> NewSequence() override {
    std::lock_guard<std::mutex> lock(mu_);
    auto seq = base_.NewSequence();
    if (!seq.ok()) return seq.status();
    return std::unique_ptr<LmSequence>(new Seq(*this, std::move(*seq)));
  }
  // Sleep before each Append (outside the lock), so a stream lasts long
  // enough to cancel it.
  std::atomic<int> delay_ms{0};

 private:
  class Seq : public LmSequence {
   public:
    Seq(SerializedLm& owner, std::unique_ptr<LmSequence> base) : owner_(owner), base_(std::move(base)) {}
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
      if (int d = owner_.delay_ms.load(); d > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d));
      std::lock_guard<std::mutex> lock(owner_.mu_);
      return base_->Append(tokens, all_logits, logits);
    }
    absl::StatusOr<std::unique_ptr<LmSequence>> Fork() const override {
      std::lock_guard<std::mutex> lock(owner_.mu_);
      auto fork = base_->Fork();
      if (!fork.ok()) return fork.status();
      return std::unique_ptr<LmSequence>(new Seq(owner_, std::move(*fork)));
    }

   private:
    SerializedLm& owner_;
    std::unique_ptr<LmSequence> base_;
  };
  LanguageModel& base_;
  std::mutex mu_;
};

}  // namespace tandem::decoding::testing
