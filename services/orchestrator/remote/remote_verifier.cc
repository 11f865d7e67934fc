#include "services/orchestrator/remote/remote_verifier.h"

#include <cmath>
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/util/absl_compat.h"
#include "services/common/runtime_convert.h"
#include "services/orchestrator/remote/remote_call.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {
namespace {

constexpr RemoteService kTarget("target service");

class RemoteVerifySession : public VerifySession {
 public:
  RemoteVerifySession(std::shared_ptr<tandem::v1::Target::StubInterface> stub, const RemoteOptions& options,
                      std::string id, int64_t committed, bool greedy, int32_t vocab, bool return_logprobs,
                      int top_logprobs, int active_sessions = 0)
      : stub_(std::move(stub)), options_(options), id_(std::move(id)), committed_(committed), greedy_(greedy),
        vocab_(vocab), return_logprobs_(return_logprobs), top_logprobs_(top_logprobs),
        active_sessions_(active_sessions) {}
  ~RemoteVerifySession() override { (void)Close(); }

  absl::Status Verify(std::span<const int32_t> draft, std::span<const runtime::Distribution> q,
                      VerifyResult* out) override {
    if (closed_) return absl::FailedPreconditionError("verify session is closed");
    req_.Clear();
    req_.set_session_id(id_);
    req_.mutable_draft_tokens()->Add(draft.begin(), draft.end());
    req_.set_greedy(greedy_);
    req_.set_return_logprobs(return_logprobs_);
    if (!greedy_) {
      if (q.size() != draft.size()) {
        return absl::InvalidArgumentError(absl::StrCat("verifier: ", draft.size(),
                                                       " drafted tokens need as many q rows, got ", q.size()));
      }
      for (const runtime::Distribution& d : q) services::DistributionToProto(d, req_.add_draft_distributions());
    } else if (!q.empty() && q.size() == draft.size()) {
      // Greedy RAPID: the drafter's temperature-1 rows for the transfer.
      for (const runtime::Distribution& d : q) services::DistributionToProto(d, req_.add_draft_distributions());
    }
    tandem::v1::VerifyResponse resp;
    absl::Status rpc = kTarget.Call("Verify", options_.scope.get(), options_.call_timeout,
                                    [&](grpc::ClientContext* ctx) { return stub_->Verify(ctx, req_, &resp); });
    if (!rpc.ok()) return rpc;
    if (resp.accepted_count() > draft.size()) {
      return absl::InternalError(absl::StrCat("target service Verify: accepted ", resp.accepted_count(),
                                              " of ", draft.size(), " drafted tokens"));
    }
    // A token outside the vocabulary would reach the output (and the
    // detokenizer): a target that answers one is broken.
    if (resp.next_token() < 0 || resp.next_token() >= vocab_) {
      return absl::InternalError(absl::StrCat("target service Verify: next_token ", resp.next_token(),
                                              " outside the vocabulary of ", vocab_));
    }
    out->accepted = static_cast<int>(resp.accepted_count());
    out->next_token = resp.next_token();
    out->committed_length = static_cast<int64_t>(resp.committed_length());
    out->batch_size = static_cast<int>(std::min<uint32_t>(resp.batch_size(), 1u << 20));
    active_sessions_ = static_cast<int>(std::min<uint32_t>(resp.active_sessions(), 1u << 20));
    out->logprobs.clear();
    out->top_logprobs.clear();
    if (return_logprobs_) {
      // One per emitted token, each a log-probability: anything else is a
      // target that would put garbage into a client's logprobs.
      const int emitted = out->accepted + 1;
      if (resp.logprobs_size() != emitted) {
        return absl::InternalError(absl::StrCat("target service Verify: ", resp.logprobs_size(), " logprobs for ",
                                                emitted, " emitted tokens"));
      }
      for (float lp : resp.logprobs()) {
        if (!(lp <= 0.0f)) {
          return absl::InternalError(absl::StrCat("target service Verify: logprob ", lp, " is not a log-probability"));
        }
      }
      out->logprobs.assign(resp.logprobs().begin(), resp.logprobs().end());
      if (auto s = ReadTopLogprobs(resp.top_logprobs(), emitted, "Verify", out); !s.ok()) return s;
    }
    committed_ = out->committed_length;
    return absl::OkStatus();
  }

