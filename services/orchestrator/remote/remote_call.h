// What every remote port (draft, target, reward, retrieval) does around a
// stub call: errors name the service and method, and a call of a cancelled
// generation request ends in CANCELLED whatever the service answered.
#pragma once

#include <string_view>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/orchestrator/remote/call_scope.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {

class RemoteService {
 public:
  // `name` as errors show it, e.g. "target service"; must outlive this.
  // `silence_is_loss`: a call that ran out of its own per-call timeout (not
  // the client's deadline) means the service is lost, UNAVAILABLE: for the
  // accelerating peers (draft, retrieval), whose loss a request survives
  // (spec/peer_loss.h). A hung or blackholed draft host gives no connection
  // reset, so without it every Propose waited the timeout and then failed
  // the request with DEADLINE_EXCEEDED, which reads as the client's.
  explicit constexpr RemoteService(std::string_view name, bool silence_is_loss = false)
      : name_(name), silence_is_loss_(silence_is_loss) {}

  // The RPC's status with "<name> <method>: " before its message.
  absl::Status Error(std::string_view method, const grpc::Status& status) const;
  // CANCELLED "<name>: request cancelled".
  absl::Status Cancelled() const;

  // Runs rpc(grpc::ClientContext*) -> grpc::Status as one call registered in
  // `scope` (may be null) with `timeout`: CANCELLED without calling when the
  // scope is already cancelled, and when it was cancelled while the call
  // ran; otherwise Error(method, status) or OK.
  template <typename Rpc>
  absl::Status Call(std::string_view method, CallScope* scope, absl::Duration timeout, Rpc&& rpc) const {
    ScopedCall call(scope, timeout);
    if (!call.live()) return Cancelled();
    const grpc::Status status = std::forward<Rpc>(rpc)(call.context());
    if (!call.live()) return Cancelled();
    if (status.ok()) return absl::OkStatus();
    if (silence_is_loss_ && status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
        call.bounded_by_own_timeout()) {
      return Unanswered(method, timeout);
    }
    return Error(method, status);
  }

 private:
  // UNAVAILABLE "<name> <method>: no answer within the call timeout (N s)".
  absl::Status Unanswered(std::string_view method, absl::Duration timeout) const;

  std::string_view name_;
  bool silence_is_loss_;
};

}  // namespace tandem::orchestrator
