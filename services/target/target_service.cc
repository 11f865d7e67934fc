#include "services/target/target_service.h"

#include "services/common/abandoned_open.h"
#include "services/common/open_session.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/util/absl_compat.h"
#include "absl/time/clock.h"
#include "decoding/batching/batching_language_model.h"
#include "services/common/status_convert.h"
#include "services/common/validation.h"
#include "decoding/local/model_verifier.h"
#include "services/common/runtime_convert.h"

namespace tandem::services {
namespace {

constexpr int kMaxDraftTokens = 64;
constexpr int kMaxStepTokens = 64;

// Hands out sequences of the shared model and remembers the one it created,
// so that the service can read the batch size that served a call.
class CapturingLm : public decoding::LanguageModel {
 public:
  explicit CapturingLm(decoding::LanguageModel& base) : base_(base) {}
  int32_t vocab_size() const override { return base_.vocab_size(); }
  absl::StatusOr<std::unique_ptr<decoding::LmSequence>> NewSequence() override {
    auto seq = base_.NewSequence();
    if (seq.ok()) created_ = seq->get();
    return seq;
  }
  decoding::LmSequence* created() const { return created_; }

 private:
  decoding::LanguageModel& base_;
  decoding::LmSequence* created_ = nullptr;
};

double MsSince(absl::Time start) { return absl::ToDoubleMilliseconds(absl::Now() - start); }

}  // namespace

// Draft rows a session keeps decoded between Verify calls (see Session::q).
constexpr size_t kKeptDraftRows = 16;

struct TargetService::Session {
  // Outlives `verifier` (declared first). Null for a forked session, whose
  // sequence comes from the parent's (LmSequence::Fork), not from an
  // adapter; such a session reports batch_size 1.
  std::unique_ptr<CapturingLm> lm;
  std::unique_ptr<decoding::VerifySession> verifier;
  const batching::BatchingSequence* batching = nullptr;  // null for other models
  bool greedy = true;
  bool logprobs = false;  // opened with return_logprobs: Verify / Step may return them
  std::atomic<bool> busy{false};
  // The drafter's q rows of the Verify being served, kept between calls (the
  // session is leased to one call at a time) so that each dense row is
  // decoded into the buffer of the last one, not a fresh 600 KB allocation.
  std::vector<runtime::Distribution> q;

  ~Session() {
    if (verifier) (void)verifier->Close();
  }
  int batch_size() const { return batching ? std::max(1, batching->last_batch_items()) : 1; }
};

TargetService::TargetService(decoding::LanguageModel& lm, TargetServiceOptions options,
                             ServiceMetrics* metrics, std::function<int64_t()> kv_bytes)
    : lm_(lm), options_(std::move(options)), metrics_(metrics), kv_bytes_(std::move(kv_bytes)) {
  if (metrics_ != nullptr) {
    batch_size_ = &prometheus::BuildHistogram()
                       .Name("tandem:target_batch_size")
                       .Help("Sessions in the batched forward pass that served a Verify or Step call")
                       .Register(metrics_->registry())
                       .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64});
  }
  sessions_ = std::make_unique<SessionRegistry<Session>>(
      options_.sessions, [this](const std::string&, std::shared_ptr<Session> session) {
        session.reset();  // frees the KV cache
        UpdateGauges();
      });
}

TargetService::~TargetService() { sessions_.reset(); }

void TargetService::UpdateGauges() {
  if (metrics_ == nullptr) return;
  metrics_->SetActiveSessions(static_cast<int64_t>(sessions_->size()));
  if (kv_bytes_) metrics_->SetKvCacheBytes(kv_bytes_());
}

namespace {

absl::Status NoLogprobs() {
  return absl::FailedPreconditionError(
      "return_logprobs: the session was opened without return_logprobs (set it in OpenSession)");
}

}  // namespace

