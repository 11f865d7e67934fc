// Runs one generation of a prepared strategy against a deployment's ports.
// The single dispatch point shared by the Generation service and the CLI's
// in-process `tandem generate`, so both run exactly the same strategy code.
#pragma once

#include "absl/status/status.h"
#include "decoding/generation/generation.h"
#include "decoding/ports/generation_ports.h"
#include "decoding/registry/strategy_definition.h"

namespace tandem::decoding {

// FAILED_PRECONDITION when the deployment has no target. With ignore_eos,
// end-of-generation tokens do not stop the generation (benchmarks).
absl::Status RunStrategy(const PreparedStrategy& strategy, const GenerationRequest& request,
                         const GenerationPorts& ports, bool ignore_eos, const StreamCallback& on_chunk,
                         GenerationResult* result);

}  // namespace tandem::decoding