  int64_t committed_length() const override { return committed_; }
  int active_sessions() const override { return active_sessions_; }

  absl::Status Append(std::span<const int32_t> tokens, int top_k, NextTokenInfo* next) override {
    if (closed_) return absl::FailedPreconditionError("verify session is closed");
    if (next != nullptr && top_k < 1) {
      return absl::InvalidArgumentError(absl::StrCat("verifier: top_k must be >= 1, got ", top_k));
    }
    tandem::v1::AppendRequest req;
    req.set_session_id(id_);
    req.mutable_tokens()->Add(tokens.begin(), tokens.end());
    if (next != nullptr) req.set_top_k(static_cast<uint32_t>(top_k));
    tandem::v1::AppendResponse resp;
    absl::Status rpc = kTarget.Call("Append", options_.scope.get(), options_.call_timeout,
                                    [&](grpc::ClientContext* ctx) { return stub_->Append(ctx, req, &resp); });
    if (!rpc.ok()) return rpc;
    if (next != nullptr) {
      const tandem::v1::NextTokenInfo& info = resp.next();
      if (info.top_tokens_size() != info.top_logits_size() || info.top_tokens_size() > top_k) {
        return absl::InternalError(absl::StrCat("target service Append: ", info.top_tokens_size(), " top tokens, ",
                                                info.top_logits_size(), " logits for top_k ", top_k));
      }
      next->entropy = info.entropy();
      next->top_tokens.assign(info.top_tokens().begin(), info.top_tokens().end());
      next->top_logits.assign(info.top_logits().begin(), info.top_logits().end());
    }
    committed_ = static_cast<int64_t>(resp.committed_length());
    return absl::OkStatus();
  }

  absl::Status AppendScoredWithAlternatives(std::span<const int32_t> tokens, int top_n, std::vector<float>* log_probs,
                                            std::vector<std::vector<runtime::TokenLogprob>>* top) override {
    if (closed_) return absl::FailedPreconditionError("verify session is closed");
    if (log_probs == nullptr) return absl::InvalidArgumentError("verifier: AppendScored needs an output");
    if (auto s = decoding::CheckAlternativesRequest(top_n, top != nullptr); !s.ok()) return s;
    tandem::v1::AppendRequest req;
    req.set_session_id(id_);
    req.mutable_tokens()->Add(tokens.begin(), tokens.end());
    req.set_return_log_probs(true);
    req.set_top_logprobs(static_cast<uint32_t>(top_n));
    tandem::v1::AppendResponse resp;
    absl::Status rpc = kTarget.Call("Append", options_.scope.get(), options_.call_timeout,
                                    [&](grpc::ClientContext* ctx) { return stub_->Append(ctx, req, &resp); });
    if (!rpc.ok()) return rpc;
    if (resp.token_log_probs_size() != static_cast<int>(tokens.size())) {
      return absl::InternalError(absl::StrCat("target service Append: ", resp.token_log_probs_size(),
                                              " log-probabilities for ", tokens.size(), " tokens"));
    }
    for (float lp : resp.token_log_probs()) {
      if (!(lp <= 0) || std::isinf(lp)) {  // NaN, positive or -inf: not a log-probability of a finite model
        return absl::InternalError(absl::StrCat("target service Append: log-probability ", lp));
      }
    }
    std::vector<std::vector<runtime::TokenLogprob>> alternatives;
    if (auto s = ReadAlternatives(resp.token_top_logprobs(), top_n > 0 ? static_cast<int>(tokens.size()) : 0, top_n,
                                  "Append", &alternatives);
        !s.ok()) {
      return s;
    }
    if (top != nullptr) *top = std::move(alternatives);
    log_probs->assign(resp.token_log_probs().begin(), resp.token_log_probs().end());
    committed_ = static_cast<int64_t>(resp.committed_length());
    return absl::OkStatus();
  }

