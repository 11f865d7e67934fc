// Runs one generation with the chosen strategy against a deployment's ports.
// The single dispatch point shared by the Generation service and the CLI's
// in-process `tandem generate`, so both run exactly the same strategy code.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/orchestrator/server/generation_ports.h"
#include "services/orchestrator/server/strategy_catalog.h"
#include "services/orchestrator/strategies/generation.h"

namespace tandem::orchestrator::server {

// The drafter a speculative choice uses: choice.drafter, else the
// deployment's default, else "ngram" (always available: it needs no model).
// INVALID_ARGUMENT naming params.drafter when that drafter is not configured.
absl::StatusOr<Drafter*> ResolveDrafter(const StrategyChoice& choice, const GenerationPorts& ports);

// UNIMPLEMENTED for catalogued strategies that are not implemented yet,
// INVALID_ARGUMENT for unknown ones. With ignore_eos, end-of-generation
// tokens do not stop the generation (benchmarks).
absl::Status RunStrategy(const StrategyChoice& choice, const GenerationRequest& request,
                         const GenerationPorts& ports, bool ignore_eos,
                         const StreamCallback& on_chunk, GenerationResult* result);

// Text prompt -> token ids with the target's tokenizer (BOS if the model asks
// for it). Special-token text in a raw prompt stays plain text.
absl::StatusOr<std::vector<int32_t>> EncodePrompt(const tokenizer::Tokenizer& tokenizer,
                                                  std::string_view text, std::string_view field);
// A chat conversation rendered with the model's template, generation prompt
// appended; control tokens of the template are parsed.
absl::StatusOr<std::vector<int32_t>> EncodeChat(const tokenizer::Tokenizer& tokenizer,
                                                const std::vector<tokenizer::ChatMessage>& messages,
                                                std::string_view field);

}  // namespace tandem::orchestrator::server
