// Runs token sequences through a runtime::Model and reduces chosen output rows
// (logits or the final hidden state) to scores, reusing the KV state of
// earlier sequences: an LRU cache of sessions keyed by their tokens. A query
// forks the cached session with the longest common token prefix (KV pages
// are shared copy-on-write), truncates it to that prefix and forwards only
// the remaining tokens; scores already read inside the reused prefix come
// from the cache. Several queries are forwarded in one batched pass, and a
// prefix shared by the queries of one batch (best-of-N candidates, ARGS's k
// continuations) is forwarded once first.
//
// Results do not depend on the cache: the kernels are batch- and
// chunk-invariant, so a row computed after a fork equals the row of a full
// recomputation bit for bit (tests/services/reward checks this).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/model/model.h"
#include "services/reward/reward_backend.h"

namespace tandem::reward {

enum class OutputKind { kLogits, kHidden };

struct EvalQuery {
  std::vector<int32_t> tokens;
  // Ascending indices into tokens: the score of the output row after
  // tokens[p] (the model's view of the sequence up to and including p).
  std::vector<int64_t> read_positions;
};

// Reduces one output row (vocab_size logits or n_embd hidden floats).
using RowReducer = std::function<float(std::span<const float> row)>;

class PrefixEvaluator {
 public:
  // cache_entries = 0 disables the cache.
  PrefixEvaluator(runtime::Model& model, OutputKind kind, size_t cache_entries);
  ~PrefixEvaluator();

  // scores[q][j] = reducer(row after queries[q].tokens[read_positions[j]]).
  // `reducer_key` names the reducer's configuration: cached scores are
  // reused only under the same key. use_cache = false computes everything
  // from scratch and leaves the cache alone (benchmarks, tests).
  // InvalidArgument when a query is empty or longer than the model's context.
  absl::StatusOr<std::vector<std::vector<float>>> Run(std::span<const EvalQuery> queries, const RowReducer& reducer,
                                                      const std::string& reducer_key, bool use_cache = true);

  // Tokens of `tokens` whose KV (and scores at `read_positions`) the cache
  // already holds under reducer_key; tokens.size() means a full hit.
  int64_t Reusable(const EvalQuery& query, const std::string& reducer_key);

  EvalStats stats() const;
  size_t cached_sequences() const;
  runtime::Model& model() { return model_; }

 private:
  struct Entry {
    std::unique_ptr<runtime::Session> session;
    std::vector<int32_t> tokens;
    std::string key;
    std::map<int64_t, float> scores;  // read position -> score
  };
  using EntryList = std::list<Entry>;  // front = most recently used
  struct Plan {
    EntryList::iterator base;  // end() = none
    int64_t reuse = 0;
  };

  Plan PlanQuery(const EvalQuery& q, const std::string& key, bool use_cache);
  // A session holding the plan's first `reuse` tokens: a copy-on-write fork
  // of the plan's cached base truncated to them, or a new empty session.
  absl::StatusOr<std::unique_ptr<runtime::Session>> StartSession(const Plan& plan);
  absl::Status ForwardWithEviction(std::vector<runtime::ForwardItem>& items);
  void Insert(Entry entry);

  runtime::Model& model_;
  const OutputKind kind_;
  const size_t capacity_;
  mutable absl::Mutex mu_;  // serializes Model::Forward and guards the cache
  EntryList entries_;
  EvalStats stats_;
};

}  // namespace tandem::reward
