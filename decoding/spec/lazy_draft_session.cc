#include "decoding/spec/lazy_draft_session.h"

namespace tandem::decoding::spec {

LazyDraftSession::LazyDraftSession(Drafter& drafter, std::span<const int32_t> prompt,
                                   const runtime::SamplingParams& params, const DraftOptions& options)
    : drafter_(drafter), pending_(prompt.begin(), prompt.end()), params_(params), options_(options) {}

LazyDraftSession::~LazyDraftSession() {
  if (!closed_) (void)Close();  // best effort, like every session's destructor
}

absl::Status LazyDraftSession::Propose(const DraftDelta& delta, int gamma, DraftProposal* out) {
  if (session_ != nullptr) return session_->Propose(delta, gamma, out);
  if (closed_) return absl::FailedPreconditionError("draft session is closed");
  out->tokens.clear();
  out->q.clear();
  if (delta.accepted != 0 || delta.truncate_to.has_value()) {
    return absl::InvalidArgumentError("a draft session that has proposed nothing cannot accept or truncate");
  }
  const size_t before = pending_.size();
  if (delta.next_token.has_value()) pending_.push_back(*delta.next_token);
  pending_.insert(pending_.end(), delta.append.begin(), delta.append.end());
  if (gamma <= 0) return absl::OkStatus();
  auto opened = drafter_.Open(pending_, params_, options_);
  if (!opened.ok()) {
    pending_.resize(before);  // a failed call applies nothing: the caller may resend the delta
    return opened.status();
  }
  session_ = std::move(*opened);
  return session_->Propose({}, gamma, out);
}

int64_t LazyDraftSession::committed_length() const {
  return session_ != nullptr ? session_->committed_length() : static_cast<int64_t>(pending_.size());
}

absl::Status LazyDraftSession::Close() {
  closed_ = true;
  if (session_ == nullptr) return absl::OkStatus();
  absl::Status status = session_->Close();
  session_.reset();
  return status;
}

}  // namespace tandem::decoding::spec
