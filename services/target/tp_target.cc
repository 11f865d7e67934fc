#include "services/target/tp_target.h"

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "decoding/local/tp_language_model.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/parallel/tp_engine.h"
#include "services/common/credentials.h"
#include "services/model_host/model_host.h"
#include "services/target/target_server.h"

namespace tandem::services {
namespace {

// How long a follower that got SIGTERM/SIGINT waits for rank 0's stop before
// it aborts the group: in a rolling shutdown rank 0 drains its clients first
// (ServiceHost's grace) and then stops everyone cleanly.
constexpr absl::Duration kFollowerStopGrace = absl::Seconds(30);

absl::Status ServeLeader(const ServiceConfig& service, const DeploymentConfig& deployment,
                         const gguf::GgufFile& file, runtime::parallel::TensorParallelModel& model,
                         TpRankResources& group, ShutdownSignal& signal) {
  auto credentials = ServerCredentialsFor(deployment, service);
  if (!credentials.ok()) return credentials.status();
  auto tok = tokenizer::Tokenizer::FromGguf(file);
  if (!tok.ok()) return tok.status();
  runtime::parallel::TpLeaderOptions leader_options;
  leader_options.on_failure = [&signal](const absl::Status& cause) {
    std::fprintf(stderr, "tandem-target: tensor-parallel group failed, stopping: %s\n",
                 std::string(cause.message()).c_str());
    signal.Trigger();
  };
  auto leader = runtime::parallel::TpLeader::Create(model, *group.channel, std::move(leader_options));
  if (!leader.ok()) return leader.status();
  decoding::TpLanguageModel lm(**leader);

  int64_t parameters = 0;
  for (const gguf::TensorInfo& t : file.tensors()) parameters += t.num_elements();
  const std::string name = service.model.empty() ? service.name : service.model;
  TargetServerOptions options;
  options.grpc_address = service.grpc_address();
  options.metrics_address = service.metrics_address();
  options.credentials = *credentials;
  options.service.info = TpModelInfoOf(model, parameters, **tok, name);
  options.service.sessions.idle_timeout = absl::Seconds(service.session_idle_timeout_s);
  options.service.sessions.max_sessions = static_cast<size_t>(service.max_sessions);
  const tokenizer::Tokenizer* t_ptr = tok->get();
  options.service.is_end_of_generation = [t_ptr](int32_t t) { return t_ptr->IsEndOfGeneration(t); };
  runtime::parallel::TpLeader* l = leader->get();
  auto server = TargetServer::Start(lm, std::move(options), [l] { return static_cast<int64_t>(l->kv_bytes_in_use()); });
  if (!server.ok()) return server.status();
  (*server)->metrics().SetKvCacheBudgetBytes(service.kv_budget_mb << 20);
  AnnounceAndServe((*server)->host(), "target", service.name,
                   absl::StrCat("serving ", name, " on ", group.comm->world_size(), " tensor-parallel ranks"),
                   signal);
  server->reset();  // drains and closes every session (on every rank) while the group still runs
  absl::Status health = (*leader)->health();
  (*leader)->Stop();
  return health;
}

absl::Status Follow(runtime::parallel::TensorParallelModel& model, TpRankResources& group, ShutdownSignal* signal) {
  if (signal == nullptr) return runtime::parallel::RunTpFollower(model, *group.channel);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false, aborted_by_signal = false;
  std::thread watcher([&] {
    signal->Wait();
    std::unique_lock<std::mutex> lock(mu);
    if (cv.wait_for(lock, absl::ToChronoSeconds(kFollowerStopGrace), [&] { return done; })) return;
    aborted_by_signal = true;
    group.comm->Abort(absl::CancelledError(
        absl::StrCat("tensor-parallel rank ", group.comm->rank(), " was asked to shut down")));
  });
  absl::Status s = runtime::parallel::RunTpFollower(model, *group.channel);
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  signal->Trigger();  // releases the watcher when no signal came
  watcher.join();
  return aborted_by_signal ? absl::OkStatus() : s;
}

}  // namespace

tandem::v1::ModelInfo TpModelInfoOf(const runtime::parallel::TensorParallelModel& model, int64_t parameters,
                                    const tokenizer::Tokenizer& vocab, const std::string& name) {
  tandem::v1::ModelInfo info;
  info.set_name(name);
  info.set_arch(model.config().arch);
  info.set_vocab_size(model.config().vocab_size);
  info.set_context_length(model.config().context_length);
  info.set_role("target");
  info.set_eos_token_id(vocab.eos_id());
  info.set_parameters(static_cast<uint64_t>(parameters));
  return info;
}

absl::Status ServeTensorParallelRank(const ServiceConfig& service, const DeploymentConfig& deployment,
                                     TpRankResources& group, ShutdownSignal* signal) {
  runtime::parallel::Communicator& comm = *group.comm;
  // Any failure before the step loop aborts the group, so that the other
  // ranks stop waiting for this one.
  auto fail = [&](absl::Status s) {
    comm.Abort(s);
    return s;
  };
  auto path = ResolveServiceModelPath(service, deployment);
  if (!path.ok()) return fail(path.status());
  auto file = gguf::GgufFile::Open(*path);
  if (!file.ok()) return fail(file.status());
  runtime::parallel::TpOptions options;
  options.kv_budget_bytes = static_cast<size_t>(service.kv_budget_mb) << 20;
  auto model = runtime::parallel::TensorParallelModel::Load(**file, *group.backend, comm, options);
  if (!model.ok()) return fail(model.status());
  if (comm.rank() != 0) return Follow(**model, group, signal);
  if (signal == nullptr) return fail(absl::InvalidArgumentError("rank 0 of a tensor-parallel target needs a signal"));
  absl::Status s = ServeLeader(service, deployment, **file, **model, group, *signal);
  if (!s.ok()) comm.Abort(s);  // no-op when the leader already stopped the group
  return s;
}

absl::Status RunTensorParallelTargetService(const ServiceConfig& service, const DeploymentConfig& deployment,
                                            ShutdownSignal& signal) {
  absl::StatusOr<TpRankResources> group = JoinTensorParallelGroup(service, deployment);
  if (!group.ok()) return group.status();
  return ServeTensorParallelRank(service, deployment, *group, &signal);
}

}  // namespace tandem::services
