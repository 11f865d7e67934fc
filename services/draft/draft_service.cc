#include "services/draft/draft_service.h"

#include "services/common/abandoned_open.h"
#include "services/common/open_session.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/status_convert.h"
#include "services/common/validation.h"
#include "services/common/runtime_convert.h"

namespace tandem::services {
namespace {

constexpr int64_t kMaxGamma = 64;

double MsSince(absl::Time start) { return absl::ToDoubleMilliseconds(absl::Now() - start); }

}  // namespace

struct DraftService::Session {
  std::unique_ptr<decoding::DraftSession> drafter;
  size_t last_proposal = 0;  // bounds the next accepted_count
  std::atomic<bool> busy{false};
  // The last Propose's output, kept (the session is leased to one call at a
  // time) so that the drafter writes each q row into the buffer of the last
  // round's (DraftProposal), not a fresh 600 KB allocation per drafted token.
  decoding::DraftProposal proposal;

  ~Session() {
    if (drafter) (void)drafter->Close();
  }
};

DraftService::DraftService(decoding::Drafter& drafter, DraftServiceOptions options,
                           ServiceMetrics* metrics, std::function<int64_t()> kv_bytes)
    : drafter_(drafter), options_(std::move(options)), metrics_(metrics), kv_bytes_(std::move(kv_bytes)) {
  sessions_ = std::make_unique<SessionRegistry<Session>>(
      options_.sessions, [this](const std::string&, std::shared_ptr<Session> session) {
        session.reset();  // frees the KV cache
        UpdateGauges();
      });
}

DraftService::~DraftService() { sessions_.reset(); }

void DraftService::UpdateGauges() {
  if (metrics_ == nullptr) return;
  metrics_->SetActiveSessions(static_cast<int64_t>(sessions_->size()));
  if (kv_bytes_) metrics_->SetKvCacheBytes(kv_bytes_());
}

absl::Status DraftService::DoOpen(const tandem::v1::DraftOpenSessionRequest& req,
                                  tandem::v1::DraftOpenSessionResponse* resp) {
  const absl::Time start = absl::Now();
  auto validated = ValidateOpenSession(options_.info, "draft", req.session_id(), req.prompt_tokens(),
                                       req.sampling(), req.model());
  if (!validated.ok()) return validated.status();
  const runtime::SamplingParams& sampling = *validated;
  decoding::DraftOptions draft_options;
  draft_options.return_distributions = req.return_distributions();
  draft_options.stop_below_probability = req.stop_below_probability();
  // Saturated so that an absurd uint32 stays out of range instead of
  // wrapping to a valid int.
  draft_options.staged_ngram =
      static_cast<int>(std::min<uint32_t>(req.staged_ngram(), std::numeric_limits<int>::max()));
  draft_options.q_tail_mass = req.q_tail_mass();
  if (absl::Status s = decoding::ValidateDraftOptions(draft_options); !s.ok()) return s;
  auto opened = drafter_.Open(std::span<const int32_t>(req.prompt_tokens().data(), req.prompt_tokens_size()),
                              sampling, draft_options);
  if (!opened.ok()) return opened.status();
  auto session = std::make_shared<Session>();
  session->drafter = std::move(*opened);

  const std::string id = req.session_id().empty() ? sessions_->NewId("d-") : req.session_id();
  if (auto s = sessions_->Insert(id, std::move(session)); !s.ok()) {
    UpdateGauges();
    return s;
  }
  resp->set_session_id(id);
  resp->set_prompt_tokens(static_cast<uint64_t>(req.prompt_tokens_size()));
  resp->set_idle_timeout_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(sessions_->idle_timeout())));
  resp->set_prefill_time_ms(MsSince(start));
  UpdateGauges();
  return absl::OkStatus();
}