absl::Status TargetService::DoOpen(const tandem::v1::TargetOpenSessionRequest& req,
                                   tandem::v1::TargetOpenSessionResponse* resp) {
  const absl::Time start = absl::Now();
  auto validated = ValidateOpenSession(options_.info, "target", req.session_id(), req.prompt_tokens(),
                                       req.sampling(), req.model());
  if (!validated.ok()) return validated.status();
  const runtime::SamplingParams& sampling = *validated;

  auto session = std::make_shared<Session>();
  session->lm = std::make_unique<CapturingLm>(lm_);
  session->greedy = sampling.greedy();
  decoding::ModelVerifier verifier(*session->lm, options_.accept);
  decoding::VerifyOptions verify_options;
  // Log-probabilities of the emitted tokens come back with each verdict (k +
  // 1 floats, not k + 1 copied rows of the vocabulary), computed only for
  // the sessions that asked: a pass over the vocabulary per emitted token.
  // ModelVerifier::Open checks top_logprobs ("top_logprobs: ...").
  verify_options.return_logprobs = req.return_logprobs();
  verify_options.top_logprobs = static_cast<int>(std::min<uint32_t>(req.top_logprobs(), 1u << 20));
  session->logprobs = req.return_logprobs();
  if (req.has_knowledge_transfer()) {  // RAPID; unset = lossless (eta 0)
    // ModelVerifier::Open validates it ("knowledge_transfer.eta: ...").
    verify_options.knowledge_transfer.eta = req.knowledge_transfer().eta();
    verify_options.knowledge_transfer.alpha_m = req.knowledge_transfer().alpha_m();
  }
  auto opened = verifier.Open(std::span<const int32_t>(req.prompt_tokens().data(), req.prompt_tokens_size()),
                              sampling, verify_options);
  if (!opened.ok()) return opened.status();
  session->verifier = std::move(*opened);
  session->batching = dynamic_cast<const batching::BatchingSequence*>(session->lm->created());

  const std::string id = req.session_id().empty() ? sessions_->NewId("t-") : req.session_id();
  if (auto s = sessions_->Insert(id, std::move(session)); !s.ok()) {
    UpdateGauges();
    return s;
  }
  resp->set_session_id(id);
  resp->set_prompt_tokens(static_cast<uint64_t>(req.prompt_tokens_size()));
  resp->set_idle_timeout_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(sessions_->idle_timeout())));
  resp->set_prefill_time_ms(MsSince(start));
  resp->set_active_sessions(static_cast<uint32_t>(sessions_->size()));
  UpdateGauges();
  return absl::OkStatus();
}

