#include "runtime/parallel/tp_engine.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace tandem::runtime::parallel {
namespace {

// Which rows of a forward step of n tokens are gathered: [first, first + rows).
void GatherRange(TpGather gather, int64_t n, int64_t* first, int64_t* rows) {
  *first = gather == TpGather::kLastRow ? n - 1 : 0;
  *rows = gather == TpGather::kNone ? 0 : gather == TpGather::kLastRow ? 1 : n;
}

std::string Describe(const TpCommand& c) {
  return absl::StrCat("command op ", static_cast<uint32_t>(c.op), " session ", c.session, " count ", c.count);
}

}  // namespace

absl::Status GatherLogitsRows(const TensorParallelModel& model, HostChannel& channel, const std::vector<float>& local,
                              int64_t first_row, int64_t rows, std::vector<float>* full) {
  const VocabPartition& mine = model.vocab();
  const int world = channel.comm().world_size();
  if (static_cast<int64_t>(local.size()) < (first_row + rows) * mine.real) {
    return absl::InternalError("logits gather: fewer local rows than requested");
  }
  // Every rank sends the same number of bytes: its slice padded to per_rank.
  std::vector<float> send(static_cast<size_t>(rows * mine.per_rank), 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    std::copy_n(local.begin() + (first_row + i) * mine.real, mine.real, send.begin() + i * mine.per_rank);
  }
  std::vector<float> recv(send.size() * static_cast<size_t>(world));
  if (absl::Status s = channel.AllGather(send.data(), recv.data(), send.size() * sizeof(float)); !s.ok()) return s;
  if (full == nullptr) return absl::OkStatus();
  full->assign(static_cast<size_t>(rows * mine.vocab), 0.0f);
  for (int r = 0; r < world; ++r) {
    absl::StatusOr<VocabPartition> part = PartitionVocab(mine.vocab, world, r);
    if (!part.ok()) return part.status();
    const float* src = recv.data() + static_cast<size_t>(r) * send.size();
    for (int64_t i = 0; i < rows; ++i) {
      std::copy_n(src + i * part->per_rank, part->real, full->begin() + i * mine.vocab + part->begin);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TpLeader>> TpLeader::Create(TensorParallelModel& model, HostChannel& channel,
                                                           TpLeaderOptions options) {
  if (channel.comm().rank() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the tensor-parallel leader runs on rank 0, not rank ", channel.comm().rank()));
  }
  return std::unique_ptr<TpLeader>(new TpLeader(model, channel, std::move(options)));
}

TpLeader::~TpLeader() { Stop(); }

absl::Status TpLeader::Usable() const {
  if (!failed_.ok()) return absl::UnavailableError(absl::StrCat("tensor-parallel group failed: ", failed_.message()));
  if (stopped_) return absl::UnavailableError("tensor-parallel group is shutting down");
  return absl::OkStatus();
}

absl::Status TpLeader::Send(const TpCommand& command, std::span<const int32_t> payload) {
  TpCommand c = command;
  if (absl::Status s = channel_.Broadcast(&c, sizeof c, 0); !s.ok()) return s;
  if (payload.empty()) return absl::OkStatus();
  return channel_.Broadcast(const_cast<int32_t*>(payload.data()), payload.size_bytes(), 0);
}

void TpLeader::RecordFailure(const absl::Status& cause) {
  if (!failed_.ok()) return;  // the first cause is the one reported
  failed_ = cause.ok() ? absl::InternalError("unknown failure") : cause;
  channel_.comm().Abort(failed_);
}

absl::Status TpLeader::Fail(const absl::Status& cause) {
  RecordFailure(cause);
  return absl::UnavailableError(absl::StrCat("tensor-parallel group failed: ", failed_.message()));
}

void TpLeader::NotifyFailure() {
  absl::Status cause;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failure_notified_ || failed_.ok()) return;
    failure_notified_ = true;
    cause = failed_;
  }
  if (options_.on_failure) options_.on_failure(cause);
}

absl::StatusOr<uint64_t> TpLeader::NewSession() {
  absl::Status error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (absl::Status s = Usable(); !s.ok()) return s;
    const uint64_t id = next_id_++;
    TpCommand c;
    c.op = TpOp::kNewSession;
    c.session = id;
    absl::Status s = Send(c, {});
    if (s.ok()) {
      absl::StatusOr<std::unique_ptr<TpSession>> session = model_.NewSession();
      if (session.ok()) {
        sessions_[id] = std::move(*session);
        return id;
      }
      s = session.status();
    }
    error = Fail(s);
  }
  NotifyFailure();
  return error;
}

