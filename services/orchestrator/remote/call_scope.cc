#include "services/orchestrator/remote/call_scope.h"
#include "services/orchestrator/decoding_names.h"

#include <algorithm>

namespace tandem::orchestrator {

void CallScope::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  for (grpc::ClientContext* ctx : live_) ctx->TryCancel();
}

bool CallScope::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void CallScope::SetDeadline(std::chrono::system_clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  deadline_ = deadline;
}

std::chrono::system_clock::time_point CallScope::deadline() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deadline_;
}

bool CallScope::Register(grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return false;
  live_.push_back(ctx);
  return true;
}

void CallScope::Unregister(grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  live_.erase(std::remove(live_.begin(), live_.end(), ctx), live_.end());
}

ScopedCall::ScopedCall(CallScope* scope, absl::Duration timeout) : scope_(scope) {
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(absl::ToChronoNanoseconds(timeout));
  if (scope_ != nullptr && scope_->deadline() <= deadline) {
    deadline = scope_->deadline();
    own_timeout_bounds_ = false;
  }
  ctx_.set_deadline(deadline);
  if (scope_ != nullptr) registered_ = scope_->Register(&ctx_);
}

ScopedCall::~ScopedCall() {
  if (scope_ != nullptr && registered_) scope_->Unregister(&ctx_);
}

}  // namespace tandem::orchestrator
