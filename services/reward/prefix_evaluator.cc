#include "services/reward/prefix_evaluator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tandem::reward {
namespace {

// A prefix shared by the queries of one batch is forwarded once first when
// it is at least this many tokens longer than what the cache already holds
// for them (shorter shared prefixes cost more in fork overhead than they save).
constexpr int64_t kMinSharedPrefix = 8;

int64_t CommonPrefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return static_cast<int64_t>(i);
}

}  // namespace

PrefixEvaluator::PrefixEvaluator(runtime::Model& model, OutputKind kind, size_t cache_entries)
    : model_(model), kind_(kind), capacity_(cache_entries) {}

PrefixEvaluator::~PrefixEvaluator() {
  absl::MutexLock lock(&mu_);
  entries_.clear();  // sessions must go before the model
}

PrefixEvaluator::Plan PrefixEvaluator::PlanQuery(const EvalQuery& q, const std::string& key, bool use_cache) {
  Plan plan{entries_.end(), 0};
  if (!use_cache || capacity_ == 0) return plan;
  int64_t best = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const int64_t lcp = CommonPrefix(it->tokens, q.tokens);
    if (lcp > best) {
      best = lcp;
      plan.base = it;
    }
  }
  if (plan.base == entries_.end()) return plan;
  int64_t reuse = best;
  // A score inside the reused prefix must already be cached, else the
  // forward has to start at its position.
  for (int64_t p : q.read_positions) {
    if (p >= reuse) break;
    if (plan.base->key != key || !plan.base->scores.contains(p)) {
      reuse = p;
      break;
    }
  }
  plan.reuse = reuse;
  if (reuse == 0) plan.base = entries_.end();
  return plan;
}

int64_t PrefixEvaluator::Reusable(const EvalQuery& query, const std::string& reducer_key) {
  absl::MutexLock lock(&mu_);
  return PlanQuery(query, reducer_key, true).reuse;
}

absl::StatusOr<std::unique_ptr<runtime::Session>> PrefixEvaluator::StartSession(const Plan& plan) {
  absl::StatusOr<std::unique_ptr<runtime::Session>> session =
      plan.base != entries_.end() ? plan.base->session->Fork() : model_.NewSession();
  if (!session.ok()) return session.status();
  if (absl::Status s = (*session)->Truncate(plan.reuse); !s.ok()) return s;
  return session;
}

absl::Status PrefixEvaluator::ForwardWithEviction(std::vector<runtime::ForwardItem>& items) {
  for (;;) {
    absl::Status s = model_.Forward(items);
    if (s.ok()) {
      ++stats_.forward_passes;
      return s;
    }
    // Cached sequences hold KV pages; give them up before failing a request.
    if (s.code() != absl::StatusCode::kResourceExhausted || entries_.empty()) return s;
    entries_.pop_back();
  }
}

void PrefixEvaluator::Insert(Entry entry) {
  if (capacity_ == 0) return;
  // A cached sequence that is a prefix of the new one adds nothing.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->key == entry.key && it->tokens.size() <= entry.tokens.size() &&
        CommonPrefix(it->tokens, entry.tokens) == static_cast<int64_t>(it->tokens.size())) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  entries_.push_front(std::move(entry));
  while (entries_.size() > capacity_) entries_.pop_back();
}

