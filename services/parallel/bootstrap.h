// Forming a target's tensor-parallel group from its deployment config:
// rank 0 makes the group id (for NCCL: NcclCommunicator::NewUniqueId, the
// 128 bytes of an ncclUniqueId), serves it through a short-lived
// tandem.v1.TensorParallel server on the rendezvous port and joins in
// process; every other rank fetches it from there. All ranks return the same
// bytes once the whole group has joined, and then call their communicator's
// init with them (NcclCommunicator::Create(id, rank, world, stream)). Nothing
// here knows about NCCL, so the whole exchange is tested on the CPU.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/common/deploy_config.h"

namespace tandem::services::parallel {

// The environment variable that supplies the rank when the config has none
// (the Helm chart sets it from the StatefulSet pod index).
inline constexpr char kRankEnv[] = "TANDEM_TP_RANK";

struct GroupOptions {
  std::string group;  // deployment/service name: both sides must agree
  int rank = 0;
  int world_size = 1;
  std::string rendezvous;      // rank 0's host:port, dialled by the other ranks
  std::string listen_address;  // where rank 0 listens (host:port; port from rendezvous)
  absl::Duration timeout = absl::Seconds(600);
  std::shared_ptr<grpc::ServerCredentials> server_credentials;    // rank 0; null = plaintext
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials;  // ranks > 0; null = plaintext
};

// The options of `service` (a target with a tensor_parallel block) of
// `deployment`. `rank_env` is the value of $TANDEM_TP_RANK (nullopt when
// unset), used when the config names no rank. InvalidArgument when neither
// gives a rank in [0, world_size) or the service has no tensor_parallel.
// Credentials are left to the caller (services/common/credentials.h).
absl::StatusOr<GroupOptions> GroupOptionsFor(const DeploymentConfig& deployment, const ServiceConfig& service,
                                             const std::optional<std::string>& rank_env);

// Forms the group and returns its id. `make_group_id` runs on rank 0 only.
// World size 1 returns make_group_id() without any network. Errors: those of
// make_group_id, UNAVAILABLE when rank 0 cannot listen, and the rendezvous'
// (rendezvous.h, rendezvous_client.h).
absl::StatusOr<std::string> FormGroup(const GroupOptions& options,
                                      absl::FunctionRef<absl::StatusOr<std::string>()> make_group_id);

}  // namespace tandem::services::parallel
