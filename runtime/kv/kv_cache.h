// Paged KV cache bookkeeping. The pages themselves (K and V of every layer for
// page_tokens consecutive tokens, fp16) live in the compute backend; this
// module owns which page belongs to whom: a model-wide pool with a fixed page
// budget and per-page reference counts, and per-session page tables.
//
// Forks share every page of the parent (reference counted); a page is copied
// only when a holder is about to write into it while it is shared
// (copy-on-write), so a fork costs no KV memory until the sequences diverge.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"

namespace tandem::runtime {

class KvPool {
 public:
  // The backend's KV storage must already hold max_pages pages.
  KvPool(Backend& backend, int page_tokens, int64_t max_pages, size_t page_bytes);

  int page_tokens() const { return page_tokens_; }
  size_t page_bytes() const { return page_bytes_; }
  int64_t max_pages() const { return max_pages_; }
  int64_t pages_in_use() const;
  size_t bytes_in_use() const { return static_cast<size_t>(pages_in_use()) * page_bytes_; }

 private:
  friend class KvSequence;
  // Callers hold mu_.
  int64_t free_pages() const { return static_cast<int64_t>(free_.size()); }
  int32_t Take();  // requires free_pages() > 0
  void Release(int32_t page);

  Backend& backend_;
  const int page_tokens_;
  const int64_t max_pages_;
  const size_t page_bytes_;
  mutable std::mutex mu_;
  std::vector<int32_t> free_;      // stack of free page ids
  std::vector<int32_t> refcount_;  // per page
};

// The KV pages of one sequence.
class KvSequence {
 public:
  explicit KvSequence(KvPool* pool) : pool_(pool) {}
  ~KvSequence();
  KvSequence(const KvSequence&) = delete;
  KvSequence& operator=(const KvSequence&) = delete;

  int64_t length() const { return length_; }
  const std::vector<int32_t>& pages() const { return pages_; }
  size_t bytes() const { return pages_.size() * pool_->page_bytes(); }

  // Makes positions [length, length + n) writable: allocates missing pages
  // and un-shares shared pages in that range. On ResourceExhausted (budget)
  // nothing changes. Does not change length.
  absl::Status Reserve(int64_t n);
  KvSlot SlotOf(int64_t position) const {
    const int pt = pool_->page_tokens();
    return KvSlot{pages_[position / pt], static_cast<int32_t>(position % pt)};
  }
  // Marks n more reserved positions as filled.
  void Commit(int64_t n) { length_ += n; }
  // Keeps the first n tokens (n <= length) and returns the pages past them,
  // including pages reserved but never committed, to the pool.
  void Truncate(int64_t n);
  // A sequence sharing all of this one's pages.
  std::unique_ptr<KvSequence> Fork() const;

 private:
  KvPool* pool_;
  std::vector<int32_t> pages_;
  int64_t length_ = 0;
};

}  // namespace tandem::runtime
