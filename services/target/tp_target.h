// A tensor-parallel target (docs/gpu.md): every rank of the group loads its
// shard of the model (runtime::parallel::TensorParallelModel); rank 0 serves
// the ordinary tandem.v1.Target service (TargetService over a
// TpLanguageModel, so sessions, verify, step, append, truncate and close
// behave and answer exactly as the unsharded target's) and drives the other
// ranks step by step (runtime/parallel/tp_engine.h); ranks > 0 serve nothing
// and follow rank 0 until it stops the group.
//
// Not served: Fork (a sharded session cannot fork; UNIMPLEMENTED from the
// verifier) and batching of concurrent sessions into one pass (their
// steps run one after another; batch_size is 1).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "runtime/parallel/tp_model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "services/common/deploy_config.h"
#include "services/common/shutdown_signal.h"
#include "services/target/tp_group.h"
#include "tandem/v1/common.pb.h"

namespace tandem::services {

// ModelInfo of a sharded model (`name` is what clients pass as `model`);
// the same fields as ModelInfoOf for the whole model.
tandem::v1::ModelInfo TpModelInfoOf(const runtime::parallel::TensorParallelModel& model, int64_t parameters,
                                    const tokenizer::Tokenizer& vocab, const std::string& name);

// Runs one rank of `service` over an already formed group: loads the shard
// (kv_budget_mb is each rank's KV budget); rank 0 serves on
// service.grpc_address() until `signal` fires or the group fails, then stops
// the followers; other ranks follow until rank 0 stops them. On a follower
// `signal` may be null (ranks on threads of one process, where rank 0 holds
// the process' only ShutdownSignal); otherwise a signal there aborts the
// group unless rank 0 stops it within a grace period (in a rolling shutdown
// rank 0 gets the same signal and drains first). Returns the group's failure,
// if any, so the process exits non-zero and the group restarts.
absl::Status ServeTensorParallelRank(const ServiceConfig& service, const DeploymentConfig& deployment,
                                     TpRankResources& group, ShutdownSignal* signal);

// `tandem serve --role target` with tensor_parallel.world_size > 1: joins
// the group (JoinTensorParallelGroup; FAILED_PRECONDITION without NCCL) and
// serves this rank.
absl::Status RunTensorParallelTargetService(const ServiceConfig& service, const DeploymentConfig& deployment,
                                            ShutdownSignal& signal);

}  // namespace tandem::services
