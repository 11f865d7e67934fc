// The tandem.v1.TensorParallel gRPC service over a Rendezvous: the deadline
// of each Join is the call's own (capped by max_wait, so a call without a
// deadline cannot hold a handler thread forever), a cancelled call leaves the
// group, and the Rendezvous' errors map to their gRPC codes one to one.
#pragma once

#include "absl/time/time.h"
#include "services/parallel/rendezvous.h"
#include "tandem/v1/parallel.grpc.pb.h"

namespace tandem::services::parallel {

class RendezvousService final : public tandem::v1::TensorParallel::Service {
 public:
  // `rendezvous` is not owned and must outlive the service.
  RendezvousService(Rendezvous* rendezvous, absl::Duration max_wait)
      : rendezvous_(rendezvous), max_wait_(max_wait) {}

  grpc::Status Join(grpc::ServerContext* context, const tandem::v1::TensorParallelJoinRequest* request,
                    tandem::v1::TensorParallelJoinResponse* response) override;

 private:
  Rendezvous* rendezvous_;
  const absl::Duration max_wait_;
};

}  // namespace tandem::services::parallel
