#include "services/orchestrator/remote/remote_call.h"

#include "absl/strings/str_cat.h"
#include "services/common/absl_compat.h"
#include "services/common/status_convert.h"

namespace tandem::orchestrator {

absl::Status RemoteService::Error(std::string_view method, const grpc::Status& status) const {
  const absl::Status s = services::FromGrpcStatus(status);
  return absl::Status(s.code(), absl::StrCat(services::AbslView(name_), " ", services::AbslView(method), ": ",
                                             s.message()));
}

absl::Status RemoteService::Cancelled() const {
  return absl::CancelledError(absl::StrCat(services::AbslView(name_), ": request cancelled"));
}

}  // namespace tandem::orchestrator
