// SessionRegistry<T>: the open sessions of a Draft or Target service (or the
// running requests of the orchestrator), keyed by id.
//
// KV memory must not leak when a client vanishes, so every session carries a
// last-used time and a reaper thread closes sessions idle for longer than
// `idle_timeout`. A session is only idle while nobody holds a Lease on it:
// a long Verify call cannot have its session expire underneath it. Expired
// and closed sessions are handed to the expiry callback / the caller outside
// the registry's lock, so freeing KV memory never blocks other lookups.
//
// The registry must outlive every Lease it handed out.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tandem::services {

struct SessionRegistryOptions {
  // Sessions unused (and not leased) for longer than this are closed.
  absl::Duration idle_timeout = absl::Minutes(5);
  // How often the reaper looks; ZeroDuration() = no reaper thread (callers
  // run ReapExpired() themselves, as tests do with a fake clock).
  absl::Duration reap_interval = absl::Seconds(1);
  // Insert() beyond this many sessions fails with RESOURCE_EXHAUSTED.
  size_t max_sessions = 1024;
  // Time source; defaults to absl::Now. Tests inject a fake clock.
  std::function<absl::Time()> clock;
};

template <typename T>
class SessionRegistry {
  struct Entry {
    std::shared_ptr<T> session;
    absl::Time last_used;  // guarded by the registry mutex
    int leases = 0;        // guarded by the registry mutex
  };

 public:
  // Called with (id, session) for every session the reaper closes.
  using ExpiryCallback = std::function<void(const std::string& id, std::shared_ptr<T> session)>;

