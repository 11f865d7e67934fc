#include "decoding/batching/batching_language_model.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace tandem::batching {

BatchingLanguageModel::BatchingLanguageModel(runtime::Model& model, BatchingOptions options)
    : model_(model), options_(options) {
  kv_bytes_.store(static_cast<int64_t>(model_.kv_bytes_in_use()));
  scheduler_ = std::thread([this] { SchedulerLoop(); });
}

BatchingLanguageModel::~BatchingLanguageModel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  scheduler_.join();
  std::lock_guard<std::mutex> lock(model_mu_);
  FreeRetiredLocked();
}

absl::StatusOr<std::unique_ptr<decoding::LmSequence>> BatchingLanguageModel::NewSequence() {
  auto seq = NewBatchingSequence();
  if (!seq.ok()) return seq.status();
  return std::unique_ptr<decoding::LmSequence>(std::move(*seq));
}

absl::StatusOr<std::unique_ptr<BatchingSequence>> BatchingLanguageModel::NewBatchingSequence() {
  std::lock_guard<std::mutex> lock(model_mu_);
  FreeRetiredLocked();  // their pages may be what this session needs
  auto session = model_.NewSession();
  if (!session.ok()) return session.status();
  UpdateKvBytesLocked();
  return std::unique_ptr<BatchingSequence>(new BatchingSequence(*this, std::move(*session)));
}

BatchingStats BatchingLanguageModel::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t BatchingLanguageModel::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void BatchingLanguageModel::SetPaused(bool paused) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = paused;
  }
  work_cv_.notify_all();
}

void BatchingLanguageModel::UpdateKvBytesLocked() {
  kv_bytes_.store(static_cast<int64_t>(model_.kv_bytes_in_use()), std::memory_order_relaxed);
}

absl::Status BatchingLanguageModel::TruncateSession(runtime::Session& session, int64_t n) {
  std::lock_guard<std::mutex> lock(model_mu_);
  absl::Status s = session.Truncate(n);
  UpdateKvBytesLocked();
  return s;
}

absl::StatusOr<std::unique_ptr<BatchingSequence>> BatchingLanguageModel::ForkSession(
    const runtime::Session& session) {
  std::lock_guard<std::mutex> lock(model_mu_);
  FreeRetiredLocked();
  auto fork = session.Fork();
  if (!fork.ok()) return fork.status();
  UpdateKvBytesLocked();
  return std::unique_ptr<BatchingSequence>(new BatchingSequence(*this, std::move(*fork)));
}

void BatchingLanguageModel::DestroySession(std::unique_ptr<runtime::Session> session) {
  {
    // A closed session will not append again: stop waiting for it.
    std::lock_guard<std::mutex> lock(mu_);
    expected_.erase(std::remove(expected_.begin(), expected_.end(), session.get()), expected_.end());
  }
  work_cv_.notify_one();
  std::unique_lock<std::mutex> model_lock(model_mu_, std::try_to_lock);
  if (model_lock.owns_lock()) {
    session.reset();
    FreeRetiredLocked();
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  retired_.push_back(std::move(session));
  work_cv_.notify_one();
}

void BatchingLanguageModel::FreeRetiredLocked() {
  std::vector<std::unique_ptr<runtime::Session>> retired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    retired.swap(retired_);
  }
  retired.clear();
  UpdateKvBytesLocked();
}

absl::Status BatchingLanguageModel::Submit(Request& request) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return absl::CancelledError("batching model is shutting down");
  queue_.push_back(&request);
  work_cv_.notify_one();
  request.cv.wait(lock, [&] { return request.done; });
  return request.status;
}

void BatchingLanguageModel::PickRound() {
  round_.clear();
  int64_t round_tokens = 0;
  const size_t chunk = static_cast<size_t>(std::max<int64_t>(1, options_.prefill_chunk_tokens));
  for (Request* r : queue_) {
    // Model::Forward takes each session at most once per pass; a second
    // append on the same sequence (a caller bug) waits for the next round.
    const bool seen = std::any_of(round_.begin(), round_.end(),
                                  [&](const Slot& s) { return s.request->session == r->session; });
    if (seen) continue;
    const size_t remaining = r->tokens.size() - r->offset;
    // Only appends that need no per-row logits can be split: rows of an
    // all-logits append must come from one contiguous output.
    const bool chunkable = !r->all_logits || r->logits == nullptr;
    const size_t n = chunkable ? std::min(remaining, chunk) : remaining;
    if (!round_.empty() && round_tokens + static_cast<int64_t>(n) > options_.max_round_tokens) continue;
    round_.push_back(Slot{r, n});
    round_tokens += static_cast<int64_t>(n);
  }
}

bool BatchingLanguageModel::ExpectedQueued() const {
  return std::all_of(expected_.begin(), expected_.end(), [&](const runtime::Session* e) {
    return std::any_of(queue_.begin(), queue_.end(), [&](const Request* r) { return r->session == e; });
  });
}

