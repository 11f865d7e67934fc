#include "services/common/health_client.h"

#include <algorithm>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/status_convert.h"

namespace tandem::services {

absl::Status CheckServing(const std::string& address, const std::string& service,
                          absl::Duration timeout, std::shared_ptr<grpc::ChannelCredentials> credentials) {
  auto channel =
      grpc::CreateChannel(address, credentials != nullptr ? credentials : grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  const grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) {
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      return absl::NotFoundError(absl::StrCat(address, " does not serve '", service, "'"));
    }
    return absl::UnavailableError(absl::StrCat(address, ": health check failed: ", s.error_message(),
                                               " (", StatusCodeName(static_cast<absl::StatusCode>(s.error_code())), ")"));
  }
  if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat(address, " reports '", service, "' as ",
                                               grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status())));
  }
  return absl::OkStatus();
}

absl::Status WaitUntilServing(const std::string& address, const std::string& service,
                              absl::Duration timeout, absl::Duration poll_interval,
                              std::shared_ptr<grpc::ChannelCredentials> credentials) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last;
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    last = CheckServing(address, service, std::max(std::min(left, absl::Seconds(2)), absl::Milliseconds(50)),
                        credentials);
    if (last.ok()) return last;
    if (absl::Now() + poll_interval >= deadline) break;
    absl::SleepFor(poll_interval);
  }
  return absl::DeadlineExceededError(absl::StrCat("not SERVING within ", absl::FormatDuration(timeout),
                                                  ": ", last.message()));
}

}  // namespace tandem::services
