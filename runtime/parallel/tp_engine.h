// The step protocol of a tensor-parallel target: rank 0 (TpLeader) serves
// clients and drives every other rank (RunTpFollower) through the same
// sequence of collective operations, SPMD.
//
// Each step is one TpCommand (fixed 32 bytes) broadcast from rank 0, then its
// payload (kForward: the tokens), then the collective work itself on every
// rank: NewSession, Forward (this rank's shard; the two all-reduces per layer
// happen inside), Truncate, Close, or Stop. Ranks keep their sessions in maps
// keyed by the id rank 0 assigned, so every rank's KV pages follow rank 0's.
//
// Rank 0 turns its vocabulary-parallel logits into full rows by
// all-gathering every rank's slice (padded to the same width), so its callers
// see exactly what runtime::Model returns: vocab_size floats per row.
//
// Steps are serialised on rank 0 (one mutex): the communicator runs one
// collective at a time and every rank must issue them in the same order.
// Requests that would fail on every rank (unknown session, bad token id,
// context or KV budget exceeded) are refused on rank 0 before anything is
// broadcast, so they cost the group nothing. An error once a step started
// (a rank failed, the transport broke) aborts the group
// (Communicator::Abort): every rank's pending collective returns instead of
// hanging, the followers return the error, and rank 0 answers this and every
// later request UNAVAILABLE (the group has to be restarted as a whole).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/parallel/host_channel.h"
#include "runtime/parallel/tp_model.h"

namespace tandem::runtime::parallel {

enum class TpOp : uint32_t { kNewSession = 1, kForward = 2, kTruncate = 3, kClose = 4, kStop = 5 };
// Which logits rows of a kForward step are all-gathered to rank 0.
enum class TpGather : uint32_t { kNone = 0, kLastRow = 1, kAllRows = 2 };

struct TpCommand {
  // Catches a rank that reads the stream out of step (a protocol bug) before
  // it runs a wrong collective.
  static constexpr uint32_t kMagic = 0x54504331;  // "TPC1"
  uint32_t magic = kMagic;
  TpOp op = TpOp::kStop;
  TpGather gather = TpGather::kNone;
  uint32_t reserved = 0;
  uint64_t session = 0;
  int64_t count = 0;  // kForward: tokens in the payload; kTruncate: the new length
};
static_assert(sizeof(TpCommand) == 32, "the wire size of a command is fixed");

struct TpLeaderOptions {
  // Called once, outside the step lock, when the group fails (the serving
  // process stops and exits so the group restarts).
  std::function<void(const absl::Status&)> on_failure;
};

class TpLeader {
 public:
  // Rank 0 of `channel`'s group; `model` is rank 0's shard. Both outlive the
  // leader. The other ranks run RunTpFollower on the same group.
  static absl::StatusOr<std::unique_ptr<TpLeader>> Create(TensorParallelModel& model, HostChannel& channel,
                                                          TpLeaderOptions options = {});
  // Stops the followers (Stop).
  ~TpLeader();

  int32_t vocab_size() const { return static_cast<int32_t>(model_.vocab().vocab); }
  const TensorParallelModel& model() const { return model_; }

  // A new empty session on every rank; its id.
  absl::StatusOr<uint64_t> NewSession();
  // Appends `tokens` to the session on every rank (several forward steps
  // when there are more than kMaxTpForwardTokens) and, when `logits` is not
  // null, writes vocab_size() floats per row: every appended token's row
  // when all_logits, else the last one's. On a refused request (nothing
  // broadcast) the session is unchanged.
  absl::Status Forward(uint64_t session, std::span<const int32_t> tokens, bool all_logits,
                       std::vector<float>* logits);
  // Keeps the first n tokens on every rank (KV rollback).
  absl::Status Truncate(uint64_t session, int64_t n);
  int64_t Length(uint64_t session);
  // Frees the session's KV pages on every rank. Unknown ids are ignored;
  // after a failure only rank 0's pages can be freed (the rest is gone).
  void Close(uint64_t session);
  // Ends the followers' loops (they return OK). Later steps fail
  // UNAVAILABLE. Idempotent.
  void Stop();

  // OK unless the group failed (a stopped group is not a failure), else
  // UNAVAILABLE with the cause.
  absl::Status health();
  size_t kv_bytes_in_use() const { return model_.kv_bytes_in_use(); }

 private:
  TpLeader(TensorParallelModel& model, HostChannel& channel, TpLeaderOptions options)
      : model_(model), channel_(channel), options_(std::move(options)) {}
  // Callers hold mu_. UNAVAILABLE once stopped or failed.
  absl::Status Usable() const;
  absl::Status Send(const TpCommand& command, std::span<const int32_t> payload);
  // Records the failure (the first one wins) and aborts the group. Callers
  // hold mu_ and call NotifyFailure after releasing it.
  void RecordFailure(const absl::Status& cause);
  // RecordFailure, then the UNAVAILABLE error the caller answers with.
  absl::Status Fail(const absl::Status& cause);
  void NotifyFailure();

  TensorParallelModel& model_;
  HostChannel& channel_;
  const TpLeaderOptions options_;
  std::mutex mu_;  // one step at a time
  std::map<uint64_t, std::unique_ptr<TpSession>> sessions_;
  uint64_t next_id_ = 1;
  bool stopped_ = false;
  absl::Status failed_;
  bool failure_notified_ = false;
};

// Runs a rank > 0 until rank 0 stops the group (OK) or the group fails (the
// error; the group is aborted so that rank 0 does not wait for this rank).
absl::Status RunTpFollower(TensorParallelModel& model, HostChannel& channel);

// The full rows of `rows` logits rows: every rank passes its slice (`local`,
// rows x vocab().real floats, the rows from `first_row` on); rank 0 gets
// rows x vocab floats in `full` (other ranks may pass null). Collective.
absl::Status GatherLogitsRows(const TensorParallelModel& model, HostChannel& channel, const std::vector<float>& local,
                              int64_t first_row, int64_t rows, std::vector<float>* full);

}  // namespace tandem::runtime::parallel
