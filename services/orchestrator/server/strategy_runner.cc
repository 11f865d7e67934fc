#include "services/orchestrator/server/strategy_runner.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/orchestrator/server/reward_strategies.h"
#include "services/orchestrator/server/rapid_strategy.h"
#include "services/orchestrator/server/rsd_strategy.h"
#include "services/orchestrator/strategies/speculative.h"
#include "services/orchestrator/strategies/target_only.h"

namespace tandem::orchestrator::server {
namespace {

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

absl::StatusOr<Drafter*> ResolveDrafter(const StrategyChoice& choice, const GenerationPorts& ports) {
  std::string name = choice.drafter;
  if (name.empty()) name = ports.default_drafter.empty() ? "ngram" : ports.default_drafter;
  Drafter* drafter = ports.FindDrafter(name);
  if (drafter == nullptr) {
    std::vector<std::string> available;
    for (const auto& [n, d] : ports.drafters) available.push_back(n);
    return absl::InvalidArgumentError(
        absl::StrCat("params.drafter: drafter '", name, "' is not configured in this deployment (available: ",
                     available.empty() ? "none" : absl::StrJoin(available, ", "), ")"));
  }
  return drafter;
}

absl::Status RunStrategy(const StrategyChoice& choice, const GenerationRequest& request,
                         const GenerationPorts& ports, bool ignore_eos,
                         const StreamCallback& on_chunk, GenerationResult* result) {
  const StrategySpec* spec = FindStrategy(choice.strategy);
  if (spec == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("strategy: unknown strategy '", choice.strategy,
                                                   "' (known: ", StrategyNames(), ")"));
  }
  if (!spec->implemented) {
    return absl::UnimplementedError(absl::StrCat(
        "strategy: '", choice.strategy, "' is not implemented yet (available: target_only, speculative)"));
  }
  if (ports.verifier == nullptr || ports.vocabulary == nullptr) {
    return absl::FailedPreconditionError("deployment has no target configured");
  }
  EosFreeVocabulary no_eos(*ports.vocabulary);
  const Vocabulary& vocab = ignore_eos ? static_cast<const Vocabulary&>(no_eos) : *ports.vocabulary;
  if (choice.strategy == "target_only") {
    return RunTargetOnly(request, *ports.verifier, vocab, on_chunk, result);
  }
  if (choice.strategy == "rapid") return RunRapidStrategy(choice, request, ports, vocab, on_chunk, result);
  if (IsRewardGuided(choice.strategy)) return RunRewardGuided(choice, request, ports, vocab, on_chunk, result);
  if (IsRsdFamily(choice.strategy)) return RunRsdFamily(choice, request, ports, vocab, on_chunk, result);
  auto drafter = ResolveDrafter(choice, ports);
  if (!drafter.ok()) return drafter.status();
  GenerationRequest with_gamma = request;
  with_gamma.gamma = choice.gamma;
  return RunSpeculative(with_gamma, **drafter, *ports.verifier, vocab, on_chunk, result);
}

absl::StatusOr<std::vector<int32_t>> EncodePrompt(const tokenizer::Tokenizer& tokenizer,
                                                  std::string_view text, std::string_view field) {
  std::vector<int32_t> ids = tokenizer.Encode(text, /*add_special=*/true, /*parse_special=*/false);
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(View(field), ": encodes to zero tokens"));
  return ids;
}

absl::StatusOr<std::vector<int32_t>> EncodeChat(const tokenizer::Tokenizer& tokenizer,
                                                const std::vector<tokenizer::ChatMessage>& messages,
                                                std::string_view field) {
  auto rendered = tokenizer.ApplyChatTemplate(messages, /*add_generation_prompt=*/true);
  if (!rendered.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(View(field), ": ", rendered.status().message()));
  }
  // Only the template's own markup may contain control tokens; user text
  // smuggling "<|im_end|>" is a known weakness of string templates, accepted
  // here as every template-based server does.
  std::vector<int32_t> ids = tokenizer.Encode(*rendered, /*add_special=*/true, /*parse_special=*/true);
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(View(field), ": encodes to zero tokens"));
  return ids;
}

}  // namespace tandem::orchestrator::server
