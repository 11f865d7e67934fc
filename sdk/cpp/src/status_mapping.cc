#include "status_mapping.h"

namespace tandem::sdk_internal {

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // grpc::StatusCode and absl::StatusCode both number the canonical codes
  // 0..16 as google.rpc.Code does.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace tandem::sdk_internal
