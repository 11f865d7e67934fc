#include "decoding/strategies/rapid/rapid.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "decoding/spec/acceptance.h"
#include "decoding/generation/output.h"
#include "decoding/spec/peer_loss.h"
#include "decoding/spec/speculative_rounds.h"

namespace tandem::decoding {
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
  stats.retrieval.context_tokens = input.count_tokens(input.context);
  RetrievalQuery query;
  query.query = input.question;
  query.top_k = RetrievalBudget(stats.retrieval.context_tokens, options.chunk_tokens, options.l_min, options.lambda);
  query.min_score = options.theta;
  query.mode = options.mode;
  absl::StatusOr<RetrievalResult> retrieved =
      options.collection.empty()
          ? retriever.SearchText(input.context, query, ChunkingOptions{.chunk_tokens = options.chunk_tokens})
          : retriever.SearchCollection(options.collection, query);
  // Without retrieval there is no drafter prompt: the request continues as
  // plain target decoding on the long context (spec/peer_loss.h).
  if (!retrieved.ok() && !spec::IsPeerLoss(retrieved.status())) return retrieved.status();
  if (!retrieved.ok()) stats.fallback = spec::FallbackReason("retrieval", retrieved.status());
  std::string retrieved_context;
  if (retrieved.ok()) {
    stats.retrieval.retrieval_ms = retrieved->elapsed_ms;
    retrieved_context = JoinRetrievedChunks(std::move(retrieved->chunks), options.theta,
                                            &stats.retrieval.retrieved_chunks, &stats.retrieval.retrieved_tokens);
  }

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
  std::vector<int32_t> draft_prompt;
  if (stats.fallback.empty()) {
    auto rendered = input.render(retrieved_context, /*retrieved=*/true);
    if (!rendered.ok()) return rendered.status();
    draft_prompt = std::move(*rendered);
  }
  MiddleTruncate(*target_prompt, limit);
  MiddleTruncate(draft_prompt, limit);
  stats.retrieval.draft_prompt_tokens = static_cast<int64_t>(draft_prompt.size());

  GenerationRequest request = base_request;
  request.prompt = std::move(*target_prompt);
  if (absl::Status s = Output::ValidateRequest(request, vocab); !s.ok()) return s;
  // Output only sets prompt_tokens in the stats, so the retrieval numbers
  // above survive. (Its clock starts here: TTFT and e2e in process exclude
  // retrieval; the Generation service measures from request arrival.)
  Output out(request, vocab, on_chunk, result);
  const bool greedy = request.sampling.greedy();

  // 5. Prefill both (separate KV caches, different lengths).
  double t0 = out.ElapsedMs();
  VerifyOptions verify_options;
  verify_options.knowledge_transfer = options.knowledge_transfer;
  auto target = verifier.Open(request.prompt, request.sampling, verify_options);
  if (!target.ok()) return target.status();
  stats.target_time_ms += out.ElapsedMs() - t0;
  t0 = out.ElapsedMs();
  DraftOptions draft_options;
  // Greedy: the drafter's temperature-1 rows, which the greedy transfer
  // needs (algorithms.md section 1); lossless greedy needs none.
  draft_options.return_distributions = !greedy || options.knowledge_transfer.enabled();
  draft_options.stop_below_probability = options.c_conf;
  std::unique_ptr<DraftSession> draft;
  if (stats.fallback.empty()) {
    auto opened = drafter.Open(draft_prompt, request.sampling, draft_options);
    if (!opened.ok() && !spec::IsPeerLoss(opened.status())) {
      (void)(*target)->Close();
      return opened.status();
    }
    if (opened.ok()) {
      draft = std::move(*opened);
    } else {
      stats.fallback = spec::FallbackReason("draft", opened.status());
    }
  }
  stats.draft_time_ms += out.ElapsedMs() - t0;

  // 6. Draft up to gamma (constant) on [C^S; y], verify on [C; y] with
  //    knowledge transfer (configured in the target session). Without a
  //    drafter (fallback), target-only rounds on [C; y].
  spec::GammaController gamma(spec::GammaOptions{.gamma = options.gamma, .adaptive = false});
  stats.speculation.final_gamma = options.gamma;
  return RunSpeculativeRounds("rapid", draft.get(), **target, gamma, greedy, vocab, out, stats);
}

}  // namespace tandem::decoding