absl::Status TpLeader::Forward(uint64_t session, std::span<const int32_t> tokens, bool all_logits,
                               std::vector<float>* logits) {
  absl::Status error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (absl::Status s = Usable(); !s.ok()) return s;
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return absl::NotFoundError(absl::StrCat("tensor-parallel session ", session));
    TpSession& seq = *it->second;
    // Refused here, nothing was broadcast: the group is unaffected.
    if (absl::Status s = model_.CheckForward(seq, tokens); !s.ok()) return s;
    if (logits != nullptr) logits->clear();
    const int64_t total = static_cast<int64_t>(tokens.size());
    for (int64_t begin = 0; begin < total && error.ok(); begin += kMaxTpForwardTokens) {
      const int64_t n = std::min(kMaxTpForwardTokens, total - begin);
      const std::span<const int32_t> chunk = tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(n));
      TpCommand c;
      c.op = TpOp::kForward;
      c.session = session;
      c.count = n;
      c.gather = logits == nullptr ? TpGather::kNone
                 : all_logits      ? TpGather::kAllRows
                 : begin + n == total ? TpGather::kLastRow
                                      : TpGather::kNone;
      std::vector<float> local;
      absl::Status s = Send(c, chunk);
      if (s.ok()) s = model_.Forward(seq, chunk, c.gather == TpGather::kNone ? nullptr : &local);
      int64_t first = 0, rows = 0;
      GatherRange(c.gather, n, &first, &rows);
      if (s.ok() && rows > 0) {
        std::vector<float> full;
        s = GatherLogitsRows(model_, channel_, local, first, rows, &full);
        if (s.ok()) logits->insert(logits->end(), full.begin(), full.end());
      }
      if (!s.ok()) error = Fail(s);
    }
  }
  if (!error.ok()) NotifyFailure();
  return error;
}

absl::Status TpLeader::Truncate(uint64_t session, int64_t n) {
  absl::Status error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (absl::Status s = Usable(); !s.ok()) return s;
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return absl::NotFoundError(absl::StrCat("tensor-parallel session ", session));
    if (n < 0 || n > it->second->length()) {
      return absl::OutOfRangeError(
          absl::StrCat("cannot truncate a session of ", it->second->length(), " tokens to ", n));
    }
    TpCommand c;
    c.op = TpOp::kTruncate;
    c.session = session;
    c.count = n;
    absl::Status s = Send(c, {});
    if (s.ok()) s = it->second->Truncate(n);
    if (s.ok()) return s;
    error = Fail(s);
  }
  NotifyFailure();
  return error;
}

int64_t TpLeader::Length(uint64_t session) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(session);
  return it == sessions_.end() ? -1 : it->second->length();
}

void TpLeader::Close(uint64_t session) {
  bool failed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return;
    sessions_.erase(it);  // rank 0's pages go back now, whatever happens below
    if (!Usable().ok()) return;
    TpCommand c;
    c.op = TpOp::kClose;
    c.session = session;
    if (absl::Status s = Send(c, {}); !s.ok()) {
      RecordFailure(s);
      failed = true;
    }
  }
  if (failed) NotifyFailure();
}

void TpLeader::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  stopped_ = true;
  if (!failed_.ok()) return;
  TpCommand c;
  c.op = TpOp::kStop;
  // A failure here is not reported: the process is shutting down anyway.
  if (absl::Status s = Send(c, {}); !s.ok()) RecordFailure(s);
}

absl::Status TpLeader::health() {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("tensor-parallel group failed: ", failed_.message()));
}

absl::Status RunTpFollower(TensorParallelModel& model, HostChannel& channel) {
  Communicator& comm = channel.comm();
  if (comm.rank() == 0) return absl::InvalidArgumentError("rank 0 leads the group; followers are ranks > 0");
  std::map<uint64_t, std::unique_ptr<TpSession>> sessions;
  auto fail = [&](absl::Status s) {
    comm.Abort(s);
    return s;
  };
  auto protocol_error = [&](const TpCommand& c, const std::string& what) {
    return fail(absl::InternalError(absl::StrCat("tensor-parallel rank ", comm.rank(), ": ", what, " (",
                                                 Describe(c), ")")));
  };
  std::vector<int32_t> tokens;
  std::vector<float> local;
  while (true) {
    TpCommand c;
    if (absl::Status s = channel.Broadcast(&c, sizeof c, 0); !s.ok()) return fail(s);
    if (c.magic != TpCommand::kMagic) return protocol_error(c, "malformed command");
    switch (c.op) {
      case TpOp::kStop:
        return absl::OkStatus();
      case TpOp::kNewSession: {
        if (sessions.count(c.session) != 0) return protocol_error(c, "session exists");
        absl::StatusOr<std::unique_ptr<TpSession>> session = model.NewSession();
        if (!session.ok()) return fail(session.status());
        sessions[c.session] = std::move(*session);
        break;
      }
      case TpOp::kForward: {
        if (c.count < 1 || c.count > kMaxTpForwardTokens) return protocol_error(c, "token count out of range");
        tokens.resize(static_cast<size_t>(c.count));
        if (absl::Status s = channel.Broadcast(tokens.data(), tokens.size() * sizeof(int32_t), 0); !s.ok()) {
          return fail(s);
        }
        auto it = sessions.find(c.session);
        if (it == sessions.end()) return protocol_error(c, "unknown session");
        int64_t first = 0, rows = 0;
        GatherRange(c.gather, c.count, &first, &rows);
        if (absl::Status s = model.Forward(*it->second, tokens, rows > 0 ? &local : nullptr); !s.ok()) {
          return fail(s);
        }
        if (rows > 0) {
          if (absl::Status s = GatherLogitsRows(model, channel, local, first, rows, nullptr); !s.ok()) return fail(s);
        }
        break;
      }
      case TpOp::kTruncate: {
        auto it = sessions.find(c.session);
        if (it == sessions.end()) return protocol_error(c, "unknown session");
        if (absl::Status s = it->second->Truncate(c.count); !s.ok()) return fail(s);
        break;
      }
      case TpOp::kClose:
        sessions.erase(c.session);
        break;
      default:
        return protocol_error(c, "unknown operation");
    }
  }
}

}  // namespace tandem::runtime::parallel
