#include "runtime/embedding/bert_embedder.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/thread_pool.h"
#include "runtime/embedding/bert_config.h"
#include "runtime/embedding/bert_model.h"
#include "runtime/embedding/wordpiece.h"
#include "runtime/model_store/model_store.h"

namespace tandem::embedding {
namespace {

absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

class BertEmbedder final : public Embedder {
 public:
  BertEmbedder(std::string name, std::unique_ptr<WordPieceTokenizer> tokenizer, std::unique_ptr<BertModel> model,
               int threads, int max_tokens, int max_batch_tokens)
      : name_(std::move(name)),
        tokenizer_(std::move(tokenizer)),
        model_(std::move(model)),
        pool_(threads),
        max_tokens_(max_tokens),
        max_batch_tokens_(max_batch_tokens) {}

  std::string_view name() const override { return name_; }
  int dim() const override { return model_->config().hidden_size; }
  int max_tokens() const override { return max_tokens_; }

  absl::StatusOr<std::vector<float>> Embed(std::span<const std::string> texts) override {
    std::vector<std::vector<int32_t>> ids;
    ids.reserve(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      absl::StatusOr<std::vector<int32_t>> t = tokenizer_->Encode(texts[i], max_tokens_);
      if (!t.ok()) {
        return absl::Status(t.status().code(), absl::StrCat("embed: texts[", i, "]: ", t.status().message()));
      }
      ids.push_back(std::move(*t));
    }
    const size_t dim = static_cast<size_t>(this->dim());
    std::vector<float> out(texts.size() * dim);
    // The thread pool runs one job at a time: concurrent callers take turns
    // for the forward passes (their tokenization above ran in parallel).
    std::lock_guard<std::mutex> lock(mu_);
    size_t begin = 0;
    while (begin < ids.size()) {
      // Texts in order until the token budget is used (at least one text).
      size_t end = begin;
      size_t tokens = 0;
      while (end < ids.size() && (end == begin || tokens + ids[end].size() <= static_cast<size_t>(max_batch_tokens_))) {
        tokens += ids[end].size();
        ++end;
      }
      const std::span<const std::vector<int32_t>> batch(ids.data() + begin, end - begin);
      if (absl::Status s = model_->Embed(batch, pool_, out.data() + begin * dim); !s.ok()) return s;
      begin = end;
    }
    return out;
  }

 private:
  const std::string name_;
  const std::unique_ptr<WordPieceTokenizer> tokenizer_;
  const std::unique_ptr<BertModel> model_;
  std::mutex mu_;
  kernels::ThreadPool pool_;  // guarded by mu_
  const int max_tokens_;
  const int max_batch_tokens_;
};

absl::Status RequireFile(const std::filesystem::path& p) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(p, ec)) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("embedder: '", p.string(), "' is missing (fetch the bundled model with: "
                                          "scripts/fetch_models.py ", A(kDefaultEmbedderModel), ")"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Embedder>> LoadBertEmbedder(const std::string& dir,
                                                           const BertEmbedderOptions& options) {
  if (options.threads < 0 || options.threads > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("embedder: threads = ", options.threads, " outside [0, 1024]"));
  }
  if (options.max_tokens < 2) {
    return absl::InvalidArgumentError(absl::StrCat("embedder: max_tokens = ", options.max_tokens, " < 2"));
  }
  if (options.max_batch_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("embedder: max_batch_tokens = ", options.max_batch_tokens, " < 1"));
  }
  const std::filesystem::path root(dir);
  for (const char* f : {"config.json", "vocab.txt", "model.safetensors"}) {
    if (absl::Status s = RequireFile(root / f); !s.ok()) return s;
  }
  absl::StatusOr<BertConfig> config = LoadBertConfig((root / "config.json").string());
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<WordPieceTokenizer>> tokenizer =
      WordPieceTokenizer::FromVocabFile((root / "vocab.txt").string());
  if (!tokenizer.ok()) return tokenizer.status();
  if ((*tokenizer)->vocab_size() != config->vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("embedder: vocab.txt has ", (*tokenizer)->vocab_size(),
                                                   " tokens but config.json vocab_size = ", config->vocab_size));
  }
  absl::StatusOr<std::unique_ptr<BertModel>> model = BertModel::Load((root / "model.safetensors").string(), *config);
  if (!model.ok()) return model.status();
  const int threads =
      options.threads > 0 ? options.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int max_tokens = std::min(options.max_tokens, config->max_position_embeddings);
  std::string name = root.filename().string();
  if (name.empty()) name = root.parent_path().filename().string();  // "dir/" spelled with a slash
  return std::unique_ptr<Embedder>(new BertEmbedder(std::move(name), std::move(*tokenizer), std::move(*model),
                                                    threads, max_tokens, options.max_batch_tokens));
}

absl::StatusOr<std::string> ResolveEmbedderModelDir(std::string_view name_or_dir) {
  if (name_or_dir.empty()) return absl::InvalidArgumentError("embedder: empty model name");
  std::error_code ec;
  const std::string as_dir(name_or_dir);
  if (std::filesystem::is_directory(as_dir, ec)) return as_dir;
  if (name_or_dir == kDefaultEmbedderModel) {
    const std::string dir = absl::StrCat(runtime::ModelCacheDir(), "/", A(kDefaultEmbedderModel));
    if (std::filesystem::is_directory(dir, ec)) return dir;
    return absl::NotFoundError(absl::StrCat("embedder: model '", A(kDefaultEmbedderModel), "' is not in the cache (",
                                            dir, "); fetch it with: scripts/fetch_models.py ",
                                            A(kDefaultEmbedderModel)));
  }
  return absl::NotFoundError(absl::StrCat("embedder: '", as_dir, "' is neither a model folder nor the bundled model '",
                                          A(kDefaultEmbedderModel), "'"));
}

absl::StatusOr<std::unique_ptr<Embedder>> LoadNamedBertEmbedder(std::string_view name_or_dir,
                                                                const BertEmbedderOptions& options) {
  auto dir = ResolveEmbedderModelDir(name_or_dir.empty() ? kDefaultEmbedderModel : name_or_dir);
  if (!dir.ok()) return dir.status();
  return LoadBertEmbedder(*dir, options);
}

}  // namespace tandem::embedding
