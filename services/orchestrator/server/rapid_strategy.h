// The rapid strategy's server side: its catalog entry and parameters, the
// prompt template that puts a long context around the question (with the
// target's tokenizer), and the dispatch onto the ports (target verifier, the
// "model" drafter, the retriever). Shared by the Generation service and the
// CLI's in-process `tandem generate`.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/tokenizer.h"
#include "services/orchestrator/server/generation_ports.h"
#include "services/orchestrator/server/strategy_catalog.h"
#include "services/orchestrator/strategies/generation.h"
#include "services/orchestrator/strategies/rapid.h"

namespace tandem::orchestrator::server {

// Catalog entry with the documented parameters and defaults.
StrategySpec RapidStrategySpec();

// Applies one documented parameter onto choice->rapid (INVALID_ARGUMENT
// "params.<key>: ..." for a bad value).
absl::Status ApplyRapidParam(const std::string& key, const std::string& value, StrategyChoice* choice);

// The question as the request gave it: a raw prompt, or a chat whose last
// user message is the question (earlier messages stay as they are).
struct QuestionInput {
  std::string prompt;
  std::vector<tokenizer::ChatMessage> messages;  // non-empty: chat
};

// Builds the prompt renderer. Template (target / drafter):
//   "Please read the following text and answer the question below.\n\n"
//   "<text>\n{context}\n</text>\n\n{question}"
// with "retrieved text chunks" instead of "text" for the drafter, as a raw
// prompt (BOS if the model wants one) or as the last user message of the
// chat template. INVALID_ARGUMENT when there is no question or no context.
absl::StatusOr<std::shared_ptr<const LongContextInput>> MakeLongContextInput(
    const tokenizer::Tokenizer& tokenizer, QuestionInput question, std::string context, int64_t context_window);

// The template text alone (exposed for tests and the docs).
std::string RenderRapidTemplate(std::string_view context, std::string_view question, bool retrieved);

// Runs rapid on `ports`: drafter "model" (self-speculation when it is the
// target's model), ports.retriever. FAILED_PRECONDITION naming what the
// deployment lacks; INVALID_ARGUMENT when the request has no long context.
absl::Status RunRapidStrategy(const StrategyChoice& choice, const GenerationRequest& request,
                              const GenerationPorts& ports, const Vocabulary& vocab,
                              const StreamCallback& on_chunk, GenerationResult* result);

}  // namespace tandem::orchestrator::server
