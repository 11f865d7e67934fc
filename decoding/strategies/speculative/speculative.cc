#include "decoding/strategies/speculative/speculative.h"

#include <algorithm>

#include "decoding/spec/gamma_controller.h"
#include "decoding/spec/lazy_draft_session.h"
#include "decoding/generation/open_target.h"
#include "decoding/generation/output.h"
#include "decoding/spec/peer_loss.h"
#include "decoding/spec/speculative_rounds.h"

namespace tandem::decoding {

absl::Status RunSpeculative(const GenerationRequest& request, Drafter& drafter, Verifier& verifier,
                            const Vocabulary& vocab, const StreamCallback& on_chunk,
                            GenerationResult* result, spec::SpeculationCosts* costs,
                            const RoundOptions& rounds) {
  if (absl::Status s = Output::ValidateRequest(request, vocab); !s.ok()) return s;
  if (request.gamma.gamma < 1) return absl::InvalidArgumentError("gamma must be >= 1 for speculative");
  *result = {};
  result->stats.strategy = "speculative";
  result->stats.drafter = std::string(drafter.name());
  Output out(request, vocab, on_chunk, result);
  auto& stats = result->stats;
  const bool greedy = request.sampling.greedy();

  const spec::SpeculationCosts::Running running(costs);
  double t0 = out.ElapsedMs();
  auto target = OpenTarget(verifier, request, out);
  if (!target.ok()) return target.status();
  stats.target_time_ms += out.ElapsedMs() - t0;
  // The drafter's session opens with the first round that drafts (over the
  // prompt and what the target committed before it): a request the
  // controller keeps at gamma 0 under load never prefills the draft model.
  // A drafter that is down at that point does not fail the request: the
  // rounds continue target-only (spec/peer_loss.h).
  spec::LazyDraftSession draft(drafter, request.prompt, request.sampling,
                               {.return_distributions = !greedy,
                                .staged_ngram = rounds.staged_ngram,
                                .q_tail_mass = rounds.q_tail_mass});
  spec::GammaController gamma(request.gamma, costs, std::string(drafter.name()));
  // The load this request starts into: the sessions open on the target,
  // or the speculative requests running here if more (the target counts a
  // session once its prefill is done).
  gamma.ObserveLoad(std::max((*target)->active_sessions(), costs != nullptr ? costs->running() : 0));
  return RunSpeculativeRounds("speculative", &draft, **target, gamma, greedy, vocab, out, stats, rounds);
}

}  // namespace tandem::decoding
