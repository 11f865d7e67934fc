#include "services/orchestrator/remote/remote_call.h"

#include "absl/strings/str_cat.h"
#include "runtime/util/absl_compat.h"
#include "services/common/status_convert.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {

absl::Status RemoteService::Error(std::string_view method, const grpc::Status& status) const {
  const absl::Status s = services::FromPeerStatus(status);
  return absl::Status(s.code(), absl::StrCat(AbslView(name_), " ", AbslView(method), ": ",
                                             s.message()));
}

absl::Status RemoteService::Unanswered(std::string_view method, absl::Duration timeout) const {
  return absl::UnavailableError(absl::StrCat(AbslView(name_), " ", AbslView(method), ": no answer within the call timeout (",
                                             absl::FormatDuration(timeout), "); the service is treated as lost"));
}

absl::Status RemoteService::Cancelled() const {
  return absl::CancelledError(absl::StrCat(AbslView(name_), ": request cancelled"));
}

}  // namespace tandem::orchestrator
