#include "decoding/spec/speculative_rounds.h"

#include <algorithm>
#include <future>
#include <optional>
#include <span>
#include <string>

#include "absl/strings/str_cat.h"
#include "decoding/spec/acceptance.h"
#include "decoding/spec/peer_loss.h"

namespace tandem::decoding {

absl::Status RunSpeculativeRounds(std::string_view strategy, DraftSession* draft, VerifySession& target,
                                  spec::GammaController& gamma, bool greedy, const Vocabulary& vocab,
                                  Output& out, spec::RequestStats& stats, const RoundOptions& options) {
  auto is_eos = [&vocab](int32_t t) { return vocab.IsEndOfGeneration(t); };
  DraftDelta delta;  // outcome of the previous round, sent with the next proposal
  DraftProposal proposal;
  VerifyResult verdict;
  absl::Status status;
  double t0 = 0;
  // The first round's times are not a draft step and a verification: they
  // can carry work a session defers to its first call (and cold caches).
  bool first_round = true;
  // options.overlap: the proposal drafted during the last verification, for
  // the sequence the target then committed (its first token follows it).
  std::optional<DraftProposal> ready;
  DraftProposal next;  // the optimistic Propose's output (kept across rounds: its buffers are reused)
  while (!out.done()) {
    if (out.cancelled()) {
      out.Abort();
      break;
    }
    // 1. Draft x_1..x_g ~ q. A round emits at most g + 1 tokens, so never
    //    draft beyond what max_tokens can still use. Without a drafter, or
    //    when the controller chose gamma 0 (drafting does not pay: low
    //    acceptance, or a full target batch), the round is one target-only
    //    step.
    int g = draft == nullptr ? 0 : std::clamp(out.remaining() - 1, 0, gamma.gamma());
    // A drafter that must first catch up (a lazily opened session, tokens
    // committed at gamma 0) drafts only if the tokens left repay that. A
    // probe is exempt: it drafts to measure acceptance, not to save time
    // (without the exemption a drafter stopped for low acceptance never
    // got re-measured) - except in the last probe_every tokens, where the
    // request could not use what it measures while the catch-up (the whole
    // context for a lazily opened drafter) costs every session on shared
    // processors: at 16 streams such late probes cost a quarter of the
    // aggregate (bench/results/load_adaptive/20261205T034654Z, pass 1) -
    // and wherever even an acceptance of 1 would not repay the catch-up
    // before the request ends (ProbeCouldPay).
    const int catch_up_tokens = draft == nullptr ? 0
                                          : static_cast<int>((draft->prefill_pending() ? draft->committed_length() : 0) +
                                                             delta.append.size());
    const bool probe = gamma.reason() == spec::GammaReason::kProbe;
    const bool prefill_costs_more =
        g > 0 && catch_up_tokens > 0 &&
        (probe ? out.remaining() <= gamma.probe_every() || !gamma.ProbeCouldPay(catch_up_tokens, out.remaining())
               : !gamma.CatchUpPays(catch_up_tokens, out.remaining()));
    if (prefill_costs_more) g = 0;
    if (draft != nullptr) {
      stats.speculation.RecordGamma(prefill_costs_more ? 0 : gamma.gamma(),
                                    spec::GammaReasonName(prefill_costs_more ? spec::GammaReason::kPrefill
                                                                             : gamma.reason()));
    }
    // The rows of q stay: a Propose overwrites them in place (DraftProposal);
    // without one this round verifies no token and reads none.
    proposal.tokens.clear();
    spec::GammaRound round;
    const bool overlap = options.overlap && draft != nullptr;
    if (g > 0 && ready.has_value()) {
      // Drafted while the last block was verified: no Propose now, and no
      // draft time the controller could learn from.
      proposal = std::move(*ready);
      ready.reset();
      round.draft_ms = round.propose_ms = -1;
    } else if (g > 0) {
      // A delta carrying tokens the drafter did not see (rounds at gamma 0),
      // or a session that opens now, makes this Propose also prefill them:
      // not a draft-step time.
      const bool catch_up = !delta.append.empty() || draft->prefill_pending();
      const int caught_up = catch_up ? catch_up_tokens : 0;
      t0 = out.ElapsedMs();
      // With overlap, one more token: the guess at the target's next token
      // that the optimistic Propose below drafts after.
      status = draft->Propose(delta, overlap ? g + 1 : g, &proposal);
      const double draft_ms = out.ElapsedMs() - t0;
      stats.draft_time_ms += draft_ms;
      if (!catch_up) round.draft_ms = draft_ms;
      round.propose_ms = draft_ms;
      round.catch_up_tokens = caught_up;
      ++stats.draft_calls;
      if (spec::IsPeerLoss(status)) {
        // The drafter is gone: continue target-only from the committed
        // position (the target session is untouched by a failed Propose).
        // Its session went with it, so closing it can only fail; that
        // failure is the loss already recorded.
        stats.fallback = spec::FallbackReason("draft", status);
        (void)draft->Close();
        draft = nullptr;
        status = absl::OkStatus();
        g = 0;
        proposal.tokens.clear();
        proposal.q.clear();
      }
      if (!status.ok()) break;
      delta = {};
    }
    if (g == 0) ready.reset();  // the drafter's state still matches: see step 5's append
    // Nothing after an end-of-generation token is verified.
    size_t n = std::min<size_t>(proposal.tokens.size(), g);
    n = spec::DraftLengthUpToEos(std::span<const int32_t>(proposal.tokens).first(n), is_eos);
    std::span<const int32_t> x = std::span<const int32_t>(proposal.tokens).first(n);
    std::span<const runtime::Distribution> q;
    if (!greedy) {
      if (proposal.q.size() < n) {
        status = absl::InternalError(absl::StrCat(std::string(strategy), ": drafter returned fewer q rows than tokens"));
        break;
      }
      q = std::span<const runtime::Distribution>(proposal.q).first(n);
    } else if (proposal.q.size() >= n) {
      // Greedy with the drafter's temperature-1 rows (RAPID's transfer).
      q = std::span<const runtime::Distribution>(proposal.q).first(n);
    }

    // 2-4. One target pass over x: accept a prefix x_1..x_k, next token t
    //      (residual sample or bonus token), target KV rolled back. With
    //      overlap, the drafter meanwhile drafts the next block after
    //      x + [guess] on this thread (the two sessions are independent).
    const bool optimistic = overlap && g > 0 && n == static_cast<size_t>(g) && proposal.tokens.size() > n &&
                            !is_eos(proposal.tokens[n]);
    absl::Status next_status;
    t0 = out.ElapsedMs();
    if (optimistic) {
      std::future<absl::Status> verified =
          std::async(std::launch::async, [&target, x, q, &verdict] { return target.Verify(x, q, &verdict); });
      DraftDelta all_accepted;
      all_accepted.accepted = static_cast<int>(n) + 1;
      const double d0 = out.ElapsedMs();
      next_status = draft->Propose(all_accepted, g + 1, &next);
      stats.draft_time_ms += out.ElapsedMs() - d0;
      ++stats.draft_calls;
      status = verified.get();
    } else {
      status = target.Verify(x, q, &verdict);
    }
    ++stats.target_calls;
    if (!x.empty() && (status.code() == absl::StatusCode::kOutOfRange ||
                       status.code() == absl::StatusCode::kResourceExhausted)) {
      // The drafts do not fit the target's context: take the one token that
      // target-only decoding would still get (a failed Verify changes nothing).
      n = 0;
      x = {};
      q = {};
      status = target.Verify(x, q, &verdict);
      ++stats.target_calls;
    }
    if (optimistic && !next_status.ok()) {
      if (spec::IsPeerLoss(next_status)) {
        // As in step 1: the rest runs target-only; this round's verdict stands.
        stats.fallback = spec::FallbackReason("draft", next_status);
        (void)draft->Close();
        draft = nullptr;
      } else {
        // The drafter's own failure, not the target's context limit.
        if (status.ok()) status = next_status;
        break;
      }
    }
    round.verify_ms = out.ElapsedMs() - t0;
    stats.target_time_ms += round.verify_ms;
    if (!status.ok()) {
      if (out.EndsAtContextLimit(status)) status = absl::OkStatus();
      break;
    }
    const int k = verdict.accepted;
    stats.speculation.RecordRound(static_cast<int>(n), k);
    round.drafted = static_cast<int>(n);
    round.proposed = static_cast<int>(proposal.tokens.size());
    round.accepted = k;
    round.batch = verdict.batch_size;
    round.sessions = target.active_sessions();
    if (first_round) round.draft_ms = round.propose_ms = round.verify_ms = -1;
    first_round = false;
    gamma.Observe(round);
    stats.speculation.final_gamma = gamma.gamma();  // where the controller is, not a capped last round

    // Emit x_1..x_k, t. A draft that ended on end-of-generation and was fully
    // accepted finishes the output at that token; t is then ignored.
    bool more = true;
    for (int i = 0; i < k && more; ++i) more = out.Push(x[i], verdict, static_cast<size_t>(i));
    if (more) out.Push(verdict.next_token, verdict, static_cast<size_t>(k));
    status = out.FlushChunk();
    if (!status.ok()) break;

    // 5. The drafter rolls back to the same prefix with its next call. After
    //    a round without drafting it has not seen the target's token: it
    //    goes after the pending delta (append), and the next Propose, if
    //    any, catches up on all of them in one call.
    if (optimistic && draft != nullptr) {
      delta = {};
      // n == g: the context-limit retry above did not shrink the block.
      if (n == static_cast<size_t>(g) && k == static_cast<int>(n) && verdict.next_token == proposal.tokens[n]) {
        ready = std::move(next);  // the drafter already holds x + [t]
      } else {
        // It holds x + [guess] and drafted after it: back to the target's
        // x_1..x_k, then t.
        delta.truncate_to = verdict.committed_length - 1;
        delta.next_token = verdict.next_token;
      }
    } else if (g > 0 && draft != nullptr) {
      delta = {};
      delta.accepted = k;
      delta.next_token = verdict.next_token;
    } else if (draft != nullptr) {
      if (delta.next_token.has_value()) {
        delta.append.push_back(verdict.next_token);
      } else {
        delta.next_token = verdict.next_token;  // no proposal yet: accepted stays 0
      }
    }
  }
  if (status.ok()) status = out.FlushChunk();
  absl::Status closed_target = target.Close();
  absl::Status closed_draft = draft != nullptr ? draft->Close() : absl::OkStatus();
  out.Close();
  if (!status.ok()) return status;
  return closed_target.ok() ? closed_draft : closed_target;
}

}  // namespace tandem::decoding