absl::Status TargetService::DoVerify(const tandem::v1::VerifyRequest& req, tandem::v1::VerifyResponse* resp) {
  const absl::Time start = absl::Now();
  const int32_t vocab = options_.info.vocab_size();
  if (auto s = ValidateId(req.session_id(), "session_id", /*allow_empty=*/false); !s.ok()) return s;
  if (auto s = ValidateTokenIds(req.draft_tokens(), vocab, "draft_tokens", 0, kMaxDraftTokens); !s.ok()) return s;
  auto lease = sessions_->AcquireExclusive(req.session_id());
  if (!lease.ok()) return lease.status();
  Session& session = **lease;
  if (req.return_logprobs() && !session.logprobs) return NoLogprobs();
  if (session.greedy != req.greedy()) {
    return absl::InvalidArgumentError(
        session.greedy ? "greedy: must be true for a session opened with temperature 0"
                       : "greedy: must be false for a session opened with temperature > 0 "
                         "(send draft_distributions for lossless verification)");
  }
  const std::span<const int32_t> draft(req.draft_tokens().data(), req.draft_tokens_size());
  // Greedy sessions take them optionally: the drafter's temperature-1 rows
  // for RAPID's greedy transfer (ignored without knowledge transfer).
  std::span<const runtime::Distribution> q;
  if (!session.greedy || req.draft_distributions_size() > 0) {
    if (req.draft_distributions_size() != req.draft_tokens_size()) {
      return absl::InvalidArgumentError(absl::StrCat("draft_distributions: has ", req.draft_distributions_size(),
                                                     " entries, draft_tokens has ", req.draft_tokens_size()));
    }
    // Grows only: rows beyond this call's keep their buffers for a later one.
    if (session.q.size() < draft.size()) session.q.resize(draft.size());
    for (size_t i = 0; i < draft.size(); ++i) {
      // The name is only read by an error; formatted on the stack, it costs
      // no allocation per row on the hot path.
      char field_buf[48];
      const std::string_view field(field_buf, static_cast<size_t>(absl::SNPrintF(
                                                  field_buf, sizeof field_buf, "draft_distributions[%d]", i)));
      if (auto s = DistributionFromProto(req.draft_distributions(static_cast<int>(i)), vocab, &session.q[i], field);
          !s.ok()) {
        return s;
      }
      // d_i cannot have been sampled from q_i otherwise.
      if (session.q[i].Prob(draft[i]) <= 0.0f) {
        return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": gives probability 0 to draft_tokens[", i,
                                                       "] = ", draft[i]));
      }
    }
    q = std::span<const runtime::Distribution>(session.q).first(draft.size());
  }
  decoding::VerifyResult result;
  absl::Status verified = session.verifier->Verify(draft, q, &result);
  // A session keeps the rows of a usual draft length (gamma <= 12 by
  // default), not those of the longest block it was ever sent (64 dense
  // rows are 39 MB for Qwen's vocabulary).
  if (session.q.size() > kKeptDraftRows) session.q.resize(kKeptDraftRows);
  if (!verified.ok()) return verified;

  resp->set_accepted_count(static_cast<uint32_t>(result.accepted));
  resp->set_next_token(result.next_token);
  resp->set_committed_length(static_cast<uint64_t>(result.committed_length));
  resp->set_batch_size(static_cast<uint32_t>(session.batch_size()));
  resp->set_active_sessions(static_cast<uint32_t>(sessions_->size()));
  if (batch_size_ != nullptr) batch_size_->Observe(session.batch_size());
  if (req.return_logprobs()) {
    resp->mutable_logprobs()->Add(result.logprobs.begin(), result.logprobs.end());
    for (const auto& top : result.top_logprobs) TopLogprobsToProto(top, resp->add_top_logprobs());
  }
  const double ms = MsSince(start);
  resp->set_verify_time_ms(ms);
  if (metrics_ != nullptr) metrics_->ObserveTargetVerifyLatency(ms / 1000.0);
  return absl::OkStatus();
}

absl::Status TargetService::DoStep(const tandem::v1::StepRequest& req, tandem::v1::StepResponse* resp) {
  const absl::Time start = absl::Now();
  if (auto s = ValidateId(req.session_id(), "session_id", /*allow_empty=*/false); !s.ok()) return s;
  const int64_t n = req.num_tokens() == 0 ? 1 : static_cast<int64_t>(req.num_tokens());
  if (auto s = ValidateRange(n, 1, kMaxStepTokens, "num_tokens"); !s.ok()) return s;
  auto lease = sessions_->AcquireExclusive(req.session_id());
  if (!lease.ok()) return lease.status();
  Session& session = **lease;
  if (req.return_logprobs() && !session.logprobs) return NoLogprobs();
  int batch = 1;
  decoding::VerifyResult result;
  for (int64_t i = 0; i < n; ++i) {
    if (auto s = session.verifier->Verify({}, {}, &result); !s.ok()) {
      if (i > 0 && s.code() == absl::StatusCode::kOutOfRange) break;  // context full: return what we have
      return s;
    }
    batch = std::max(batch, session.batch_size());
    resp->add_token_ids(result.next_token);
    if (req.return_logprobs()) {
      if (result.logprobs.empty()) return absl::InternalError("target: a logprobs session's step returned none");
      resp->add_logprobs(result.logprobs[0]);
      if (!result.top_logprobs.empty()) TopLogprobsToProto(result.top_logprobs[0], resp->add_top_logprobs());
    }
    resp->set_committed_length(static_cast<uint64_t>(result.committed_length));
    if (!req.ignore_eos() && options_.is_end_of_generation && options_.is_end_of_generation(result.next_token)) {
      break;
    }
  }
  resp->set_batch_size(static_cast<uint32_t>(batch));
  if (batch_size_ != nullptr) batch_size_->Observe(batch);
  resp->set_step_time_ms(MsSince(start));
  return absl::OkStatus();
}

