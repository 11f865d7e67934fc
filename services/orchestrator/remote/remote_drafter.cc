#include "services/orchestrator/remote/remote_drafter.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/common/runtime_convert.h"
#include "services/orchestrator/remote/remote_call.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {
namespace {

constexpr RemoteService kDraft("draft service", /*silence_is_loss=*/true);

class RemoteDraftSession : public DraftSession {
 public:
  RemoteDraftSession(std::shared_ptr<tandem::v1::Draft::StubInterface> stub, const RemoteOptions& options,
                     int32_t vocab, std::string id, int64_t committed, bool return_q)
      : stub_(std::move(stub)), options_(options), vocab_(vocab), id_(std::move(id)),
        committed_(committed), return_q_(return_q) {}
  ~RemoteDraftSession() override { (void)Close(); }

  absl::Status Propose(const DraftDelta& delta, int gamma, DraftProposal* out) override {
    if (closed_) return absl::FailedPreconditionError("draft session is closed");
    tandem::v1::ProposeRequest req;
    req.set_session_id(id_);
    req.set_accepted_count(static_cast<uint32_t>(std::max(0, delta.accepted)));
    if (delta.next_token.has_value()) req.set_next_token(*delta.next_token);
    req.mutable_append_tokens()->Add(delta.append.begin(), delta.append.end());
    if (delta.truncate_to.has_value()) req.set_truncate_to(static_cast<uint64_t>(std::max<int64_t>(0, *delta.truncate_to)));
    req.set_gamma(static_cast<uint32_t>(std::max(0, gamma)));
    // Kept across calls: parsing into a cleared message reuses its rows'
    // storage (a dense q row is a vocabulary of floats).
    tandem::v1::ProposeResponse& resp = resp_;
    resp.Clear();
    absl::Status rpc = kDraft.Call("Propose", options_.scope.get(), options_.call_timeout,
                                   [&](grpc::ClientContext* ctx) { return stub_->Propose(ctx, req, &resp); });
    // NOT_FOUND for a session this request opened: the draft service lost it
    // (restarted, or expired it while the request ran target rounds). Like a
    // service that is gone, that is the peer's loss (UNAVAILABLE), which the
    // request survives by finishing target-only (spec/peer_loss.h).
    if (rpc.code() == absl::StatusCode::kNotFound) {
      return absl::UnavailableError(absl::StrCat("draft service lost session '", id_, "': ", rpc.message()));
    }
    if (!rpc.ok()) return rpc;
    // A broken draft service must not make the request look like the
    // client's fault (the target would reject the ids as INVALID_ARGUMENT).
    if (resp.token_ids_size() > std::max(0, gamma)) {
      return absl::InternalError(absl::StrCat("draft service Propose: ", resp.token_ids_size(),
                                              " tokens for gamma ", gamma));
    }
    for (int32_t t : resp.token_ids()) {
      if (t < 0 || t >= vocab_) {
        return absl::InternalError(absl::StrCat("draft service Propose: token ", t, " outside the vocabulary of ",
                                                vocab_));
      }
    }
    out->tokens.assign(resp.token_ids().begin(), resp.token_ids().end());
    if (!return_q_) out->q.clear();
    if (return_q_) {
      if (resp.distributions_size() != resp.token_ids_size()) {
        return absl::InternalError(absl::StrCat("draft service Propose: ", resp.distributions_size(),
                                                " distributions for ", resp.token_ids_size(), " tokens"));
      }
      out->q.resize(out->tokens.size());  // keeps the rows it had: decoded into in place
      for (int i = 0; i < resp.distributions_size(); ++i) {
        char field_buf[40];  // read only by an error: no allocation per row
        const std::string_view field(
            field_buf, static_cast<size_t>(absl::SNPrintF(field_buf, sizeof field_buf, "distributions[%d]", i)));
        absl::Status s = services::DistributionFromProto(resp.distributions(i), vocab_, &out->q[i], field);
        if (!s.ok()) return absl::InternalError(absl::StrCat("draft service Propose: ", s.message()));
      }
    }
    committed_ = static_cast<int64_t>(resp.committed_length());
    return absl::OkStatus();
  }

