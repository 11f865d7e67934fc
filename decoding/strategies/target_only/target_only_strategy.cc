#include "decoding/strategies/target_only/target_only_strategy.h"

#include "decoding/strategies/target_only/target_only.h"

namespace tandem::decoding {
namespace {

struct TargetOnlyOptions {};

}  // namespace

const StrategyDefinition& TargetOnlyStrategy() {
  static const StrategyDefinition& definition = DefineStrategy<TargetOnlyOptions>({
      .name = "target_only",
      .description = "Every token from the target model alone (the baseline).",
      .params = {},
      .finish = nullptr,
      .needs = [](const TargetOnlyOptions&) { return PortNeeds{.context_prompt = true}; },  // the long-context baseline
      .logprobs = true,
      .run = [](const TargetOnlyOptions&, const StrategyCall& c) {
        return RunTargetOnly(c.request, *c.ports.verifier, c.vocab, c.on_chunk, c.result);
      },
  });
  return definition;
}

}  // namespace tandem::decoding
