// One rank's membership in a tensor-parallel target's group: its compute
// backend, its communicator to the other ranks and the host channel the step
// protocol uses (runtime/parallel/tp_engine.h).
//
// Across processes the group runs over NCCL between GPUs, formed through the
// gRPC rendezvous of services/parallel (rank 0 serves the NCCL unique id).
// A build without CUDA has no NCCL: JoinTensorParallelGroup then fails with
// FAILED_PRECONDITION rather than serving the whole model unsharded on every
// rank. Tests form groups of threads with LocalCommunicator instead.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/parallel/communicator.h"
#include "runtime/parallel/host_channel.h"
#include "services/common/deploy_config.h"

namespace tandem::services {

struct TpRankResources {
  // Declared in this order so the channel goes before the communicator and
  // the communicator before the backend whose stream it uses.
  std::unique_ptr<runtime::Backend> backend;
  std::unique_ptr<runtime::parallel::Communicator> comm;
  std::unique_ptr<runtime::parallel::HostChannel> channel;
};

// Forms `service`'s group from its tensor_parallel block (rank from the
// block or $TANDEM_TP_RANK) with the service's TLS, and joins it on GPU 0 of
// this process (one rank per process and GPU). Blocks until every rank has
// joined or the block's timeout_s passes.
absl::StatusOr<TpRankResources> JoinTensorParallelGroup(const ServiceConfig& service,
                                                        const DeploymentConfig& deployment);

}  // namespace tandem::services
