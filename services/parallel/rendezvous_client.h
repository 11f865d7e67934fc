// A non-zero rank's side of the tensor-parallel rendezvous: calls
// tandem.v1.TensorParallel/Join on rank 0 until the group completes.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tandem::services::parallel {

struct JoinOptions {
  std::string address;  // rank 0's rendezvous host:port
  std::string group;
  int rank = 0;
  int world_size = 1;
  absl::Time deadline;  // for the whole join, retries included
  // Wait between attempts while rank 0 is not reachable yet.
  absl::Duration retry_interval = absl::Milliseconds(500);
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // null = plaintext
};

// Returns the group id. Rank 0 usually starts after some of its peers (pods
// start in any order), so UNAVAILABLE (nothing listening yet, DNS of a pod
// not yet published) is retried until the deadline; every other error is
// final and returned as rank 0 reported it. DeadlineExceeded names the
// last error seen.
absl::StatusOr<std::string> JoinRendezvous(const JoinOptions& options);

}  // namespace tandem::services::parallel
