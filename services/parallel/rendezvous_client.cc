#include "services/parallel/rendezvous_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/status_convert.h"
#include "tandem/v1/parallel.grpc.pb.h"

namespace tandem::services::parallel {

absl::StatusOr<std::string> JoinRendezvous(const JoinOptions& options) {
  auto credentials = options.credentials ? options.credentials : grpc::InsecureChannelCredentials();
  auto channel = grpc::CreateChannel(options.address, credentials);
  auto stub = tandem::v1::TensorParallel::NewStub(channel);
  tandem::v1::TensorParallelJoinRequest request;
  request.set_group(options.group);
  request.set_rank(options.rank);
  request.set_world_size(options.world_size);
  absl::Status last = absl::UnavailableError("no attempt made");
  bool answered = false;  // `last` is a peer's UNAVAILABLE, not a cut attempt
  while (absl::Now() < options.deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(options.deadline));
    tandem::v1::TensorParallelJoinResponse response;
    const absl::Status s = FromPeerStatus(stub->Join(&context, request, &response));
    if (s.ok()) return std::string(response.group_id());
    // An attempt cut by the overall deadline (the call carries it) is the
    // deadline expiring, not a peer's answer: it ends the loop below with the
    // last informative error (typically rank 0 not listening yet).
    const bool deadline_cut = s.code() == absl::StatusCode::kDeadlineExceeded && absl::Now() >= options.deadline;
    if (s.code() != absl::StatusCode::kUnavailable && !deadline_cut) {
      return absl::Status(s.code(), absl::StrCat("tensor-parallel rendezvous at ", options.address, " (rank ",
                                                 options.rank, "): ", s.message()));
    }
    if (!deadline_cut || !answered) last = s;
    answered = answered || !deadline_cut;
    const absl::Duration left = options.deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(std::min(options.retry_interval, left)));
  }
  return absl::DeadlineExceededError(absl::StrCat("tensor-parallel rendezvous at ", options.address, " (rank ",
                                                  options.rank, "): no group before the deadline; last error: ",
                                                  last.message()));
}

}  // namespace tandem::services::parallel
