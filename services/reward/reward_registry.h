// The reward service's backend registry: the in-process RewardScorer.
// RewardSpec.backend picks a backend by name ("" = the default); backends
// are created on first use (a judge model is loaded only when a request
// asks for it). Validates every request (empty batch, unknown backend or
// option, invalid UTF-8) with INVALID_ARGUMENT naming the field, and keeps
// per-backend counters for metrics. Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "decoding/ports/reward_scorer.h"
#include "services/reward/model_backend_options.h"
#include "services/reward/programmatic_backends.h"
#include "services/reward/reward_backend.h"

namespace tandem::reward {

using decoding::RewardSpec;

struct RewardRegistryOptions {
  // LLM judge model (bundled name or GGUF path); empty = no `judge` backend.
  std::string judge_model = "smollm2-135m";
  // GGUF reward model with a score head (`gguf` backend); empty = none.
  std::string reward_model;
  int threads = 0;                       // compute threads of each model, 0 = all cores
  size_t kv_budget_bytes = 256u << 20;   // per model
  int64_t max_context = 0;               // per model, 0 = trained length
  size_t prefix_cache_entries = 64;      // per model, 0 = no prefix reuse
  // `similarity` backend's sentence embedder (runtime/embedding's BERT
  // encoder: a bundled name or a model folder), loaded on first use; empty =
  // no similarity backend. `embedder`, when set, is used instead (tests).
  std::string similarity_embedder = "all-minilm-l6-v2";
  EmbedderFactory embedder;
  // Backend of requests that name none.
  std::string default_backend = "judge";
  // Extra backends by name (tests, scripted rewards); they win over built-ins.
  std::map<std::string, std::function<absl::StatusOr<std::unique_ptr<RewardBackend>>()>> extra;
};

// Cumulative counters of one backend.
struct BackendStats {
  int64_t calls = 0;   // Score + ScoreSteps calls that reached the backend
  int64_t items = 0;   // items scored (steps for ScoreSteps)
  int64_t errors = 0;  // calls that returned an error
  EvalStats eval;      // model work (judge, gguf)
};

class RewardRegistry final : public decoding::RewardScorer {
 public:
  explicit RewardRegistry(RewardRegistryOptions options);
  ~RewardRegistry() override;

  absl::StatusOr<std::vector<float>> Score(const RewardSpec& spec, std::span<const RewardItem> items) override;
  absl::StatusOr<std::vector<float>> ScoreSteps(const RewardSpec& spec, std::string_view prompt,
                                                std::span<const std::string> steps) override;
  std::vector<std::string> Backends() const override;

  const std::string& default_backend() const { return options_.default_backend; }
  // The backend a request runs on: spec.backend, or the default when empty.
  const std::string& BackendName(const RewardSpec& spec) const {
    return spec.backend.empty() ? options_.default_backend : spec.backend;
  }
  // Whether a backend has a process mode (loads the backend if needed).
  absl::StatusOr<bool> SupportsSteps(const std::string& backend);
  // Whether ScoreSteps works for `backend`, without loading it (built-in
  // model backends: yes; extra backends: once loaded, what they say).
  bool HasStepMode(const std::string& backend) const;
  // Counters of every backend created so far.
  std::map<std::string, BackendStats> Stats() const;

 private:
  using Factory = std::function<absl::StatusOr<std::unique_ptr<RewardBackend>>()>;
  struct Slot {
    Factory factory;
    std::unique_ptr<RewardBackend> backend;  // created once under create_mu, then shared
    absl::Mutex create_mu;                   // one creation at a time per backend
    // backend.get() once created: lets Stats() read it without waiting for
    // a model load in progress under create_mu.
    std::atomic<RewardBackend*> ready{nullptr};
    BackendStats stats;                      // guarded by RewardRegistry::stats_mu_
  };

  absl::StatusOr<RewardBackend*> Resolve(const RewardSpec& spec, bool steps, std::string* name);
  void Record(const std::string& name, int64_t items, bool ok);

  RewardRegistryOptions options_;
  std::map<std::string, std::unique_ptr<Slot>> slots_;  // fixed after construction
  mutable absl::Mutex stats_mu_;
};

}  // namespace tandem::reward
