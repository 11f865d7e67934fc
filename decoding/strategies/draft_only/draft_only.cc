#include "decoding/strategies/draft_only/draft_only.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "decoding/generation/output.h"

namespace tandem::decoding {

absl::Status RunDraftOnly(const GenerationRequest& request, const DraftOnlyOptions& options, Drafter& drafter,
                          const Vocabulary& vocab, const StreamCallback& on_chunk, GenerationResult* result) {
  if (absl::Status s = Output::ValidateRequest(request, vocab); !s.ok()) return s;
  if (options.chunk < 1 || options.chunk > 64) {
    return absl::InvalidArgumentError(absl::StrCat("chunk must be in [1, 64], got ", options.chunk));
  }
  *result = {};
  result->stats.strategy = "draft_only";
  result->stats.drafter = std::string(drafter.name());
  Output out(request, vocab, on_chunk, result);
  auto& stats = result->stats;

  double t0 = out.ElapsedMs();
  auto draft = drafter.Open(request.prompt, request.sampling, {.return_distributions = false});
  if (!draft.ok()) return draft.status();
  stats.draft_time_ms += out.ElapsedMs() - t0;

  DraftDelta delta;
  DraftProposal proposal;
  absl::Status status;
  int64_t forwarded = static_cast<int64_t>(request.prompt.size());  // prefill
  while (!out.done()) {
    if (out.cancelled()) {
      out.Abort();
      break;
    }
    const int g = std::min(out.remaining(), options.chunk);
    t0 = out.ElapsedMs();
    status = (*draft)->Propose(delta, g, &proposal);
    stats.draft_time_ms += out.ElapsedMs() - t0;
    ++stats.draft_calls;
    if (!status.ok()) break;
    if (proposal.tokens.empty()) {
      // A model drafter proposes nothing only when its context or KV budget
      // is full.
      out.EndsAtContextLimit(absl::OutOfRangeError("draft context full"));
      break;
    }
    forwarded += static_cast<int64_t>(proposal.tokens.size());
    size_t used = 0;
    for (int32_t t : proposal.tokens) {
      ++used;
      if (!out.Push(t)) break;
    }
    delta = {};
    delta.accepted = static_cast<int>(used);
    status = out.FlushChunk();
    if (!status.ok()) break;
  }
  if (status.ok()) status = out.FlushChunk();
  stats.flops.draft = 2.0 * options.draft_parameters * static_cast<double>(forwarded);
  absl::Status closed = (*draft)->Close();
  out.Close();
  return status.ok() ? closed : status;
}

}  // namespace tandem::decoding
