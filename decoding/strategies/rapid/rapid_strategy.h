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
#include "decoding/registry/strategy_definition.h"
#include "decoding/generation/generation.h"
#include "decoding/strategies/rapid/rapid.h"

namespace tandem::decoding {

// The registry entry: documented parameters (RapidOptions' defaults), the
// ports it needs (the "model" drafter, the retriever, the request's context)
// and the run onto them.
const StrategyDefinition& RapidStrategy();

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

}  // namespace tandem::decoding
