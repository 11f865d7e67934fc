#include "services/parallel/rendezvous_service.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "services/common/status_convert.h"

namespace tandem::services::parallel {

grpc::Status RendezvousService::Join(grpc::ServerContext* context,
                                     const tandem::v1::TensorParallelJoinRequest* request,
                                     tandem::v1::TensorParallelJoinResponse* response) {
  const absl::Time deadline =
      std::min(absl::FromChrono(context->deadline()), absl::Now() + max_wait_);
  auto id = rendezvous_->Join(request->group(), request->rank(), request->world_size(), deadline,
                              [context] { return context->IsCancelled(); });
  if (!id.ok()) return ToGrpcStatus(id.status());
  response->set_group_id(*id);
  response->set_world_size(rendezvous_->world_size());
  return grpc::Status::OK;
}

}  // namespace tandem::services::parallel