  int64_t committed_length() const override { return committed_; }

  absl::Status Close() override {
    if (closed_) return absl::OkStatus();
    closed_ = true;
    // Not scoped: a cancelled request must still free its session.
    ScopedCall call(nullptr, options_.close_timeout);
    tandem::v1::CloseSessionRequest req;
    req.set_session_id(id_);
    tandem::v1::CloseSessionResponse resp;
    grpc::Status status = stub_->CloseSession(call.context(), req, &resp);
    return status.ok() ? absl::OkStatus() : kDraft.Error("CloseSession", status);
  }

 private:
  std::shared_ptr<tandem::v1::Draft::StubInterface> stub_;
  const RemoteOptions options_;
  const int32_t vocab_;
  const std::string id_;
  int64_t committed_;
  const bool return_q_;
  bool closed_ = false;
  tandem::v1::ProposeResponse resp_;
};

}  // namespace

RemoteDrafter::RemoteDrafter(std::shared_ptr<tandem::v1::Draft::StubInterface> stub, tandem::v1::ModelInfo info,
                             RemoteOptions options)
    : stub_(std::move(stub)), info_(std::move(info)), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<RemoteDrafter>> RemoteDrafter::Connect(const std::string& address,
                                                                     RemoteOptions options) {
  std::shared_ptr<tandem::v1::Draft::StubInterface> stub = tandem::v1::Draft::NewStub(MakeServiceChannel(address, options.credentials));
  ScopedCall call(nullptr, options.open_timeout);
  call.context()->set_wait_for_ready(true);  // the service may still be starting
  tandem::v1::ModelInfo info;
  grpc::Status status = stub->GetModelInfo(call.context(), tandem::v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return kDraft.Error("GetModelInfo", status);
  return std::make_unique<RemoteDrafter>(std::move(stub), std::move(info), std::move(options));
}

std::unique_ptr<RemoteDrafter> RemoteDrafter::WithScope(std::shared_ptr<CallScope> scope) const {
  RemoteOptions options = options_;
  options.scope = std::move(scope);
  return std::make_unique<RemoteDrafter>(stub_, info_, std::move(options));
}

absl::StatusOr<std::unique_ptr<DraftSession>> RemoteDrafter::Open(std::span<const int32_t> prompt,
                                                                 const runtime::SamplingParams& params,
                                                                 const DraftOptions& options) {
  tandem::v1::DraftOpenSessionRequest req;
  req.mutable_prompt_tokens()->Add(prompt.begin(), prompt.end());
  services::SamplingToProto(params, req.mutable_sampling());
  req.set_model(options_.model);
  req.set_return_distributions(options.return_distributions);
  req.set_stop_below_probability(options.stop_below_probability);
  req.set_staged_ngram(static_cast<uint32_t>(std::max(0, options.staged_ngram)));
  req.set_q_tail_mass(options.q_tail_mass);
  tandem::v1::DraftOpenSessionResponse resp;
  {
    ScopedCall call(options_.scope.get(), options_.open_timeout);
    if (!call.live()) return kDraft.Cancelled();
    grpc::Status status = stub_->OpenSession(call.context(), req, &resp);
    if (!status.ok()) return kDraft.Error("OpenSession", status);
    if (!call.live()) {
      // Opened, but the request is gone: free the session right away.
      RemoteDraftSession(stub_, options_, info_.vocab_size(), resp.session_id(), 0, false);
      return kDraft.Cancelled();
    }
  }
  return std::make_unique<RemoteDraftSession>(stub_, options_, info_.vocab_size(), resp.session_id(),
                                              static_cast<int64_t>(prompt.size()),
                                              options.return_distributions);
}

}  // namespace tandem::orchestrator
