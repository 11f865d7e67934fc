// JoinTensorParallelGroup with NCCL (built with -DTANDEM_CUDA=ON): the CUDA
// backend first (NCCL binds the communicator to the current device and
// enqueues on the backend's stream), then the rendezvous, then NCCL's own
// bootstrap. Unverified without two GPUs (docs/gpu.md).
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/backend/backend_factory.h"
#include "runtime/backend/cuda/cuda_backend.h"
#include "runtime/parallel/nccl_communicator.h"
#include "runtime/parallel/nccl_host_channel.h"
#include "services/common/credentials.h"
#include "services/parallel/bootstrap.h"
#include "services/target/tp_group.h"

namespace tandem::services {

absl::StatusOr<TpRankResources> JoinTensorParallelGroup(const ServiceConfig& service,
                                                        const DeploymentConfig& deployment) {
  if (service.device == runtime::DeviceKind::kCpu) {
    return absl::FailedPreconditionError(absl::StrCat(
        "service ", service.name, ": tensor_parallel.world_size > 1 runs over NCCL between GPUs; set device: cuda"));
  }
  const char* env = std::getenv(parallel::kRankEnv);
  absl::StatusOr<parallel::GroupOptions> options =
      parallel::GroupOptionsFor(deployment, service, env ? std::optional<std::string>(env) : std::nullopt);
  if (!options.ok()) return options.status();
  auto server_credentials = ServerCredentialsFor(deployment, service);
  if (!server_credentials.ok()) return server_credentials.status();
  auto channel_credentials = ChannelCredentialsFor(deployment, service);
  if (!channel_credentials.ok()) return channel_credentials.status();
  options->server_credentials = *server_credentials;
  options->channel_credentials = *channel_credentials;

  TpRankResources rank;
  absl::StatusOr<std::unique_ptr<runtime::Backend>> backend =
      runtime::CreateBackend(runtime::DeviceKind::kCuda, service.threads);
  if (!backend.ok()) return backend.status();
  rank.backend = std::move(*backend);
  auto* cuda = dynamic_cast<runtime::CudaBackend*>(rank.backend.get());
  if (cuda == nullptr) return absl::InternalError("CreateBackend(kCuda) did not return the CUDA backend");

  absl::StatusOr<std::string> id =
      parallel::FormGroup(*options, [] { return runtime::parallel::NcclCommunicator::NewUniqueId(); });
  if (!id.ok()) return id.status();
  absl::StatusOr<std::unique_ptr<runtime::parallel::NcclCommunicator>> comm =
      runtime::parallel::NcclCommunicator::Create(*id, options->rank, options->world_size, cuda->stream());
  if (!comm.ok()) return comm.status();
  absl::StatusOr<std::unique_ptr<runtime::parallel::HostChannel>> channel =
      runtime::parallel::MakeNcclHostChannel(**comm);
  if (!channel.ok()) return channel.status();
  rank.comm = std::move(*comm);
  rank.channel = std::move(*channel);
  return rank;
}

}  // namespace tandem::services