absl::StatusOr<std::vector<std::vector<float>>> PrefixEvaluator::Run(std::span<const EvalQuery> queries,
                                                                     const RowReducer& reducer,
                                                                     const std::string& reducer_key,
                                                                     bool use_cache) {
  const int64_t max_context = model_.max_context();
  for (size_t i = 0; i < queries.size(); ++i) {
    const EvalQuery& q = queries[i];
    const int64_t n = static_cast<int64_t>(q.tokens.size());
    if (n == 0) return absl::InvalidArgumentError(absl::StrCat("items[", i, "]: nothing to score (no tokens)"));
    if (n > max_context) {
      return absl::InvalidArgumentError(absl::StrCat("items[", i, "]: ", n, " tokens exceed the reward model's context of ",
                                                     max_context, " tokens"));
    }
    for (size_t j = 0; j < q.read_positions.size(); ++j) {
      const int64_t p = q.read_positions[j];
      if (p < 0 || p >= n || (j > 0 && p <= q.read_positions[j - 1])) {
        return absl::InternalError(absl::StrCat("query ", i, ": read position ", p, " is not ascending inside [0, ", n, ")"));
      }
    }
  }
  absl::MutexLock lock(&mu_);
  std::vector<std::vector<float>> results(queries.size());

  // A prefix the queries share beyond what the cache holds: forward it once.
  if (use_cache && capacity_ > 0 && queries.size() >= 2) {
    std::vector<size_t> needing;
    int64_t max_reuse = 0;
    for (size_t i = 0; i < queries.size(); ++i) {
      const Plan p = PlanQuery(queries[i], reducer_key, true);
      if (p.reuse < static_cast<int64_t>(queries[i].tokens.size())) {
        needing.push_back(i);
        max_reuse = std::max(max_reuse, p.reuse);
      }
    }
    if (needing.size() >= 2) {
      const std::vector<int32_t>& first = queries[needing[0]].tokens;
      int64_t shared = static_cast<int64_t>(first.size());
      for (size_t i : needing) {
        const EvalQuery& q = queries[i];
        shared = std::min(shared, CommonPrefix(first, q.tokens));
        shared = std::min(shared, static_cast<int64_t>(q.tokens.size()) - 1);  // each keeps a token to forward
        if (!q.read_positions.empty()) shared = std::min(shared, q.read_positions.front());
      }
      if (shared >= max_reuse + kMinSharedPrefix) {
        EvalQuery prefix{std::vector<int32_t>(first.begin(), first.begin() + shared), {}};
        const Plan p = PlanQuery(prefix, reducer_key, true);
        auto session = StartSession(p);
        if (!session.ok()) return session.status();
        std::vector<runtime::ForwardItem> items(1);
        items[0].session = session->get();
        items[0].tokens = std::span<const int32_t>(prefix.tokens).subspan(static_cast<size_t>(p.reuse));
        items[0].all_logits = false;
        if (absl::Status s = ForwardWithEviction(items); !s.ok()) return s;
        stats_.tokens_forwarded += shared - p.reuse;
        stats_.tokens_reused += p.reuse;
        Insert(Entry{std::move(*session), std::move(prefix.tokens), reducer_key, {}});
      }
    }
  }

  struct Work {
    size_t query;
    int64_t reuse;
    bool all_rows;
    std::unique_ptr<runtime::Session> session;
    std::map<int64_t, float> scores;
    std::vector<float> out;
  };
  std::vector<Work> work;
  for (size_t i = 0; i < queries.size(); ++i) {
    const EvalQuery& q = queries[i];
    const int64_t n = static_cast<int64_t>(q.tokens.size());
    Plan p = PlanQuery(q, reducer_key, use_cache);
    std::map<int64_t, float> inherited;
    if (p.base != entries_.end()) {
      entries_.splice(entries_.begin(), entries_, p.base);  // LRU touch
      if (p.base->key == reducer_key) {
        inherited.insert(p.base->scores.begin(), p.base->scores.lower_bound(p.reuse));
      }
    }
    stats_.tokens_reused += p.reuse;
    if (p.reuse == n) {
      ++stats_.cache_hits;
      for (int64_t pos : q.read_positions) results[i].push_back(inherited.at(pos));
      continue;
    }
    auto session = StartSession(p);
    if (!session.ok()) return session.status();
    bool all_rows = false;
    for (int64_t pos : q.read_positions) all_rows = all_rows || (pos >= p.reuse && pos < n - 1);
    work.push_back(Work{i, p.reuse, all_rows, std::move(*session), std::move(inherited), {}});
  }
  if (work.empty()) return results;

  std::vector<runtime::ForwardItem> items(work.size());
  for (size_t w = 0; w < work.size(); ++w) {
    const EvalQuery& q = queries[work[w].query];
    items[w].session = work[w].session.get();
    items[w].tokens = std::span<const int32_t>(q.tokens).subspan(static_cast<size_t>(work[w].reuse));
    items[w].all_logits = work[w].all_rows;
    if (kind_ == OutputKind::kLogits) {
      items[w].logits = &work[w].out;
    } else {
      items[w].hidden = &work[w].out;
    }
  }
  if (absl::Status s = ForwardWithEviction(items); !s.ok()) return s;

  const size_t width = static_cast<size_t>(kind_ == OutputKind::kLogits ? model_.config().vocab_size
                                                                        : model_.config().n_embd);
  for (Work& w : work) {
    const EvalQuery& q = queries[w.query];
    const int64_t n = static_cast<int64_t>(q.tokens.size());
    stats_.tokens_forwarded += n - w.reuse;
    for (int64_t pos : q.read_positions) {
      if (pos < w.reuse) continue;
      const size_t row = static_cast<size_t>(w.all_rows ? pos - w.reuse : 0);
      w.scores[pos] = reducer(std::span<const float>(w.out).subspan(row * width, width));
    }
    for (int64_t pos : q.read_positions) results[w.query].push_back(w.scores.at(pos));
    if (use_cache) {
      Insert(Entry{std::move(w.session), q.tokens, reducer_key, std::move(w.scores)});
    }
  }
  return results;
}

EvalStats PrefixEvaluator::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

size_t PrefixEvaluator::cached_sequences() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace tandem::reward