absl::Status TargetService::DoAppend(const tandem::v1::AppendRequest& req, tandem::v1::AppendResponse* resp) {
  const absl::Time start = absl::Now();
  const int32_t vocab = options_.info.vocab_size();
  if (auto s = ValidateId(req.session_id(), "session_id", /*allow_empty=*/false); !s.ok()) return s;
  if (auto s = ValidateTokenIds(req.tokens(), vocab, "tokens", 0,
                                static_cast<size_t>(options_.info.context_length()));
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateRange(int64_t{req.top_k()}, 0, vocab, "top_k"); !s.ok()) return s;
  if (req.top_logprobs() > 0 && !req.return_log_probs()) {
    return absl::InvalidArgumentError("top_logprobs: needs return_log_probs");
  }
  if (auto s = ValidateRange(int64_t{req.top_logprobs()}, 0, runtime::kMaxTopLogprobs, "top_logprobs"); !s.ok()) {
    return s;
  }
  auto lease = sessions_->AcquireExclusive(req.session_id());
  if (!lease.ok()) return lease.status();
  Session& session = **lease;
  if (req.return_log_probs()) {
    if (req.top_k() > 0) {
      return absl::InvalidArgumentError("return_log_probs: not together with top_k > 0");
    }
    std::vector<float> log_probs;
    std::vector<std::vector<runtime::TokenLogprob>> top;
    if (auto s = session.verifier->AppendScoredWithAlternatives(
            std::span<const int32_t>(req.tokens().data(), req.tokens_size()), static_cast<int>(req.top_logprobs()),
            &log_probs, &top);
        !s.ok()) {
      return s;
    }
    resp->set_committed_length(static_cast<uint64_t>(session.verifier->committed_length()));
    resp->mutable_token_log_probs()->Add(log_probs.begin(), log_probs.end());
    for (const auto& list : top) TopLogprobsToProto(list, resp->add_token_top_logprobs());
    resp->set_append_time_ms(MsSince(start));
    if (metrics_ != nullptr && kv_bytes_) metrics_->SetKvCacheBytes(kv_bytes_());
    return absl::OkStatus();
  }
  decoding::NextTokenInfo next;
  const bool want_next = req.top_k() > 0;
  if (auto s = session.verifier->Append(std::span<const int32_t>(req.tokens().data(), req.tokens_size()),
                                        static_cast<int>(req.top_k()), want_next ? &next : nullptr);
      !s.ok()) {
    return s;
  }
  resp->set_committed_length(static_cast<uint64_t>(session.verifier->committed_length()));
  if (want_next) {
    tandem::v1::NextTokenInfo* info = resp->mutable_next();
    info->set_entropy(next.entropy);
    info->mutable_top_tokens()->Add(next.top_tokens.begin(), next.top_tokens.end());
    info->mutable_top_logits()->Add(next.top_logits.begin(), next.top_logits.end());
  }
  resp->set_append_time_ms(MsSince(start));
  if (metrics_ != nullptr && kv_bytes_) metrics_->SetKvCacheBytes(kv_bytes_());
  return absl::OkStatus();
}

absl::Status TargetService::DoTruncate(const tandem::v1::TruncateRequest& req,
                                       tandem::v1::TruncateResponse* resp) {
  if (auto s = ValidateId(req.session_id(), "session_id", /*allow_empty=*/false); !s.ok()) return s;
  auto lease = sessions_->AcquireExclusive(req.session_id());
  if (!lease.ok()) return lease.status();
  Session& session = **lease;
  const int64_t committed = session.verifier->committed_length();
  if (req.length() < 1 || req.length() > static_cast<uint64_t>(committed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("length: ", req.length(), " outside [1, ", committed, "] (the session's length)"));
  }
  if (auto s = session.verifier->Truncate(static_cast<int64_t>(req.length())); !s.ok()) return s;
  resp->set_committed_length(static_cast<uint64_t>(session.verifier->committed_length()));
  UpdateGauges();
  return absl::OkStatus();
}

