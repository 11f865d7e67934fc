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
  // Adaptive by default: gamma follows the measured costs, the acceptance
  // and the target's load, down to plain target steps where drafting cannot
  // pay. Measured against fixed gamma = 4 (docs/benchmarks.md): Qwen pair in
  // process 1.15x vs 0.99x target-only, and through a deployment 0.99x /
  // 1.00x / 1.01x vs 0.87x / 0.52x / 0.46x at 1 / 4 / 16 streams (load-adaptive
  // run 20261205T160123Z). The request
  // translation keeps gamma fixed where a request asks for a gamma or for a
  // reproducible sample (decoding/request/request_translation.h).
  spec::GammaOptions gamma{.adaptive = true};
  // "ngram" or "model"; empty = the deployment's default drafter, else ngram.
  std::string drafter;
  // Draft the next block while the target verifies this one (RoundOptions).
  bool overlap = false;
  // Staged speculation for a model drafter (DraftOptions::staged_ngram).
  int staged_ngram = 0;
  // Sparse q rows for a model drafter (DraftOptions::q_tail_mass). On by
  // default: across services a dense row is the vocabulary in floats per
  // drafted token (600 KB for Qwen), while the head of a code model's row at
  // T = 0.7 is a few dozen entries; acceptance falls by at most 0.1 % a token.
  float q_tail_mass = 1e-3f;
};

const StrategyDefinition& SpeculativeStrategy();

// The drafter a speculative request uses: options.drafter, else the
// deployment's default, else "ngram" (always available: it needs no model).
// INVALID_ARGUMENT naming params.drafter when that drafter is not configured.
absl::StatusOr<Drafter*> ResolveDrafter(const SpeculativeOptions& options, const GenerationPorts& ports);

}  // namespace tandem::decoding
