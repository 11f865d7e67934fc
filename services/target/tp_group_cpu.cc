// JoinTensorParallelGroup in a build without CUDA: there is no NCCL, and the
// in-process LocalCommunicator cannot span processes.
#include "absl/strings/str_cat.h"
#include "services/target/tp_group.h"

namespace tandem::services {

absl::StatusOr<TpRankResources> JoinTensorParallelGroup(const ServiceConfig& service, const DeploymentConfig&) {
  const int world = service.tensor_parallel ? service.tensor_parallel->world_size : 1;
  return absl::FailedPreconditionError(absl::StrCat(
      "service ", service.name, ": tensor_parallel.world_size ", world,
      " > 1 needs the NCCL build: the ranks of a sharded target talk over NCCL between GPUs, and this tandem "
      "was built without CUDA (rebuild with -DTANDEM_CUDA=ON and run each rank with device: cuda; docs/gpu.md). "
      "Remove the tensor_parallel block to serve the whole model in one process"));
}

}  // namespace tandem::services