  // Exclusive-ish handle to a session while a call uses it: the session
  // cannot expire while a Lease exists, and releasing it refreshes its
  // last-used time. (Several leases may coexist; services that need
  // one-call-at-a-time per session check that themselves.)
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : registry_(std::exchange(o.registry_, nullptr)), entry_(std::move(o.entry_)) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        Release();
        registry_ = std::exchange(o.registry_, nullptr);
        entry_ = std::move(o.entry_);
      }
      return *this;
    }
    ~Lease() { Release(); }
    T* get() const { return entry_ ? entry_->session.get() : nullptr; }
    T* operator->() const { return get(); }
    T& operator*() const { return *get(); }
    const std::shared_ptr<T>& shared() const { return entry_->session; }
    explicit operator bool() const { return entry_ != nullptr; }

   private:
    friend class SessionRegistry;
    Lease(SessionRegistry* r, std::shared_ptr<Entry> e) : registry_(r), entry_(std::move(e)) {}
    void Release() {
      if (registry_ != nullptr && entry_ != nullptr) registry_->Unlease(*entry_);
      registry_ = nullptr;
      entry_.reset();
    }
    SessionRegistry* registry_ = nullptr;
    std::shared_ptr<Entry> entry_;
  };

  // A Lease that also holds the session's one-call-at-a-time flag, for
  // services whose protocol makes overlapping calls on one session
  // FAILED_PRECONDITION rather than queueing them. T must have a
  // `std::atomic<bool> busy`; the flag is cleared before the lease is released.
  class ExclusiveLease {
   public:
    ExclusiveLease(ExclusiveLease&&) noexcept = default;  // a moved-from Lease is empty
    ExclusiveLease& operator=(ExclusiveLease&&) = delete;
    ~ExclusiveLease() {
      if (lease_) lease_->busy.store(false);
    }
    T* operator->() const { return lease_.get(); }
    T& operator*() const { return *lease_; }

   private:
    friend class SessionRegistry;
    explicit ExclusiveLease(Lease lease) : lease_(std::move(lease)) {}
    Lease lease_;
  };

  explicit SessionRegistry(SessionRegistryOptions options, ExpiryCallback on_expire = nullptr)
      : options_(std::move(options)), on_expire_(std::move(on_expire)) {
    if (!options_.clock) options_.clock = [] { return absl::Now(); };
    if (options_.reap_interval > absl::ZeroDuration()) {
      reaper_ = std::thread([this] { ReaperLoop(); });
    }
  }

  // Stops the reaper; remaining sessions are dropped without callbacks.
  ~SessionRegistry() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (reaper_.joinable()) reaper_.join();
  }

  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  // Adds a session. ALREADY_EXISTS for a duplicate id, RESOURCE_EXHAUSTED at
  // max_sessions, INVALID_ARGUMENT for a null session.
  absl::Status Insert(const std::string& id, std::shared_ptr<T> session) {
    if (session == nullptr) return absl::InvalidArgumentError("session: must not be null");
    std::lock_guard<std::mutex> lock(mu_);
    if (sessions_.contains(id)) {
      return absl::AlreadyExistsError(absl::StrCat("session_id: '", id, "' is already open"));
    }
    if (sessions_.size() >= options_.max_sessions) {
      return absl::ResourceExhaustedError(
          absl::StrCat("too many open sessions (limit ", options_.max_sessions, ")"));
    }
    auto entry = std::make_shared<Entry>();
    entry->session = std::move(session);
    entry->last_used = options_.clock();
    sessions_.emplace(id, std::move(entry));
    return absl::OkStatus();
  }

  // A new id that is not in use: prefix + this registry's random boot tag +
  // counter. The tag keeps a restarted service from handing out the ids of
  // its previous life: a client still holding one (its request outlived the
  // restart) gets NOT_FOUND instead of another request's session.
  std::string NewId(std::string_view prefix = "s-") {
    std::lock_guard<std::mutex> lock(mu_);
    std::string id;
    do {
      id = absl::StrCat(absl::string_view(prefix.data(), prefix.size()), boot_tag_, "-", ++next_id_);
    } while (sessions_.contains(id));
    return id;
  }

  // Leases a session (refreshing its last-used time). NOT_FOUND if the id is
  // unknown, closed or expired.
  absl::StatusOr<Lease> Acquire(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) {
      return absl::NotFoundError(absl::StrCat("session_id: '", id, "' is not open (closed or expired)"));
    }
    Entry& e = *it->second;
    ++e.leases;
    e.last_used = options_.clock();
    return Lease(this, it->second);
  }

  // Acquire, then claims the session's busy flag: FAILED_PRECONDITION while
  // another ExclusiveLease holds it.
  absl::StatusOr<ExclusiveLease> AcquireExclusive(const std::string& id) {
    auto lease = Acquire(id);
    if (!lease.ok()) return lease.status();
    if ((*lease)->busy.exchange(true)) {
      return absl::FailedPreconditionError(absl::StrCat("session_id: '", id, "' has another call in progress"));
    }
    return ExclusiveLease(std::move(*lease));
  }

  // Removes a session and returns it (nullptr if unknown). Existing leases
  // keep the object alive until they are released; the caller frees it.
  std::shared_ptr<T> Remove(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return nullptr;
    std::shared_ptr<T> s = it->second->session;
    sessions_.erase(it);
    return s;
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sessions_.size();
  }

  // Closes every unleased session idle for longer than idle_timeout, calls
  // the expiry callback for each and returns how many were closed.
  size_t ReapExpired() {
    std::vector<std::pair<std::string, std::shared_ptr<T>>> expired;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const absl::Time now = options_.clock();
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        const Entry& e = *it->second;
        if (e.leases == 0 && now - e.last_used > options_.idle_timeout) {
          expired.emplace_back(it->first, e.session);
          sessions_.erase(it++);
        } else {
          ++it;
        }
      }
    }
    for (auto& [id, session] : expired) {
      if (on_expire_) on_expire_(id, std::move(session));
    }
    return expired.size();
  }

  absl::Duration idle_timeout() const { return options_.idle_timeout; }

 private:
  void Unlease(Entry& e) {
    std::lock_guard<std::mutex> lock(mu_);
    --e.leases;
    e.last_used = options_.clock();
  }

  void ReaperLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.reap_interval), [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      ReapExpired();
      lock.lock();
    }
  }

  // 32 random bits as 8 hex digits.
  static std::string BootTag() {
    std::random_device rd;
    return absl::StrFormat("%08x", rd());
  }

  SessionRegistryOptions options_;
  ExpiryCallback on_expire_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  uint64_t next_id_ = 0;
  const std::string boot_tag_ = BootTag();
  absl::flat_hash_map<std::string, std::shared_ptr<Entry>> sessions_;
  std::thread reaper_;
};

}  // namespace tandem::services
