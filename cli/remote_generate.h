// `tandem generate --server HOST:PORT`: the Generation service's client.
#pragma once

#include "cli/generate_command.h"

namespace tandem::cli {

int RunRemoteGenerate(const GenerateOptions& options);

}  // namespace tandem::cli
