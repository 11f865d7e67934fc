#include "services/parallel/bootstrap.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/grpc_server.h"
#include "services/parallel/rendezvous.h"
#include "services/parallel/rendezvous_client.h"
#include "services/parallel/rendezvous_service.h"

namespace tandem::services::parallel {

absl::StatusOr<GroupOptions> GroupOptionsFor(const DeploymentConfig& deployment, const ServiceConfig& service,
                                             const std::optional<std::string>& rank_env) {
  if (!service.tensor_parallel) {
    return absl::InvalidArgumentError(absl::StrCat("service ", service.name, " has no tensor_parallel block"));
  }
  const TensorParallelConfig& tp = *service.tensor_parallel;
  GroupOptions o;
  o.group = absl::StrCat(deployment.name, "/", service.name);
  o.world_size = tp.world_size;
  o.rendezvous = tp.rendezvous;
  o.timeout = absl::Seconds(tp.timeout_s);
  o.rank = tp.rank;
  if (o.rank < 0) {
    if (!rank_env || !absl::SimpleAtoi(*rank_env, &o.rank)) {
      return absl::InvalidArgumentError(
          absl::StrCat("service ", service.name, ": tensor_parallel.rank is not set and $", kRankEnv,
                       rank_env ? absl::StrCat(" ('", *rank_env, "') is not an integer") : " is unset"));
    }
  }
  if (o.rank < 0 || o.rank >= o.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("service ", service.name, ": tensor-parallel rank ", o.rank,
                                                   " is outside [0, ", o.world_size, ")"));
  }
  // Rank 0 listens on the service's own bind host (often 0.0.0.0 in a pod)
  // with the rendezvous port; the rendezvous host is how peers reach it.
  o.listen_address = absl::StrCat(service.host, o.rendezvous.substr(o.rendezvous.rfind(':')));
  return o;
}

absl::StatusOr<std::string> FormGroup(const GroupOptions& options,
                                      absl::FunctionRef<absl::StatusOr<std::string>()> make_group_id) {
  const absl::Time deadline = absl::Now() + options.timeout;
  if (options.rank != 0) {
    JoinOptions join;
    join.address = options.rendezvous;
    join.group = options.group;
    join.rank = options.rank;
    join.world_size = options.world_size;
    join.deadline = deadline;
    join.credentials = options.channel_credentials;
    return JoinRendezvous(join);
  }
  absl::StatusOr<std::string> id = make_group_id();
  if (!id.ok() || options.world_size == 1) return id;
  Rendezvous rendezvous(options.group, options.world_size, *id);
  RendezvousService service(&rendezvous, options.timeout);
  GrpcServerOptions server_options;
  server_options.address = options.listen_address;
  server_options.health_service_names = {tandem::v1::TensorParallel::service_full_name()};
  server_options.enable_reflection = false;
  server_options.credentials = options.server_credentials;
  grpc::Service* services[] = {&service};
  auto server = GrpcServer::Start(server_options, services);
  if (!server.ok()) {
    return absl::Status(server.status().code(), absl::StrCat("tensor-parallel rendezvous on ",
                                                             options.listen_address, ": ",
                                                             server.status().message()));
  }
  absl::StatusOr<std::string> joined = rendezvous.Join(options.group, 0, options.world_size, deadline);
  // The peers' Join calls return at the same moment as ours; the grace
  // period lets their responses leave before the server stops.
  (*server)->Shutdown(absl::Seconds(10));
  return joined;
}

}  // namespace tandem::services::parallel
