// Things every subcommand needs: where output goes and how a failed command
// is reported (one line on stderr, non-zero exit).
#pragma once

#include <cstdio>
#include <string>

#include "absl/status/status.h"

namespace tandem::cli {

// Exit codes: 0 success, 1 runtime failure, 2 bad usage.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Prints "tandem: error: <message>" and returns the exit code for `status`
// (kExitUsage for InvalidArgument/NotFound caused by arguments, else kExitFailure).
int ReportError(const absl::Status& status);

// Loads happen before anything streams; long loads say what they do on stderr.
void Progress(const std::string& message);

}  // namespace tandem::cli
