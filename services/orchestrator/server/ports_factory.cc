#include "services/orchestrator/server/ports_factory.h"

#include "absl/strings/str_cat.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model_store/model_store.h"
#include "services/common/address.h"
#include "services/common/credentials.h"
#include "services/model_host/model_host.h"
#include "decoding/drafters/ngram_drafter.h"
#include "decoding/local/runtime_language_model.h"
#include "services/orchestrator/remote/remote_drafter.h"
#include "services/orchestrator/remote/remote_reward_scorer.h"
#include "services/orchestrator/remote/remote_retriever.h"
#include "services/orchestrator/remote/remote_verifier.h"
#include "services/orchestrator/remote/remote_vocabulary.h"
#include "services/orchestrator/server/inprocess_ports.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {
namespace {

ModelDescription Describe(const tandem::v1::ModelInfo& info) {
  ModelDescription d;
  d.name = info.name();
  d.arch = info.arch();
  d.vocab_size = info.vocab_size();
  d.context_length = info.context_length();
  d.eos_token_id = info.eos_token_id();
  d.role = info.role();
  d.parameters = static_cast<int64_t>(info.parameters());
  return d;
}

// Per-request clients: the same channels, bound to one cancellable scope.
class RemoteRequestPorts : public RequestPorts {
 public:
  RemoteRequestPorts(const RemoteVerifier& target, const RemoteDrafter* draft, Drafter* ngram,
                     const RemoteRetriever* retrieval, const RemoteRewardScorer* scorer)
      : scope_(std::make_shared<CallScope>()) {
    if (scorer != nullptr) {
      reward_ = scorer->WithScope(scope_);
      reward = reward_.get();
    }
    if (retrieval != nullptr) {
      retriever_ = retrieval->WithScope(scope_);
      retriever = retriever_.get();
    }
    target_ = target.WithScope(scope_);
    verifier = target_.get();
    if (draft != nullptr) {
      draft_ = draft->WithScope(scope_);
      drafters["model"] = draft_.get();
    }
    drafters["ngram"] = ngram;
  }
  void Cancel() override { scope_->Cancel(); }
  void SetDeadline(std::chrono::system_clock::time_point deadline) override { scope_->SetDeadline(deadline); }

 private:
  std::shared_ptr<CallScope> scope_;
  std::unique_ptr<RemoteVerifier> target_;
  std::unique_ptr<RemoteDrafter> draft_;
  std::unique_ptr<RemoteRetriever> retriever_;
  std::unique_ptr<RemoteRewardScorer> reward_;
};

// Where an orchestrator's `target`/`draft` reference points inside the
// config, or nullptr for a host:port outside it.
const services::ServiceConfig* Referenced(const services::DeploymentConfig& d, const std::string& ref) {
  return ref.empty() ? nullptr : d.Find(ref);
}

}  // namespace

absl::StatusOr<std::unique_ptr<GenerationPorts>> BuildRemotePorts(const RemotePortsOptions& o) {
  if (o.default_drafter == "model" && o.draft_address.empty()) {
    return absl::InvalidArgumentError("draft: drafter 'model' needs a draft service");
  }
  auto ports = std::make_unique<GenerationPorts>();
  ports->speculation_costs = std::make_shared<decoding::spec::SpeculationCosts>();
  ports->mode = "remote";
  RemoteOptions connect;
  connect.credentials = o.credentials;
  auto target = RemoteVerifier::Connect(o.target_address, connect);
  if (!target.ok()) return target.status();
  std::shared_ptr<RemoteVerifier> verifier = std::move(*target);
  ports->owned.push_back(verifier);
  ports->verifier = verifier.get();
  ports->target = Describe(verifier->info());

  std::shared_ptr<const Vocabulary> text;
  if (!o.tokenizer_model.empty()) {
    auto path = runtime::ResolveModelPath(o.tokenizer_model);
    if (!path.ok()) return path.status();
    auto file = gguf::GgufFile::Open(*path);
    if (!file.ok()) return file.status();
    auto tok = tokenizer::Tokenizer::FromGguf(**file);
    if (!tok.ok()) return tok.status();
    if ((*tok)->vocab_size() != ports->target.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("model: tokenizer of ", *path, " has ", (*tok)->vocab_size(),
                                                     " tokens, the target ", ports->target.vocab_size));
    }
    std::shared_ptr<tokenizer::Tokenizer> shared_tok = std::move(*tok);
    ports->owned.push_back(shared_tok);
    ports->tokenizer = shared_tok.get();
    text = std::make_shared<decoding::TokenizerVocabulary>(*shared_tok);
  }
  auto vocab = std::make_shared<RemoteVocabulary>(verifier->info(), text);
  ports->owned.push_back(vocab);
  ports->vocabulary = vocab.get();

  decoding::NgramDrafterOptions ngram_options;
  ngram_options.vocab_size = ports->target.vocab_size;
  ngram_options.is_end_of_generation = [v = vocab.get()](int32_t t) { return v->IsEndOfGeneration(t); };
  auto ngram = std::make_shared<decoding::NgramDrafter>(ngram_options);
  ports->owned.push_back(ngram);
  ports->drafters["ngram"] = ngram.get();

  std::shared_ptr<RemoteDrafter> draft;
  if (!o.draft_address.empty()) {
    auto connected = RemoteDrafter::Connect(o.draft_address, connect);
    if (!connected.ok()) return connected.status();
    draft = std::move(*connected);
    if (draft->info().vocab_size() != ports->target.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("draft: the draft's vocabulary (", draft->info().vocab_size(),
                                                     ") differs from the target's (", ports->target.vocab_size, ")"));
    }
    ports->owned.push_back(draft);
    ports->drafters["model"] = draft.get();
    // Two services on one host share its processors (separate hosts, or
    // separate pods in Kubernetes, do not).
    ports->draft_shares_compute = services::OnSameHost(o.draft_address, o.target_address);
    ports->drafts.push_back(Describe(draft->info()));
  }
  std::shared_ptr<RemoteRetriever> retrieval;
  if (!o.retrieval_address.empty()) {
    auto connected = RemoteRetriever::Connect(o.retrieval_address, absl::Seconds(120), o.credentials);
    if (!connected.ok()) return connected.status();
    retrieval = std::move(*connected);
    ports->owned.push_back(retrieval);
    ports->retriever = retrieval.get();
  }
  std::shared_ptr<RemoteRewardScorer> reward;
  if (!o.reward_address.empty()) {
    auto connected = RemoteRewardScorer::Connect(o.reward_address, connect);
    if (!connected.ok()) return connected.status();
    reward = std::move(*connected);
    ports->owned.push_back(reward);
    ports->reward = reward.get();
  }
  ports->default_drafter = o.default_drafter;
  ports->per_request = [verifier, draft, ngram = ngram.get(), retrieval,
                        reward]() -> absl::StatusOr<std::unique_ptr<RequestPorts>> {
    return std::make_unique<RemoteRequestPorts>(*verifier, draft.get(), ngram, retrieval.get(), reward.get());
  };
  return ports;
}

