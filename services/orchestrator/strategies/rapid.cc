#include "services/orchestrator/strategies/rapid.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/orchestrator/spec/acceptance.h"
#include "services/orchestrator/strategies/output.h"

namespace tandem::orchestrator {
namespace {

absl::Status BadParam(std::string_view name, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("params.", absl::string_view(name.data(), name.size()), ": ",
                                                 absl::string_view(what.data(), what.size())));
}

}  // namespace

absl::Status ValidateRapidOptions(const RapidOptions& o) {
  if (o.gamma < 1 || o.gamma > 32) return BadParam("gamma", absl::StrCat("must be in [1, 32], got ", o.gamma));
  if (absl::Status s = spec::ValidateKnowledgeTransfer(o.knowledge_transfer, "params"); !s.ok()) return s;
  if (!(o.c_conf >= 0.0f && o.c_conf <= 1.0f)) {
    return BadParam("c_conf", absl::StrCat("must be in [0, 1], got ", o.c_conf));
  }
  if (o.chunk_tokens < 16 || o.chunk_tokens > 8192) {
    return BadParam("chunk_tokens", absl::StrCat("must be in [16, 8192], got ", o.chunk_tokens));
  }
  if (!(o.theta >= -1.0f && o.theta <= 1.0f)) {
    return BadParam("theta", absl::StrCat("must be in [-1, 1], got ", o.theta));
  }
  if (o.l_min < 0 || o.l_min > (int64_t{1} << 24)) {
    return BadParam("l_min", absl::StrCat("must be in [0, 16777216], got ", o.l_min));
  }
  if (!(o.lambda >= 1.0 && o.lambda <= 1024.0)) {
    return BadParam("lambda", absl::StrCat("must be in [1, 1024], got ", o.lambda));
  }
  return absl::OkStatus();
}

int RetrievalBudget(int64_t context_tokens, int chunk_tokens, int64_t l_min, double lambda) {
  const double l = static_cast<double>(std::max<int64_t>(context_tokens, 0));
  const double s = static_cast<double>(std::max(chunk_tokens, 1));
  const double k = std::ceil(std::max(l / (s * lambda), std::min(static_cast<double>(l_min) / s, l / s)));
  return static_cast<int>(std::clamp(k, 1.0, 1e6));
}

std::string JoinRetrievedChunks(std::vector<RetrievedChunk> chunks, float theta, int64_t* kept_chunks,
                                int64_t* kept_tokens) {
  std::erase_if(chunks, [theta](const RetrievedChunk& c) { return !(c.score >= theta); });
  // Document order: position is the chunk's index in the context, or in the
  // collection's ingestion order (so several documents keep their order).
  std::stable_sort(chunks.begin(), chunks.end(), [](const RetrievedChunk& a, const RetrievedChunk& b) {
    return std::tie(a.position, a.document_id) < std::tie(b.position, b.document_id);
  });
  chunks.erase(std::unique(chunks.begin(), chunks.end(),
                           [](const RetrievedChunk& a, const RetrievedChunk& b) {
                             return a.document_id == b.document_id && a.position == b.position;
                           }),
               chunks.end());
  std::string joined;
  int64_t tokens = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i > 0) joined += "\n\n";
    joined += chunks[i].text;
    tokens += chunks[i].token_count;
  }
  if (kept_chunks != nullptr) *kept_chunks = static_cast<int64_t>(chunks.size());
  if (kept_tokens != nullptr) *kept_tokens = tokens;
  return joined;
}

void MiddleTruncate(std::vector<int32_t>& ids, int64_t limit) {
  if (limit <= 0 || static_cast<int64_t>(ids.size()) <= limit) return;
  const int64_t head = limit / 2;
  const int64_t tail = limit - head;
  ids.erase(ids.begin() + head, ids.end() - tail);
}

