#include "runtime/kv/kv_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tandem::runtime {

KvPool::KvPool(Backend& backend, int page_tokens, int64_t max_pages, size_t page_bytes)
    : backend_(backend), page_tokens_(page_tokens), max_pages_(max_pages), page_bytes_(page_bytes) {
  free_.reserve(static_cast<size_t>(max_pages));
  for (int64_t p = max_pages - 1; p >= 0; --p) free_.push_back(static_cast<int32_t>(p));
  refcount_.assign(static_cast<size_t>(max_pages), 0);
}

int64_t KvPool::pages_in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_pages_ - free_pages();
}

int32_t KvPool::Take() {
  const int32_t p = free_.back();
  free_.pop_back();
  refcount_[p] = 1;
  return p;
}

void KvPool::Release(int32_t page) {
  if (--refcount_[page] == 0) free_.push_back(page);
}

KvSequence::~KvSequence() {
  std::lock_guard<std::mutex> lock(pool_->mu_);
  for (int32_t p : pages_) pool_->Release(p);
}

absl::Status KvSequence::Reserve(int64_t n) {
  if (n <= 0) return absl::OkStatus();
  const int pt = pool_->page_tokens();
  const int64_t first = length_ / pt;
  const int64_t last = (length_ + n - 1) / pt;  // inclusive
  std::lock_guard<std::mutex> lock(pool_->mu_);
  int64_t need = 0;
  for (int64_t i = first; i <= last; ++i) {
    if (i >= static_cast<int64_t>(pages_.size()) || pool_->refcount_[pages_[i]] > 1) ++need;
  }
  if (need > pool_->free_pages()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache budget exhausted: need ", need, " more pages of ", pt, " tokens, ",
        pool_->free_pages(), " of ", pool_->max_pages(), " free"));
  }
  if (pages_.capacity() < static_cast<size_t>(last + 1)) {
    // Grow geometrically so a decoding session reallocates its page table
    // O(log n) times, not once per page.
    pages_.reserve(std::max<size_t>(static_cast<size_t>(last + 1), 2 * pages_.capacity()));
  }
  for (int64_t i = first; i <= last; ++i) {
    if (i >= static_cast<int64_t>(pages_.size())) {
      pages_.push_back(pool_->Take());
    } else if (pool_->refcount_[pages_[i]] > 1) {
      const int32_t fresh = pool_->Take();
      pool_->backend_.CopyKvPage(pages_[i], fresh);
      pool_->Release(pages_[i]);
      pages_[i] = fresh;
    }
  }
  return absl::OkStatus();
}

void KvSequence::Truncate(int64_t n) {
  // n == length still frees pages reserved past the end by a failed batch.
  if (n > length_) return;
  const int pt = pool_->page_tokens();
  const size_t keep = static_cast<size_t>((n + pt - 1) / pt);
  std::lock_guard<std::mutex> lock(pool_->mu_);
  while (pages_.size() > keep) {
    pool_->Release(pages_.back());
    pages_.pop_back();
  }
  length_ = n;
}

std::unique_ptr<KvSequence> KvSequence::Fork() const {
  auto child = std::make_unique<KvSequence>(pool_);
  child->pages_ = pages_;
  child->length_ = length_;
  std::lock_guard<std::mutex> lock(pool_->mu_);
  for (int32_t p : pages_) ++pool_->refcount_[p];
  return child;
}

}  // namespace tandem::runtime
