#include "decoding/registry/strategy_runner.h"

namespace tandem::decoding {

absl::Status RunStrategy(const PreparedStrategy& strategy, const GenerationRequest& request,
                         const GenerationPorts& ports, bool ignore_eos, const StreamCallback& on_chunk,
                         GenerationResult* result) {
  if (ports.verifier == nullptr || ports.vocabulary == nullptr) {
    return absl::FailedPreconditionError("deployment has no target configured");
  }
  EosFreeVocabulary no_eos(*ports.vocabulary);
  const Vocabulary& vocab = ignore_eos ? static_cast<const Vocabulary&>(no_eos) : *ports.vocabulary;
  absl::Status status = strategy.definition().Run(strategy, StrategyCall{request, ports, vocab, on_chunk, result});
  // After the run: strategies start from a fresh result.
  result->stats.sections = strategy.definition().stats_sections();
  return status;
}

}  // namespace tandem::decoding