absl::Status RunRapid(const GenerationRequest& base_request, const RapidOptions& options,
                      const LongContextInput& input, Drafter& drafter, Verifier& verifier,
                      Retriever& retriever, const Vocabulary& vocab, const StreamCallback& on_chunk,
                      GenerationResult* result) {
  if (absl::Status s = ValidateRapidOptions(options); !s.ok()) return s;
  if (!input.render || !input.count_tokens) {
    return absl::InvalidArgumentError("rapid: the request carries no prompt renderer for its context");
  }
  if (input.question.empty()) return absl::InvalidArgumentError("prompt: rapid needs a question to retrieve with");
  if (input.context.empty()) {
    return absl::InvalidArgumentError("context: rapid needs the long context the target reads (may not be empty)");
  }
  *result = {};
  auto& stats = result->stats;
  stats.strategy = "rapid";
  stats.drafter = std::string(drafter.name());

  // 1-3. Retrieval on the untruncated context: budget K, top-K, theta, document order.
  stats.context_tokens = input.count_tokens(input.context);
  RetrievalQuery query;
  query.query = input.question;
  query.top_k = RetrievalBudget(stats.context_tokens, options.chunk_tokens, options.l_min, options.lambda);
  query.min_score = options.theta;
  query.mode = options.mode;
  absl::StatusOr<RetrievalResult> retrieved =
      options.collection.empty()
          ? retriever.SearchText(input.context, query, ChunkingOptions{.chunk_tokens = options.chunk_tokens})
          : retriever.SearchCollection(options.collection, query);
  if (!retrieved.ok()) return retrieved.status();
  stats.retrieval_ms = retrieved->elapsed_ms;
  const std::string retrieved_context = JoinRetrievedChunks(std::move(retrieved->chunks), options.theta,
                                                            &stats.retrieved_chunks, &stats.retrieved_tokens);

  // 4. Prompts: the target reads template(C), the drafter template(C^S).
  //    Both are middle-truncated to leave max_tokens of the window.
  const int64_t limit =
      input.context_window > 0 ? input.context_window - base_request.max_tokens : int64_t{1} << 40;
  if (limit < 2) {
    return absl::InvalidArgumentError(absl::StrCat("max_tokens: ", base_request.max_tokens,
                                                   " leaves no room for the prompt in the context of ",
                                                   input.context_window));
  }
  auto target_prompt = input.render(input.context, /*retrieved=*/false);
  if (!target_prompt.ok()) return target_prompt.status();
  auto draft_prompt = input.render(retrieved_context, /*retrieved=*/true);
  if (!draft_prompt.ok()) return draft_prompt.status();
  MiddleTruncate(*target_prompt, limit);
  MiddleTruncate(*draft_prompt, limit);
  stats.draft_prompt_tokens = static_cast<int64_t>(draft_prompt->size());

  GenerationRequest request = base_request;
  request.prompt = std::move(*target_prompt);
  if (absl::Status s = Output::ValidateRequest(request, vocab); !s.ok()) return s;
  // Output only sets prompt_tokens in the stats, so the retrieval numbers
  // above survive. (Its clock starts here: TTFT and e2e in process exclude
  // retrieval; the Generation service measures from request arrival.)
  Output out(request, vocab, on_chunk, result);
  const bool greedy = request.sampling.greedy();
  auto is_eos = [&vocab](int32_t t) { return vocab.IsEndOfGeneration(t); };

  // 5. Prefill both (separate KV caches, different lengths).
  double t0 = out.ElapsedMs();
  VerifyOptions verify_options;
  verify_options.knowledge_transfer = options.knowledge_transfer;
  auto target = verifier.Open(request.prompt, request.sampling, verify_options);
  if (!target.ok()) return target.status();
  stats.target_time_ms += out.ElapsedMs() - t0;
  t0 = out.ElapsedMs();
  DraftOptions draft_options;
  draft_options.return_distributions = !greedy;
  draft_options.stop_below_probability = options.c_conf;
  auto draft = drafter.Open(*draft_prompt, request.sampling, draft_options);
  if (!draft.ok()) {
    (void)(*target)->Close();
    return draft.status();
  }
  stats.draft_time_ms += out.ElapsedMs() - t0;

  // 6. Draft up to gamma on [C^S; y], verify on [C; y] with knowledge transfer.
  DraftDelta delta;
  DraftProposal proposal;
  VerifyResult verdict;
  absl::Status status;
  stats.final_gamma = options.gamma;
  while (!out.done()) {
    if (out.cancelled()) {
      out.Abort();
      break;
    }
    // A round emits at most g + 1 tokens: never draft what max_tokens cannot use.
    const int g = std::clamp(out.remaining() - 1, 0, options.gamma);
    proposal.tokens.clear();
    proposal.q.clear();
    if (g > 0) {
      t0 = out.ElapsedMs();
      status = (*draft)->Propose(delta, g, &proposal);
      stats.draft_time_ms += out.ElapsedMs() - t0;
      ++stats.draft_calls;
      if (!status.ok()) break;
      delta = {};
    }
    size_t n = std::min<size_t>(proposal.tokens.size(), g);
    n = spec::DraftLengthUpToEos(std::span<const int32_t>(proposal.tokens).first(n), is_eos);
    std::span<const int32_t> x = std::span<const int32_t>(proposal.tokens).first(n);
    std::span<const runtime::Distribution> q;
    if (!greedy) {
      if (proposal.q.size() < n) {
        status = absl::InternalError("drafter returned fewer q rows than tokens");
        break;
      }
      q = std::span<const runtime::Distribution>(proposal.q).first(n);
    }

    t0 = out.ElapsedMs();
    status = (*target)->Verify(x, q, &verdict);
    ++stats.target_calls;
    if (!x.empty() && (status.code() == absl::StatusCode::kOutOfRange ||
                       status.code() == absl::StatusCode::kResourceExhausted)) {
      // The drafts do not fit the target's window: take the one token
      // target-only decoding would still get (a failed Verify changes nothing).
      n = 0;
      x = {};
      q = {};
      status = (*target)->Verify(x, q, &verdict);
      ++stats.target_calls;
    }
    stats.target_time_ms += out.ElapsedMs() - t0;
    if (!status.ok()) {
      if (out.EndsAtContextLimit(status)) status = absl::OkStatus();
      break;
    }
    const int k = verdict.accepted;
    stats.RecordRound(static_cast<int>(n), k);

    // Emit x_1..x_k, t. A draft that ended on end-of-generation and was fully
    // accepted finishes the output at that token; t is then ignored.
    bool more = true;
    for (int i = 0; i < k && more; ++i) more = out.Push(x[i]);
    if (more) out.Push(verdict.next_token);
    status = out.FlushChunk();
    if (!status.ok()) break;

    // The drafter crops its short cache to the same accepted prefix next call.
    if (g > 0) {
      delta = {};
      delta.accepted = k;
      delta.next_token = verdict.next_token;
    } else if (!out.done()) {
      status = absl::InternalError("rapid: drafter skipped before the last round");
      break;
    }
  }
  if (status.ok()) status = out.FlushChunk();
  absl::Status closed_target = (*target)->Close();
  absl::Status closed_draft = (*draft)->Close();
  out.Close();
  if (!status.ok()) return status;
  return closed_target.ok() ? closed_draft : closed_target;
}

}  // namespace tandem::orchestrator
