// What a strategy is to the rest of tandem: a name, a description, its
// parameter table, the ports a request needs (so the CLI loads a draft model
// only when it will be used and a deployment without a reward scorer fails
// early), and a run function over those ports. Each strategy folder
// (strategies/NAME/) defines one with DefineStrategy<Options> and the
// registry (strategy_registry.cc) lists it: nothing else in tandem compares
// strategy names.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "decoding/generation/generation.h"
#include "decoding/ports/generation_ports.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/registry/param_table.h"
#include "decoding/spec/request_stats.h"

namespace tandem::decoding {

// The deployment parts a request of a strategy uses besides the target.
struct PortNeeds {
  bool draft_model = false;   // the "model" drafter (a draft model or service)
  bool reward = false;        // a reward scorer (reward service / in-process registry)
  bool retriever = false;     // a retriever (retrieval service / in-process engine)
  bool long_context = false;  // reads the request's context (prompts rendered around it)
  // Reads the request's context as part of its prompt: the translation
  // renders the long-context template around the question (the prompt RAPID's
  // target reads, middle-truncated the same way) and the strategy runs on it.
  // A strategy with neither this nor long_context rejects a context.
  bool context_prompt = false;
};

// One run: the request and where its tokens go.
struct StrategyCall {
  const GenerationRequest& request;
  const GenerationPorts& ports;
  const Vocabulary& vocab;  // the target's, end-of-generation ignored with ignore_eos
  const StreamCallback& on_chunk;
  GenerationResult* result;
};

class StrategyDefinition;

// A strategy with its options parsed and checked: what one request runs.
class PreparedStrategy {
 public:
  PreparedStrategy() = default;  // empty: no strategy chosen yet
  PreparedStrategy(const StrategyDefinition* definition, std::shared_ptr<const void> options, PortNeeds needs)
      : definition_(definition), options_(std::move(options)), needs_(needs) {}
  const StrategyDefinition& definition() const { return *definition_; }
  std::string_view name() const;
  const PortNeeds& needs() const { return needs_; }
  // The options as the strategy's own struct (tests and benches; the type
  // must be the strategy's Options).
  template <typename Options>
  const Options& options() const {
    return *static_cast<const Options*>(options_.get());
  }

 private:
  const StrategyDefinition* definition_ = nullptr;
  std::shared_ptr<const void> options_;
  PortNeeds needs_;
};

class StrategyDefinition {
 public:
  virtual ~StrategyDefinition() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view description() const = 0;
  virtual std::vector<ParamInfo> params() const = 0;
  virtual bool HasParam(std::string_view name) const = 0;
  // Parses `params` (documented names only) into the strategy's options and
  // checks them together.
  virtual absl::StatusOr<PreparedStrategy> Prepare(const std::map<std::string, std::string>& params) const = 0;
  // Runs on the ports; FAILED_PRECONDITION (from the strategy, naming what
  // is missing) when the deployment lacks a port it needs.
  virtual absl::Status Run(const PreparedStrategy& prepared, const StrategyCall& call) const = 0;
  // The statistics sections (beyond the common core) its requests report.
  virtual spec::StatsSections stats_sections() const = 0;
  // Whether it reports the target's logprobs of every token it emits
  // (GenerationRequest::logprobs); requests for them are refused otherwise.
  virtual bool logprobs() const = 0;
  // Whether its tokens go through the request's sampler (SamplingParams:
  // logit bias and penalties included); requests with a logit bias or
  // penalties are refused otherwise.
  virtual bool applies_sampling_edits() const = 0;
};

inline std::string_view PreparedStrategy::name() const { return definition_->name(); }

// The deployment's "model" drafter (a draft model or service), or
// FAILED_PRECONDITION saying how to configure one.
inline absl::StatusOr<Drafter*> RequireModelDrafter(const GenerationPorts& ports, std::string_view strategy) {
  Drafter* drafter = ports.FindDrafter("model");
  if (drafter == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        absl::string_view(strategy.data(), strategy.size()),
        ": this deployment has no draft model (drafter 'model'); configure one, e.g. "
        "`tandem generate --draft-model NAME` or a draft service"));
  }
  return drafter;
}

// The deployment's reward scorer, or FAILED_PRECONDITION naming the strategy.
inline absl::StatusOr<RewardScorer*> RequireRewardScorer(const GenerationPorts& ports, std::string_view strategy) {
  if (ports.reward == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("strategy '", absl::string_view(strategy.data(), strategy.size()),
                                                      "' needs a reward scorer, which this deployment lacks"));
  }
  return ports.reward;
}

// Weights of the deployment's draft model for FLOPs estimates (0 = unknown).
inline double DraftParameters(const GenerationPorts& ports) {
  return ports.drafts.empty() ? 0.0 : static_cast<double>(ports.drafts.front().parameters);
}

// How a strategy folder describes itself.
template <typename Options>
struct StrategySpecOf {
  std::string name;
  std::string description;
  ParamTable<Options> params;
  // Checks across parameters and derived values (e.g. min_gamma <= max_gamma);
  // null = none.
  std::function<absl::Status(Options&)> finish;
  std::function<PortNeeds(const Options&)> needs;
  // The sections of RequestStats the run fills (spec::StatsSection bits).
  spec::StatsSections stats = 0;
  // Every emitted token comes from a target verdict with its logprobs
  // (target_only, speculative). Not the strategies whose tokens are chosen
  // elsewhere (a drafter, a reward model, a candidate search).
  bool logprobs = false;
  // Chooses tokens from the target's raw top-k logits by its own rule and
  // temperature (ARGS, CARDS), not through the request's sampler, so the
  // request's logit bias and penalties cannot apply.
  bool own_token_rule = false;
  std::function<absl::Status(const Options&, const StrategyCall&)> run;
};

template <typename Options>
class TypedStrategy final : public StrategyDefinition {
 public:
  explicit TypedStrategy(StrategySpecOf<Options> spec) : spec_(std::move(spec)) {}
  std::string_view name() const override { return spec_.name; }
  std::string_view description() const override { return spec_.description; }
  std::vector<ParamInfo> params() const override { return spec_.params.Describe(); }
  bool HasParam(std::string_view name) const override { return spec_.params.Has(name); }

  absl::StatusOr<PreparedStrategy> Prepare(const std::map<std::string, std::string>& params) const override {
    auto options = std::make_shared<Options>();
    if (absl::Status s = spec_.params.Apply(spec_.name, params, options.get()); !s.ok()) return s;
    if (spec_.finish) {
      if (absl::Status s = spec_.finish(*options); !s.ok()) return s;
    }
    const PortNeeds needs = spec_.needs ? spec_.needs(*options) : PortNeeds{};
    return PreparedStrategy(this, std::move(options), needs);
  }

  absl::Status Run(const PreparedStrategy& prepared, const StrategyCall& call) const override {
    return spec_.run(prepared.options<Options>(), call);
  }
  spec::StatsSections stats_sections() const override { return spec_.stats; }
  bool logprobs() const override { return spec_.logprobs; }
  bool applies_sampling_edits() const override { return !spec_.own_token_rule; }

 private:
  StrategySpecOf<Options> spec_;
};

// The one object a strategy folder exports (a function-local static, built
// on first use and immutable after).
template <typename Options>
const StrategyDefinition& DefineStrategy(StrategySpecOf<Options> spec) {
  return *new TypedStrategy<Options>(std::move(spec));
}

}  // namespace tandem::decoding
