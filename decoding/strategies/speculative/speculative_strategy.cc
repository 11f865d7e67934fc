#include "decoding/strategies/speculative/speculative_strategy.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "decoding/strategies/speculative/speculative.h"

namespace tandem::decoding {

absl::StatusOr<Drafter*> ResolveDrafter(const SpeculativeOptions& options, const GenerationPorts& ports) {
  std::string name = options.drafter;
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

const StrategyDefinition& SpeculativeStrategy() {
  using O = SpeculativeOptions;
  static const StrategyDefinition& definition = DefineStrategy<O>({
      .name = "speculative",
      .description = "Lossless speculative decoding: a drafter proposes gamma tokens, the target verifies "
                     "them in one pass (rejection sampling keeps the target's distribution exactly).",
      .params = ParamTable<O>()
                    .Int("gamma", 1, spec::kMaxGamma, [](O& o) -> int& { return o.gamma.gamma; },
                         "Draft length per round (the starting value with adaptive_gamma).")
                    .Bool("adaptive_gamma", [](O& o) -> bool& { return o.gamma.adaptive; },
                          "Adapt gamma to maximise expected tokens per second: acceptance rate, measured "
                          "draft and verify times, and the target's batch (gamma shrinks, to 0, under load). "
                          "Unset on a request that sets gamma, or a seed with temperature > 0: false, so the "
                          "draft length is the one asked for and the sample is reproducible from the seed.")
                    .Int("min_gamma", 0, spec::kMaxGamma, [](O& o) -> int& { return o.gamma.min_gamma; },
                         "Lower bound of adaptive gamma; 0 lets it stop drafting (plain target steps).")
                    .Int("max_gamma", 1, spec::kMaxGamma, [](O& o) -> int& { return o.gamma.max_gamma; },
                         "Upper bound of adaptive gamma.")
                    .Choice("drafter", {"ngram", "model"}, "the deployment's drafter, else ngram",
                            [](const std::string& v, O& o) { o.drafter = v; },
                            "'ngram' (prompt lookup, no model) or 'model' (the draft model).")
                    .Bool("overlap", [](O& o) -> bool& { return o.overlap; },
                          "Draft the next block while the target verifies this one, assuming the block and a "
                          "guessed next token are accepted (one extra draft token per round; rolled back when "
                          "they are not). Output is unchanged; it pays when drafter and target do not share "
                          "compute.")
                    .Int("staged_ngram", 0, kMaxStagedNgram, [](O& o) -> int& { return o.staged_ngram; },
                         "Staged speculation for the model drafter: each draft-model forward also checks up to "
                         "this many tokens proposed by prompt lookup (kept only where the draft model itself "
                         "would have drafted them), so one forward can draft several tokens. Output unchanged; "
                         "0 = off.")
                    .Real("q_tail_mass", 0, kMaxQTailMass, [](O& o) -> float& { return o.q_tail_mass; },
                          "Sampling with the model drafter: drop each draft distribution's tail (entries below "
                          "this / vocabulary, at most this much probability in all) before drafting from it, so "
                          "the q rows sent to the target are sparse instead of the whole vocabulary. Output "
                          "distribution unchanged; acceptance falls by at most this per token. 0 = the exact q."),
      .finish = [](O& o) -> absl::Status {
        if (o.gamma.min_gamma > o.gamma.max_gamma) {
          return BadParam("min_gamma", absl::StrCat("must be <= max_gamma (", o.gamma.max_gamma, ")"));
        }
        // An adaptive run starts inside its bounds.
        if (o.gamma.adaptive) o.gamma.gamma = std::clamp(o.gamma.gamma, o.gamma.min_gamma, o.gamma.max_gamma);
        return absl::OkStatus();
      },
      .needs = [](const O& o) { return PortNeeds{.draft_model = o.drafter == "model", .context_prompt = true}; },
      .stats = spec::kStatsSpeculation,
      .logprobs = true,
      .run = [](const O& o, const StrategyCall& c) -> absl::Status {
        auto drafter = ResolveDrafter(o, c.ports);
        if (!drafter.ok()) return drafter.status();
        GenerationRequest with_gamma = c.request;
        with_gamma.gamma = o.gamma;
        with_gamma.gamma.draft_shares_compute = c.ports.draft_shares_compute;
        return RunSpeculative(with_gamma, **drafter, *c.ports.verifier, c.vocab, c.on_chunk, c.result,
                              c.ports.speculation_costs.get(), RoundOptions{.overlap = o.overlap, .staged_ngram = o.staged_ngram,
                                                           .q_tail_mass = o.q_tail_mass});
      },
  });
  return definition;
}

}  // namespace tandem::decoding