absl::Status TargetService::DoFork(const tandem::v1::ForkRequest& req, tandem::v1::ForkResponse* resp) {
  if (auto s = ValidateId(req.session_id(), "session_id", /*allow_empty=*/false); !s.ok()) return s;
  if (auto s = ValidateId(req.new_session_id(), "new_session_id", /*allow_empty=*/true); !s.ok()) return s;
  auto lease = sessions_->AcquireExclusive(req.session_id());
  if (!lease.ok()) return lease.status();
  Session& parent = **lease;
  auto forked = parent.verifier->Fork(req.seed());
  if (!forked.ok()) return forked.status();
  auto session = std::make_shared<Session>();
  session->greedy = parent.greedy;
  session->logprobs = parent.logprobs;
  session->verifier = std::move(*forked);
  const int64_t committed = session->verifier->committed_length();
  const std::string id = req.new_session_id().empty() ? sessions_->NewId("t-") : req.new_session_id();
  if (auto s = sessions_->Insert(id, std::move(session)); !s.ok()) {
    UpdateGauges();
    return s;
  }
  resp->set_session_id(id);
  resp->set_committed_length(static_cast<uint64_t>(committed));
  resp->set_idle_timeout_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(sessions_->idle_timeout())));
  UpdateGauges();
  return absl::OkStatus();
}

grpc::Status TargetService::Append(grpc::ServerContext*, const tandem::v1::AppendRequest* req,
                                   tandem::v1::AppendResponse* resp) {
  return ToGrpcStatus(DoAppend(*req, resp));
}

grpc::Status TargetService::Truncate(grpc::ServerContext*, const tandem::v1::TruncateRequest* req,
                                     tandem::v1::TruncateResponse* resp) {
  return ToGrpcStatus(DoTruncate(*req, resp));
}

grpc::Status TargetService::Fork(grpc::ServerContext* ctx, const tandem::v1::ForkRequest* req,
                                 tandem::v1::ForkResponse* resp) {
  grpc::Status s = DropIfAbandoned(ctx, *sessions_, resp->session_id(), ToGrpcStatus(DoFork(*req, resp)));
  UpdateGauges();
  return s;
}

grpc::Status TargetService::OpenSession(grpc::ServerContext* ctx, const tandem::v1::TargetOpenSessionRequest* req,
                                        tandem::v1::TargetOpenSessionResponse* resp) {
  grpc::Status s = DropIfAbandoned(ctx, *sessions_, resp->session_id(), ToGrpcStatus(DoOpen(*req, resp)));
  UpdateGauges();
  return s;
}

grpc::Status TargetService::Verify(grpc::ServerContext*, const tandem::v1::VerifyRequest* req,
                                   tandem::v1::VerifyResponse* resp) {
  return ToGrpcStatus(DoVerify(*req, resp));
}

grpc::Status TargetService::Step(grpc::ServerContext*, const tandem::v1::StepRequest* req,
                                 tandem::v1::StepResponse* resp) {
  return ToGrpcStatus(DoStep(*req, resp));
}

grpc::Status TargetService::CloseSession(grpc::ServerContext*, const tandem::v1::CloseSessionRequest* req,
                                         tandem::v1::CloseSessionResponse* resp) {
  if (auto s = ValidateId(req->session_id(), "session_id", /*allow_empty=*/false); !s.ok()) {
    return ToGrpcStatus(s);
  }
  std::shared_ptr<Session> session = sessions_->Remove(req->session_id());
  resp->set_found(session != nullptr);
  session.reset();  // frees KV now unless a call still holds a lease
  UpdateGauges();
  return grpc::Status::OK;
}

grpc::Status TargetService::GetModelInfo(grpc::ServerContext*, const tandem::v1::GetModelInfoRequest*,
                                         tandem::v1::ModelInfo* resp) {
  *resp = options_.info;
  resp->set_role("target");
  return grpc::Status::OK;
}

}  // namespace tandem::services
