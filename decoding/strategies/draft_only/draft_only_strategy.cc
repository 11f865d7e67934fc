#include "decoding/strategies/draft_only/draft_only_strategy.h"

#include "decoding/strategies/draft_only/draft_only.h"

namespace tandem::decoding {

const StrategyDefinition& DraftOnlyStrategy() {
  using O = DraftOnlyOptions;
  static const StrategyDefinition& definition = DefineStrategy<O>({
      .name = "draft_only",
      .description = "Every token from the draft model alone (the deployment's 'model' drafter; RSD's delta = 0 "
                     "end point).",
      .params = ParamTable<O>().Int("chunk", 1, 64, [](O& o) -> int& { return o.chunk; },
                                    "Tokens per draft call (one round trip to a draft service)."),
      .finish = nullptr,
      .needs = [](const O&) { return PortNeeds{.draft_model = true}; },
      .run = [](const O& options, const StrategyCall& c) -> absl::Status {
        auto drafter = RequireModelDrafter(c.ports, "draft_only");
        if (!drafter.ok()) return drafter.status();
        O o = options;
        o.draft_parameters = DraftParameters(c.ports);
        return RunDraftOnly(c.request, o, **drafter, c.vocab, c.on_chunk, c.result);
      },
  });
  return definition;
}

}  // namespace tandem::decoding
