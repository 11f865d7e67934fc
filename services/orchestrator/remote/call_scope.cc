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
  ctx_.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  if (scope_ != nullptr) registered_ = scope_->Register(&ctx_);
}

ScopedCall::~ScopedCall() {
  if (scope_ != nullptr && registered_) scope_->Unregister(&ctx_);
}

}  // namespace tandem::orchestrator
