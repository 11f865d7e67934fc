// CallScope: the RPCs made on behalf of one generation request, so that
// aborting the request (Abort RPC, client disconnect) cancels whatever draft
// or target call is in flight right now instead of waiting for it.
//
// Remote ports register the grpc::ClientContext of every call in the scope
// they were given; Cancel() runs ClientContext::TryCancel on each and makes
// every later call fail fast with CANCELLED. CloseSession calls are not
// scoped: freeing the session must still happen after a cancellation.
//
// The scope also carries the generation request's deadline (the client's
// grpc-timeout): every call's own timeout is capped by it, so a request that
// runs out of time ends its service calls with DEADLINE_EXCEEDED instead of
// letting them run on for the per-call timeout.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include <grpcpp/client_context.h>

#include "absl/time/time.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {

class CallScope {
 public:
  // Thread-safe; idempotent.
  void Cancel();
  bool cancelled() const;
  // Caps the deadline of every later call. Thread-safe.
  void SetDeadline(std::chrono::system_clock::time_point deadline);
  std::chrono::system_clock::time_point deadline() const;

  // Registers `ctx` for the duration of a call; false (do not start the
  // call) once the scope is cancelled.
  bool Register(grpc::ClientContext* ctx);
  void Unregister(grpc::ClientContext* ctx);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::chrono::system_clock::time_point deadline_ = std::chrono::system_clock::time_point::max();
  std::vector<grpc::ClientContext*> live_;
};

// One RPC's context: deadline now + timeout, or the scope's deadline when
// earlier; registered in `scope` (may be null) while it lives.
class ScopedCall {
 public:
  ScopedCall(CallScope* scope, absl::Duration timeout);
  ~ScopedCall();
  ScopedCall(const ScopedCall&) = delete;
  ScopedCall& operator=(const ScopedCall&) = delete;

  grpc::ClientContext* context() { return &ctx_; }
  // False when the scope was cancelled before the call could start, or
  // while it ran.
  bool live() const { return registered_ && !(scope_ && scope_->cancelled()); }
  // True when the call's own timeout, not the scope's (the client's)
  // deadline, is what bounds it: a DEADLINE_EXCEEDED then means the peer
  // did not answer in time, not that the request ran out of time.
  bool bounded_by_own_timeout() const { return own_timeout_bounds_; }

 private:
  grpc::ClientContext ctx_;
  CallScope* scope_;
  bool registered_ = true;
  bool own_timeout_bounds_ = true;
};

}  // namespace tandem::orchestrator