  absl::Status Truncate(int64_t length) override {
    if (closed_) return absl::FailedPreconditionError("verify session is closed");
    if (length < 1 || length > committed_) {
      return absl::InvalidArgumentError(absl::StrCat("verifier: truncate length ", length,
                                                     " outside [1, ", committed_, "]"));
    }
    tandem::v1::TruncateRequest req;
    req.set_session_id(id_);
    req.set_length(static_cast<uint64_t>(length));
    tandem::v1::TruncateResponse resp;
    absl::Status rpc = kTarget.Call("Truncate", options_.scope.get(), options_.call_timeout,
                                    [&](grpc::ClientContext* ctx) { return stub_->Truncate(ctx, req, &resp); });
    if (!rpc.ok()) return rpc;
    committed_ = static_cast<int64_t>(resp.committed_length());
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<VerifySession>> Fork(uint64_t seed) override {
    if (closed_) return absl::FailedPreconditionError("verify session is closed");
    tandem::v1::ForkRequest req;
    req.set_session_id(id_);
    req.set_seed(seed);
    tandem::v1::ForkResponse resp;
    ScopedCall call(options_.scope.get(), options_.open_timeout);
    if (!call.live()) return kTarget.Cancelled();
    grpc::Status status = stub_->Fork(call.context(), req, &resp);
    if (!status.ok()) return kTarget.Error("Fork", status);
    auto fork = std::make_unique<RemoteVerifySession>(stub_, options_, resp.session_id(),
                                                      static_cast<int64_t>(resp.committed_length()), greedy_, vocab_,
                                                      return_logprobs_, top_logprobs_);
    if (!call.live()) return kTarget.Cancelled();  // `fork` closes the new session on the way out
    return fork;
  }

  absl::Status Close() override {
    if (closed_) return absl::OkStatus();
    closed_ = true;
    ScopedCall call(nullptr, options_.close_timeout);  // not scoped: must run after a cancel
    tandem::v1::CloseSessionRequest req;
    req.set_session_id(id_);
    tandem::v1::CloseSessionResponse resp;
    grpc::Status status = stub_->CloseSession(call.context(), req, &resp);
    return status.ok() ? absl::OkStatus() : kTarget.Error("CloseSession", status);
  }

 private:
  // The session's top_logprobs lists, one per emitted token when it asked
  // for them, none otherwise.
  absl::Status ReadTopLogprobs(const google::protobuf::RepeatedPtrField<tandem::v1::TopLogprobs>& top, int emitted,
                               std::string_view rpc, VerifyResult* out) const {
    return ReadAlternatives(top, top_logprobs_ > 0 ? emitted : 0, top_logprobs_, rpc, &out->top_logprobs);
  }

  // Exactly `want` lists of min(top_n, vocab) alternatives each, validated
  // like the logprobs (ids in the vocabulary, log-probabilities <= 0).
  absl::Status ReadAlternatives(const google::protobuf::RepeatedPtrField<tandem::v1::TopLogprobs>& top, int want,
                                int top_n, std::string_view rpc,
                                std::vector<std::vector<runtime::TokenLogprob>>* out) const {
    if (top.size() != want) {
      return absl::InternalError(absl::StrCat("target service ", AbslView(rpc), ": ", top.size(),
                                              " top_logprobs lists for ", want));
    }
    const size_t per_token = static_cast<size_t>(std::min(top_n, static_cast<int>(vocab_)));
    out->resize(static_cast<size_t>(want));
    for (int i = 0; i < want; ++i) {
      std::vector<runtime::TokenLogprob>& list = (*out)[static_cast<size_t>(i)];
      if (auto s = services::TopLogprobsFromProto(top[i], vocab_, &list, "top_logprobs"); !s.ok()) {
        return absl::InternalError(
            absl::StrCat("target service ", AbslView(rpc), ": top_logprobs[", i, "]: ", s.message()));
      }
      if (list.size() != per_token) {
        return absl::InternalError(absl::StrCat("target service ", AbslView(rpc), ": top_logprobs[", i, "] has ",
                                                list.size(), " entries, not ", per_token));
      }
    }
    return absl::OkStatus();
  }

  std::shared_ptr<tandem::v1::Target::StubInterface> stub_;
  const RemoteOptions options_;
  const std::string id_;
  int64_t committed_;
  const bool greedy_;
  const int32_t vocab_;
  const bool return_logprobs_;
  const int top_logprobs_;
  int active_sessions_;  // as the target's last answer reported them
  bool closed_ = false;
  tandem::v1::VerifyRequest req_;  // reused: q rows keep their capacity
};

}  // namespace

RemoteVerifier::RemoteVerifier(std::shared_ptr<tandem::v1::Target::StubInterface> stub, tandem::v1::ModelInfo info,
                               RemoteOptions options)
    : stub_(std::move(stub)), info_(std::move(info)), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<RemoteVerifier>> RemoteVerifier::Connect(const std::string& address,
                                                                       RemoteOptions options) {
  std::shared_ptr<tandem::v1::Target::StubInterface> stub = tandem::v1::Target::NewStub(MakeServiceChannel(address, options.credentials));
  ScopedCall call(nullptr, options.open_timeout);
  call.context()->set_wait_for_ready(true);
  tandem::v1::ModelInfo info;
  grpc::Status status = stub->GetModelInfo(call.context(), tandem::v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return kTarget.Error("GetModelInfo", status);
  return std::make_unique<RemoteVerifier>(std::move(stub), std::move(info), std::move(options));
}

std::unique_ptr<RemoteVerifier> RemoteVerifier::WithScope(std::shared_ptr<CallScope> scope) const {
  RemoteOptions options = options_;
  options.scope = std::move(scope);
  return std::make_unique<RemoteVerifier>(stub_, info_, std::move(options));
}

absl::StatusOr<std::unique_ptr<VerifySession>> RemoteVerifier::Open(std::span<const int32_t> prompt,
                                                                   const runtime::SamplingParams& params,
                                                                   const VerifyOptions& options) {
  tandem::v1::TargetOpenSessionRequest req;
  req.mutable_prompt_tokens()->Add(prompt.begin(), prompt.end());
  services::SamplingToProto(params, req.mutable_sampling());
  req.set_model(options_.model);
  if (options.knowledge_transfer.enabled()) {
    req.mutable_knowledge_transfer()->set_eta(options.knowledge_transfer.eta);
    req.mutable_knowledge_transfer()->set_alpha_m(options.knowledge_transfer.alpha_m);
  }
  req.set_return_logprobs(options.return_logprobs);
  req.set_top_logprobs(static_cast<uint32_t>(std::max(options.top_logprobs, 0)));
  tandem::v1::TargetOpenSessionResponse resp;
  {
    ScopedCall call(options_.scope.get(), options_.open_timeout);
    if (!call.live()) return kTarget.Cancelled();
    grpc::Status status = stub_->OpenSession(call.context(), req, &resp);
    if (!status.ok()) return kTarget.Error("OpenSession", status);
    if (!call.live()) {
      RemoteVerifySession(stub_, options_, resp.session_id(), 0, params.greedy(), info_.vocab_size(), false,
                          0);  // closes it
      return kTarget.Cancelled();
    }
  }
  return std::make_unique<RemoteVerifySession>(
      stub_, options_, resp.session_id(), static_cast<int64_t>(prompt.size()), params.greedy(), info_.vocab_size(),
      options.return_logprobs, options.top_logprobs,
      static_cast<int>(std::min<uint32_t>(resp.active_sessions(), 1u << 20)));
}

}  // namespace tandem::orchestrator