void BatchingLanguageModel::RunRound() {
  items_.clear();
  for (const Slot& slot : round_) {
    Request& r = *slot.request;
    runtime::ForwardItem item;
    item.session = r.session;
    item.tokens = r.tokens.subspan(r.offset, slot.count);
    item.all_logits = r.all_logits;
    // Earlier chunks of a split append produce no output; only the chunk that
    // ends the append writes the caller's logits.
    const bool last_chunk = r.offset + slot.count == r.tokens.size();
    item.logits = last_chunk ? r.logits : nullptr;
    items_.push_back(item);
  }
  statuses_.assign(items_.size(), absl::OkStatus());
  std::lock_guard<std::mutex> lock(model_mu_);
  absl::Status s = model_.Forward(std::span<runtime::ForwardItem>(items_));
  if (!s.ok()) {
    if (items_.size() == 1) {
      statuses_[0] = s;
    } else {
      // Forward changed nothing; find out which items fail on their own.
      for (size_t i = 0; i < items_.size(); ++i) {
        statuses_[i] = model_.Forward(std::span<runtime::ForwardItem>(&items_[i], 1));
      }
    }
  }
  FreeRetiredLocked();  // sessions closed while this round ran
}

void BatchingLanguageModel::SchedulerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] { return stopping_ || (!paused_ && !queue_.empty()) || !retired_.empty(); });
    if (stopping_) break;
    if (paused_ || queue_.empty()) {
      // Woken only to free sessions closed while the model was busy (the
      // round that held it has ended, or a Truncate/Fork is finishing).
      lock.unlock();
      {
        std::lock_guard<std::mutex> model_lock(model_mu_);
        FreeRetiredLocked();
      }
      lock.lock();
      continue;
    }
    if (options_.max_gather_us > 0 && !expected_.empty() && !ExpectedQueued()) {
      const auto share = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(last_round_time_) * options_.gather_round_fraction);
      const auto budget =
          std::min<std::chrono::steady_clock::duration>(std::chrono::microseconds(options_.max_gather_us), share);
      work_cv_.wait_until(lock, last_round_end_ + budget, [&] { return stopping_ || paused_ || ExpectedQueued(); });
      if (stopping_) break;
      if (paused_) continue;
    }
    PickRound();
    // Requests in round_ stay in queue_ (their callers keep waiting), so
    // releasing mu_ lets new appends queue up for the next round meanwhile.
    lock.unlock();
    const auto round_start = std::chrono::steady_clock::now();
    RunRound();
    last_round_end_ = std::chrono::steady_clock::now();
    last_round_time_ = last_round_end_ - round_start;
    lock.lock();

    ++stats_.forward_passes;
    stats_.items += static_cast<int64_t>(round_.size());
    stats_.max_items_per_pass = std::max<int64_t>(stats_.max_items_per_pass, round_.size());
    expected_.clear();
    for (size_t i = 0; i < round_.size(); ++i) {
      Request& r = *round_[i].request;
      r.batch_items = std::max<int>(r.batch_items, static_cast<int>(round_.size()));
      if (statuses_[i].ok()) {
        stats_.tokens += static_cast<int64_t>(round_[i].count);
        r.offset += round_[i].count;
        if (r.offset < r.tokens.size()) continue;  // more chunks to go
      }
      r.status = statuses_[i];
      r.done = true;
      ++stats_.appends;
      if (r.status.ok()) expected_.push_back(r.session);
    }
    // Drop finished requests from the queue before waking their callers
    // (a woken caller destroys its Request).
    queue_.erase(std::remove_if(queue_.begin(), queue_.end(), [](Request* r) { return r->done; }),
                 queue_.end());
    for (const Slot& slot : round_) {
      if (slot.request->done) slot.request->cv.notify_one();
    }
  }
  for (Request* r : queue_) {
    r->status = absl::CancelledError("batching model is shutting down");
    r->done = true;
    r->cv.notify_one();
  }
  queue_.clear();
}

BatchingSequence::~BatchingSequence() { owner_.DestroySession(std::move(session_)); }

absl::Status BatchingSequence::Truncate(int64_t n) { return owner_.TruncateSession(*session_, n); }

absl::StatusOr<std::unique_ptr<decoding::LmSequence>> BatchingSequence::Fork() const {
  auto fork = owner_.ForkSession(*session_);
  if (!fork.ok()) return fork.status();
  return std::unique_ptr<decoding::LmSequence>(std::move(*fork));
}

absl::Status BatchingSequence::Append(std::span<const int32_t> tokens, bool all_logits,
                                      std::vector<float>* logits) {
  if (tokens.empty()) return absl::InvalidArgumentError("append: no tokens");
  BatchingLanguageModel::Request request;
  request.session = session_.get();
  request.tokens = tokens;
  request.all_logits = all_logits;
  request.logits = logits;
  absl::Status s = owner_.Submit(request);
  last_batch_items_.store(request.batch_items, std::memory_order_relaxed);
  return s;
}

}  // namespace tandem::batching
