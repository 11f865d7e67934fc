#include "decoding/strategies/target_only/target_only.h"

#include "decoding/generation/open_target.h"
#include "decoding/generation/output.h"

namespace tandem::decoding {

absl::Status RunTargetOnly(const GenerationRequest& request, Verifier& verifier,
                           const Vocabulary& vocab, const StreamCallback& on_chunk,
                           GenerationResult* result) {
  if (absl::Status s = Output::ValidateRequest(request, vocab); !s.ok()) return s;
  *result = {};
  result->stats.strategy = "target_only";
  Output out(request, vocab, on_chunk, result);

  double t0 = out.ElapsedMs();
  auto target = OpenTarget(verifier, request, out);
  if (!target.ok()) return target.status();
  result->stats.target_time_ms += out.ElapsedMs() - t0;

  VerifyResult step;
  absl::Status status;
  while (!out.done()) {
    if (out.cancelled()) {
      out.Abort();
      break;
    }
    t0 = out.ElapsedMs();
    status = (*target)->Verify({}, {}, &step);  // no drafts: t ~ p_1
    result->stats.target_time_ms += out.ElapsedMs() - t0;
    ++result->stats.target_calls;
    if (!status.ok()) {
      if (out.EndsAtContextLimit(status)) status = absl::OkStatus();
      break;
    }
    out.Push(step.next_token, step, 0);
    status = out.FlushChunk();
    if (!status.ok()) break;
  }
  if (status.ok()) status = out.FlushChunk();
  absl::Status closed = (*target)->Close();
  out.Close();
  return status.ok() ? closed : status;
}

}  // namespace tandem::decoding