absl::StatusOr<std::unique_ptr<GenerationPorts>> BuildPortsFromConfig(
    const services::DeploymentConfig& d, const services::ServiceConfig& orch, bool all_in_one) {
  const std::string drafter(services::DrafterKindName(orch.drafter));
  const std::string default_drafter = orch.drafter == services::DrafterKind::kNone ? "" : drafter;
  if (!all_in_one) {
    RemotePortsOptions o;
    auto credentials = services::ChannelCredentialsFor(d, orch);
    if (!credentials.ok()) return credentials.status();
    o.credentials = *std::move(credentials);
    auto target = d.ResolveAddress(orch.target);
    if (!target.ok()) return target.status();
    o.target_address = *target;
    if (orch.drafter == services::DrafterKind::kModel) {
      auto draft = d.ResolveAddress(orch.draft);
      if (!draft.ok()) return draft.status();
      o.draft_address = *draft;
    }
    if (!orch.model.empty() || !orch.model_path.empty()) {
      auto path = services::ResolveServiceModelPath(orch, d);
      if (!path.ok()) return path.status();
      o.tokenizer_model = *path;
    }
    o.default_drafter = default_drafter;
    if (!orch.reward.empty()) {
      auto reward = d.ResolveAddress(orch.reward);
      if (!reward.ok()) return reward.status();
      o.reward_address = *reward;
    }
    if (!orch.retrieval.empty()) {
      auto retrieval = d.ResolveAddress(orch.retrieval);
      if (!retrieval.ok()) return retrieval.status();
      o.retrieval_address = *retrieval;
    }
    return BuildRemotePorts(o);
  }

  InProcessPortsOptions o;
  const services::ServiceConfig* target = Referenced(d, orch.target);
  const services::ServiceConfig& model_entry = target != nullptr ? *target : orch;
  auto target_path = services::ResolveServiceModelPath(model_entry, d);
  if (!target_path.ok()) return target_path.status();
  o.target_model = *target_path;
  o.target_name = model_entry.model.empty() ? *target_path : model_entry.model;
  o.threads = model_entry.threads;
  o.device = model_entry.device;
  o.kv_budget_bytes = static_cast<size_t>(model_entry.kv_budget_mb) << 20;
  if (orch.drafter == services::DrafterKind::kModel) {
    const services::ServiceConfig* draft = Referenced(d, orch.draft);
    if (draft == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("services.", orch.name, ".draft: all-in-one needs a draft entry of this config, got '", orch.draft, "'"));
    }
    auto draft_path = services::ResolveServiceModelPath(*draft, d);
    if (!draft_path.ok()) return draft_path.status();
    o.draft_model = *draft_path;
    o.draft_name = draft->model.empty() ? *draft_path : draft->model;
    o.draft_head_vocab = draft->head_vocab;
    o.draft_requantize = draft->requantize;
  }
  o.default_drafter = default_drafter;
  // All-in-one reward scoring loads the referenced reward entry's judge and
  // reward model in this process (else the judge is the target model).
  if (const services::ServiceConfig* reward = Referenced(d, orch.reward); reward != nullptr) {
    auto judge = services::ResolveServiceModelPath(*reward, d);
    if (!judge.ok()) return judge.status();
    o.reward_judge_model = *judge;
    o.reward_model = reward->reward_model;
  }
  // All-in-one retrieval runs in this process with the referenced retrieval
  // entry's embedder, and searches its collections read-only.
  if (const services::ServiceConfig* retrieval = Referenced(d, orch.retrieval); retrieval != nullptr) {
    o.retrieval_embedder = retrieval->embedder;
    o.retrieval_data_dir = retrieval->data_dir;
  }
  return BuildInProcessPorts(o);
}

}  // namespace tandem::orchestrator::server
