#include "cli/run_context.h"

namespace tandem::cli {

int ReportError(const absl::Status& status) {
  std::fprintf(stderr, "tandem: error: %s\n", std::string(status.message()).c_str());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    default:
      return kExitFailure;
  }
}

void Progress(const std::string& message) {
  std::fprintf(stderr, "[tandem] %s\n", message.c_str());
  std::fflush(stderr);
}

}  // namespace tandem::cli
