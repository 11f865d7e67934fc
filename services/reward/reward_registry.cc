#include "services/reward/reward_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/embedding/bert_embedder.h"
#include "runtime/tokenizer/unicode.h"
#include "services/reward/gguf_reward_backend.h"
#include "services/reward/judge_backend.h"
#include "services/reward/options.h"

namespace tandem::reward {
namespace {

absl::Status CheckUtf8(std::string_view text, const std::string& field) {
  if (!tokenizer::IsValidUtf8(text)) return absl::InvalidArgumentError(field + ": invalid UTF-8");
  return absl::OkStatus();
}

absl::Status CheckOptionsUtf8(const Options& options) {
  for (const auto& [key, value] : options) {
    if (!tokenizer::IsValidUtf8(key)) return absl::InvalidArgumentError("options: a key is invalid UTF-8");
    if (absl::Status s = CheckUtf8(value, "options." + key); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

RewardRegistry::RewardRegistry(RewardRegistryOptions options) : options_(std::move(options)) {
  auto add = [&](const std::string& name, Factory f) {
    auto slot = std::make_unique<Slot>();
    slot->factory = std::move(f);
    slots_[name] = std::move(slot);
  };
  auto model_options = [this](const std::string& model) {
    ModelBackendOptions m;
    m.model = model;
    m.threads = options_.threads;
    m.kv_budget_bytes = options_.kv_budget_bytes;
    m.max_context = options_.max_context;
    m.prefix_cache_entries = options_.prefix_cache_entries;
    return m;
  };
  add("math", [] { return absl::StatusOr<std::unique_ptr<RewardBackend>>(MakeMathBackend()); });
  add("regex", [] { return absl::StatusOr<std::unique_ptr<RewardBackend>>(MakeRegexBackend()); });
  add("keyword", [] { return absl::StatusOr<std::unique_ptr<RewardBackend>>(MakeKeywordBackend()); });
  add("length", [] { return absl::StatusOr<std::unique_ptr<RewardBackend>>(MakeLengthBackend()); });
  EmbedderFactory embedder = options_.embedder;
  if (!embedder && !options_.similarity_embedder.empty()) {
    embedder = [name = options_.similarity_embedder,
                threads = options_.threads]() -> absl::StatusOr<std::unique_ptr<embedding::Embedder>> {
      embedding::BertEmbedderOptions eo;
      eo.threads = threads;
      return embedding::LoadNamedBertEmbedder(name, eo);
    };
  }
  if (embedder) {
    add("similarity", [f = std::move(embedder)] {
      return absl::StatusOr<std::unique_ptr<RewardBackend>>(MakeSimilarityBackend(f));
    });
  }
  if (!options_.judge_model.empty()) {
    add("judge", [m = model_options(options_.judge_model)] { return MakeJudgeBackend(m); });
  }
  if (!options_.reward_model.empty()) {
    add("gguf", [m = model_options(options_.reward_model)] { return MakeGgufRewardBackend(m); });
  }
  for (auto& [name, factory] : options_.extra) add(name, factory);
}

RewardRegistry::~RewardRegistry() = default;

std::vector<std::string> RewardRegistry::Backends() const {
  std::vector<std::string> names;
  for (const auto& [name, slot] : slots_) names.push_back(name);
  return names;
}

absl::StatusOr<RewardBackend*> RewardRegistry::Resolve(const RewardSpec& spec, bool steps, std::string* name) {
  *name = BackendName(spec);
  auto it = slots_.find(*name);
  if (it == slots_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("backend: unknown reward backend '", *name, "' (known: ",
                                                   absl::StrJoin(Backends(), ", "), ")"));
  }
  if (absl::Status s = CheckOptionsUtf8(spec.options); !s.ok()) return s;
  Slot& slot = *it->second;
  RewardBackend* backend = nullptr;
  {
    absl::MutexLock lock(&slot.create_mu);
    if (slot.backend == nullptr) {
      auto made = slot.factory();
      if (!made.ok()) return made.status();
      slot.backend = std::move(*made);
      slot.ready.store(slot.backend.get(), std::memory_order_release);
    }
    backend = slot.backend.get();
  }
  const std::vector<std::string> known = backend->OptionNames();
  if (absl::Status s = CheckOptionNames(spec.options, known, *name); !s.ok()) return s;
  if (steps && !backend->SupportsSteps()) {
    return absl::InvalidArgumentError(absl::StrCat("backend: '", *name, "' has no process (step) mode; ",
                                                   "use judge or gguf for ScoreSteps"));
  }
  return backend;
}

absl::StatusOr<bool> RewardRegistry::SupportsSteps(const std::string& backend) {
  RewardSpec spec;
  spec.backend = backend;
  std::string name;
  auto b = Resolve(spec, false, &name);
  if (!b.ok()) return b.status();
  return (*b)->SupportsSteps();
}

void RewardRegistry::Record(const std::string& name, int64_t items, bool ok) {
  absl::MutexLock lock(&stats_mu_);
  BackendStats& s = slots_.at(name)->stats;
  ++s.calls;
  s.items += items;
  if (!ok) ++s.errors;
}

absl::StatusOr<std::vector<float>> RewardRegistry::Score(const RewardSpec& spec, std::span<const RewardItem> items) {
  if (items.empty()) return absl::InvalidArgumentError("items: empty batch (nothing to score)");
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string field = absl::StrCat("items[", i, "].");
    if (absl::Status s = CheckUtf8(items[i].prompt, field + "prompt"); !s.ok()) return s;
    if (absl::Status s = CheckUtf8(items[i].response, field + "response"); !s.ok()) return s;
    if (absl::Status s = CheckUtf8(items[i].reference, field + "reference"); !s.ok()) return s;
  }
  std::string name;
  auto backend = Resolve(spec, false, &name);
  if (!backend.ok()) return backend.status();
  auto scores = (*backend)->Score(spec.options, items);
  Record(name, static_cast<int64_t>(items.size()), scores.ok());
  if (scores.ok() && scores->size() != items.size()) {
    return absl::InternalError(absl::StrCat("backend ", name, " returned ", scores->size(), " scores for ",
                                            items.size(), " items"));
  }
  return scores;
}

absl::StatusOr<std::vector<float>> RewardRegistry::ScoreSteps(const RewardSpec& spec, std::string_view prompt,
                                                              std::span<const std::string> steps) {
  if (steps.empty()) return absl::InvalidArgumentError("steps: empty (nothing to score)");
  if (absl::Status s = CheckUtf8(prompt, "prompt"); !s.ok()) return s;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (absl::Status s = CheckUtf8(steps[i], absl::StrCat("steps[", i, "]")); !s.ok()) return s;
  }
  std::string name;
  auto backend = Resolve(spec, true, &name);
  if (!backend.ok()) return backend.status();
  auto scores = (*backend)->ScoreSteps(spec.options, prompt, steps);
  Record(name, static_cast<int64_t>(steps.size()), scores.ok());
  if (scores.ok() && scores->size() != steps.size()) {
    return absl::InternalError(absl::StrCat("backend ", name, " returned ", scores->size(), " scores for ",
                                            steps.size(), " steps"));
  }
  return scores;
}

bool RewardRegistry::HasStepMode(const std::string& backend) const {
  auto it = slots_.find(backend);
  if (it == slots_.end()) return false;
  if (!options_.extra.contains(backend) && (backend == "judge" || backend == "gguf")) return true;
  RewardBackend* b = it->second->ready.load(std::memory_order_acquire);
  return b != nullptr && b->SupportsSteps();
}

std::map<std::string, BackendStats> RewardRegistry::Stats() const {
  std::map<std::string, BackendStats> out;
  {
    absl::MutexLock lock(&stats_mu_);
    for (const auto& [name, slot] : slots_) out[name] = slot->stats;
  }
  for (const auto& [name, slot] : slots_) {
    if (RewardBackend* b = slot->ready.load(std::memory_order_acquire); b != nullptr) out[name].eval = b->stats();
  }
  return out;
}

}  // namespace tandem::reward