absl::Status DraftService::DoPropose(const tandem::v1::ProposeRequest& req, tandem::v1::ProposeResponse* resp) {
  const absl::Time start = absl::Now();
  const int32_t vocab = options_.info.vocab_size();
  if (auto s = ValidateId(req.session_id(), "session_id", /*allow_empty=*/false); !s.ok()) return s;
  if (auto s = ValidateRange(int64_t{req.gamma()}, 0, kMaxGamma, "gamma"); !s.ok()) return s;
  if (req.has_next_token()) {
    if (auto s = ValidateRange(int64_t{req.next_token()}, 0, vocab - 1, "next_token"); !s.ok()) return s;
  }
  if (auto s = ValidateTokenIds(req.append_tokens(), vocab, "append_tokens", 0,
                                static_cast<size_t>(options_.info.context_length()));
      !s.ok()) {
    return s;
  }
  auto lease = sessions_->AcquireExclusive(req.session_id());
  if (!lease.ok()) return lease.status();
  Session& session = **lease;
  if (req.accepted_count() > session.last_proposal) {
    return absl::InvalidArgumentError(absl::StrCat("accepted_count: ", req.accepted_count(),
                                                   " exceeds the previous proposal's ", session.last_proposal,
                                                   " tokens"));
  }
  decoding::DraftDelta delta;
  delta.accepted = static_cast<int>(req.accepted_count());
  if (req.has_next_token()) delta.next_token = req.next_token();
  delta.append.assign(req.append_tokens().begin(), req.append_tokens().end());
  if (req.has_truncate_to()) {
    // Bounded here so the int64 conversion cannot wrap; the drafter checks
    // it against |S|.
    if (auto s = ValidateRange(static_cast<int64_t>(std::min<uint64_t>(req.truncate_to(), INT64_MAX)), 1,
                               options_.info.context_length(), "truncate_to");
        !s.ok()) {
      return s;
    }
    delta.truncate_to = static_cast<int64_t>(req.truncate_to());
  }
  decoding::DraftProposal& proposal = session.proposal;
  if (auto s = session.drafter->Propose(delta, static_cast<int>(req.gamma()), &proposal); !s.ok()) return s;
  session.last_proposal = proposal.tokens.size();

  resp->mutable_token_ids()->Add(proposal.tokens.begin(), proposal.tokens.end());
  for (const runtime::Distribution& q : proposal.q) DistributionToProto(q, resp->add_distributions());
  resp->set_committed_length(static_cast<uint64_t>(session.drafter->committed_length()));
  const double ms = MsSince(start);
  resp->set_draft_time_ms(ms);
  if (metrics_ != nullptr) {
    metrics_->ObserveDraftRpcLatency(drafter_.name(), ms / 1000.0);
    if (kv_bytes_) metrics_->SetKvCacheBytes(kv_bytes_());
  }
  return absl::OkStatus();
}

grpc::Status DraftService::OpenSession(grpc::ServerContext* ctx, const tandem::v1::DraftOpenSessionRequest* req,
                                       tandem::v1::DraftOpenSessionResponse* resp) {
  grpc::Status s = DropIfAbandoned(ctx, *sessions_, resp->session_id(), ToGrpcStatus(DoOpen(*req, resp)));
  UpdateGauges();
  return s;
}

grpc::Status DraftService::Propose(grpc::ServerContext*, const tandem::v1::ProposeRequest* req,
                                   tandem::v1::ProposeResponse* resp) {
  return ToGrpcStatus(DoPropose(*req, resp));
}

grpc::Status DraftService::CloseSession(grpc::ServerContext*, const tandem::v1::CloseSessionRequest* req,
                                        tandem::v1::CloseSessionResponse* resp) {
  if (auto s = ValidateId(req->session_id(), "session_id", /*allow_empty=*/false); !s.ok()) {
    return ToGrpcStatus(s);
  }
  std::shared_ptr<Session> session = sessions_->Remove(req->session_id());
  resp->set_found(session != nullptr);
  session.reset();
  UpdateGauges();
  return grpc::Status::OK;
}

grpc::Status DraftService::GetModelInfo(grpc::ServerContext*, const tandem::v1::GetModelInfoRequest*,
                                        tandem::v1::ModelInfo* resp) {
  *resp = options_.info;
  resp->set_role("draft");
  return grpc::Status::OK;
}

}  // namespace tandem::services
