// speculative's registry entry and options: the drafter and the draft length
// (fixed or adaptive).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "decoding/ports/generation_ports.h"
#include "decoding/registry/strategy_definition.h"
#include "decoding/spec/gamma_controller.h"

namespace tandem::decoding {

struct SpeculativeOptions {
  spec::GammaOptions gamma;
  // "ngram" or "model"; empty = the deployment's default drafter, else ngram.
  std::string drafter;
  // Draft the next block while the target verifies this one (RoundOptions).
  bool overlap = false;
  // Staged speculation for a model drafter (DraftOptions::staged_ngram).
  int staged_ngram = 0;
};

const StrategyDefinition& SpeculativeStrategy();

// The drafter a speculative request uses: options.drafter, else the
// deployment's default, else "ngram" (always available: it needs no model).
// INVALID_ARGUMENT naming params.drafter when that drafter is not configured.
absl::StatusOr<Drafter*> ResolveDrafter(const SpeculativeOptions& options, const GenerationPorts& ports);

}  // namespace tandem::decoding
