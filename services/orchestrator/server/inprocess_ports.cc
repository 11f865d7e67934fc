#include "services/orchestrator/server/inprocess_ports.h"

#include "absl/strings/str_cat.h"
#include "runtime/embedding/bert_embedder.h"
#include "runtime/model/model.h"
#include "runtime/model_store/model_store.h"
#include "decoding/batching/batched_model.h"
#include "decoding/drafters/ngram_drafter.h"
#include "services/retrieval/local_retriever.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/local/runtime_language_model.h"
#include "services/reward/reward_registry.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {
namespace {

// The model behind a BatchingLanguageModel, so that concurrent requests
// (and a drafter sharing the target's weights) merge into one forward pass.
struct LoadedModel {
  std::unique_ptr<batching::BatchedModel> batched;
  runtime::Model* model = nullptr;
  decoding::LanguageModel* lm = nullptr;
};

absl::StatusOr<std::shared_ptr<LoadedModel>> Load(const std::string& name, const InProcessPortsOptions& o,
                                                  int64_t head_vocab = 0,
                                                  std::optional<kernels::GgmlType> requantize = std::nullopt) {
  auto path = runtime::ResolveModelPath(name);
  if (!path.ok()) return path.status();
  runtime::ModelOptions mo;
  mo.n_threads = o.threads;
  mo.device = o.device;
  mo.kv_budget_bytes = o.kv_budget_bytes;
  mo.max_context = o.max_context;
  mo.head_vocab = head_vocab;
  mo.requantize = requantize;
  auto batched = batching::BatchedModel::Load(*path, mo);
  if (!batched.ok()) return batched.status();
  auto loaded = std::make_shared<LoadedModel>();
  loaded->batched = std::move(*batched);
  loaded->model = &loaded->batched->model();
  loaded->lm = &loaded->batched->lm();
  return loaded;
}

ModelDescription Describe(const runtime::Model& m, const std::string& name) {
  ModelDescription d;
  d.name = name;
  d.arch = m.config().arch;
  d.vocab_size = m.config().vocab_size;
  d.context_length = m.max_context();
  d.eos_token_id = m.tokenizer().eos_id();
  d.parameters = m.parameter_count();
  return d;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GenerationPorts>> BuildInProcessPorts(const InProcessPortsOptions& o) {
  if (o.default_drafter != "" && o.default_drafter != "ngram" && o.default_drafter != "model") {
    return absl::InvalidArgumentError(absl::StrCat("drafter: unknown drafter '", o.default_drafter, "'"));
  }
  if (o.default_drafter == "model" && o.draft_model.empty()) {
    return absl::InvalidArgumentError("drafter: 'model' needs a draft model");
  }
  auto ports = std::make_unique<GenerationPorts>();
  ports->speculation_costs = std::make_shared<decoding::spec::SpeculationCosts>();
  ports->draft_shares_compute = true;  // one process, one set of processors
  ports->mode = "all-in-one";

  auto target = Load(o.target_model, o);
  if (!target.ok()) return target.status();
  ports->owned.push_back(*target);
  runtime::Model& tm = *(*target)->model;
  ports->target_threads = tm.n_threads();
  ports->target = Describe(tm, o.target_name.empty() ? o.target_model : o.target_name);

  auto vocab = std::make_shared<decoding::TokenizerVocabulary>(tm.tokenizer());
  ports->owned.push_back(vocab);
  ports->vocabulary = vocab.get();
  ports->tokenizer = &tm.tokenizer();
  auto verifier = std::make_shared<decoding::ModelVerifier>(*(*target)->lm);
  ports->owned.push_back(verifier);
  ports->verifier = verifier.get();

  auto is_eos = [&tok = tm.tokenizer()](int32_t t) { return tok.IsEndOfGeneration(t); };
  decoding::NgramDrafterOptions ngram_options;
  ngram_options.vocab_size = tm.config().vocab_size;
  ngram_options.is_end_of_generation = is_eos;
  auto ngram = std::make_shared<decoding::NgramDrafter>(ngram_options);
  ports->owned.push_back(ngram);
  ports->drafters["ngram"] = ngram.get();

  if (!o.draft_model.empty()) {
    std::shared_ptr<LoadedModel> draft = *target;
    if (o.draft_model != o.target_model) {
      auto loaded = Load(o.draft_model, o, o.draft_head_vocab, o.draft_requantize);
      if (!loaded.ok()) return loaded.status();
      draft = *loaded;
      ports->owned.push_back(draft);
      if (draft->model->config().vocab_size != tm.config().vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "draft_model: vocabulary of ", draft->model->config().vocab_size,
            " tokens differs from the target's ", tm.config().vocab_size));
      }
    }
    ports->drafts.push_back(Describe(*draft->model, o.draft_name.empty() ? o.draft_model : o.draft_name));
    auto model_drafter = std::make_shared<decoding::ModelDrafter>(*draft->lm, is_eos);
    ports->owned.push_back(model_drafter);
    ports->drafters["model"] = model_drafter.get();
  }
  ports->default_drafter = o.default_drafter;
  reward::RewardRegistryOptions ro;
  ro.judge_model = o.reward_judge_model.empty() ? o.target_model : o.reward_judge_model;
  ro.reward_model = o.reward_model;
  ro.threads = o.threads;
  auto scorer = std::make_shared<reward::RewardRegistry>(std::move(ro));
  ports->owned.push_back(scorer);
  ports->reward = scorer.get();

  // The target's tokenizer, kept alive by the loaded model it belongs to.
  std::shared_ptr<const tokenizer::Tokenizer> target_tokenizer(*target, &tm.tokenizer());
  auto retriever = std::make_shared<retrieval::LocalRetriever>(
      [target_tokenizer, o]() -> absl::StatusOr<std::shared_ptr<retrieval::RetrievalEngine>> {
        embedding::BertEmbedderOptions eo;
        eo.threads = o.threads;
        auto embedder = embedding::LoadNamedBertEmbedder(o.retrieval_embedder, eo);
        if (!embedder.ok()) return embedder.status();
        retrieval::RetrievalEngineOptions ro;
        ro.data_dir = o.retrieval_data_dir;
        ro.read_only = true;
        auto engine = retrieval::RetrievalEngine::Open(
            target_tokenizer, std::shared_ptr<embedding::Embedder>(std::move(*embedder)), ro);
        if (!engine.ok()) return engine.status();
        return std::shared_ptr<retrieval::RetrievalEngine>(std::move(*engine));
      });
  ports->owned.push_back(retriever);
  ports->retriever = retriever.get();
  return ports;
}

}  // namespace tandem::orchestrator::server
