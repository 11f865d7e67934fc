// GenerateOptions + Prompt -> tandem.v1.GenerateRequest. Validation is the
// server's (it names the offending field); this only maps.
#pragma once

#include "tandem/sdk/generation.h"
#include "tandem/v1/generation.pb.h"

namespace tandem::sdk_internal {

v1::GenerateRequest BuildGenerateRequest(const Prompt& prompt, const GenerateOptions& options);

}  // namespace tandem::sdk_internal
