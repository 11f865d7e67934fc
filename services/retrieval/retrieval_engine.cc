#include "services/retrieval/retrieval_engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "runtime/tokenizer/unicode.h"
#include "runtime/util/absl_compat.h"
#include "services/retrieval/chunker.h"

namespace tandem::retrieval {

namespace {

double MillisSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

RetrievedChunk MakeChunk(const CollectionData& data, const SearchHit& hit, bool with_document) {
  const ChunkRecord& c = data.chunks[static_cast<size_t>(hit.chunk)];
  RetrievedChunk out;
  out.text = c.text;
  out.position = hit.chunk;
  out.token_offset = c.token_offset;
  out.token_count = c.token_count;
  out.score = hit.score;
  if (with_document) out.document_id = data.documents[static_cast<size_t>(c.document)].id;
  return out;
}

}  // namespace

absl::Status ValidateText(std::string_view text, std::string_view field, size_t max_bytes) {
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": must not be empty"));
  if (text.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", text.size(), " bytes, at most ", max_bytes));
  }
  if (!tokenizer::IsValidUtf8(text)) return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": invalid UTF-8"));
  return absl::OkStatus();
}

absl::Status ValidateChunkTokens(int chunk_tokens, std::string_view field) {
  if (chunk_tokens != 0 && (chunk_tokens < kMinChunkTokens || chunk_tokens > kMaxChunkTokens)) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": must be in [", kMinChunkTokens, ", ",
                                                   kMaxChunkTokens, "] (0 = default), got ", chunk_tokens));
  }
  return absl::OkStatus();
}

absl::Status ValidateSearchParams(const SearchParams& params) {
  if (absl::Status s = ValidateText(params.query, "query", kMaxQueryBytes); !s.ok()) return s;
  if (params.top_k < 1 || params.top_k > kMaxTopK) {
    return absl::InvalidArgumentError(absl::StrCat("top_k: must be in [1, ", kMaxTopK, "], got ", params.top_k));
  }
  if (params.min_score.has_value() && std::isnan(*params.min_score)) {
    return absl::InvalidArgumentError("min_score: must not be NaN");
  }
  return absl::OkStatus();
}

CollectionInfo InfoOf(const CollectionData& data) {
  CollectionInfo info;
  info.name = data.name;
  info.documents = data.documents.size();
  info.chunks = data.chunks.size();
  info.tokens = static_cast<uint64_t>(data.tokens);
  info.vectors = data.vector_chunk.size();
  info.chunk_tokens = data.config.chunk_tokens;
  info.embed_window_tokens = data.config.embed_window_tokens;
  info.embedder = data.config.embedder;
  info.dim = data.config.dim;
  info.index_type = data.index != nullptr ? std::string(data.index->type()) : "flat";
  info.generation = data.generation;
  info.disk_bytes = data.disk_bytes;
  return info;
}

// ---- Ingestion ----

absl::Status Ingestion::Add(std::string id, std::string_view text) {
  if (committed_) return absl::FailedPreconditionError("ingestion already committed");
  if (!id.empty()) {
    if (absl::Status s = ValidateText(id, "documents.id", kMaxDocumentIdBytes); !s.ok()) return s;
    for (const PreparedDocument& d : docs_) {
      if (d.record.id == id) {
        return absl::AlreadyExistsError(absl::StrCat("documents.id: '", id, "' appears twice in this stream"));
      }
    }
  }
  if (absl::Status s = ValidateText(text, absl::StrCat("documents[", docs_.size(), "].text")); !s.ok()) return s;
  auto doc = PrepareDocument(engine_.tokenizer(), &engine_.embedder(), config_, std::move(id), text);
  if (!doc.ok()) return doc.status();
  chunks_ += doc->chunks.size();
  tokens_ += static_cast<uint64_t>(doc->record.tokens);
  docs_.push_back(std::move(*doc));
  return absl::OkStatus();
}

absl::StatusOr<CollectionInfo> Ingestion::Commit() {
  if (committed_) return absl::FailedPreconditionError("ingestion already committed");
  committed_ = true;
  return engine_.Commit(collection_, docs_);
}

// ---- RetrievalEngine ----

absl::StatusOr<std::unique_ptr<RetrievalEngine>> RetrievalEngine::Open(
    std::shared_ptr<const tokenizer::Tokenizer> tokenizer, std::shared_ptr<embedding::Embedder> embedder,
    RetrievalEngineOptions options) {
  if (tokenizer == nullptr || embedder == nullptr) {
    return absl::InvalidArgumentError("retrieval engine: needs a tokenizer and an embedder");
  }
  if (absl::Status s = ValidateChunkTokens(options.default_chunk_tokens, "default_chunk_tokens"); !s.ok()) return s;
  if (options.default_chunk_tokens == 0) options.default_chunk_tokens = 512;
  if (options.embed_window_tokens < 0) {
    return absl::InvalidArgumentError("embed_window_tokens: must be >= 0 (0 = one vector per chunk)");
  }
  std::unique_ptr<RetrievalEngine> engine(
      new RetrievalEngine(std::move(tokenizer), std::move(embedder), std::move(options)));
  if (!engine->options_.data_dir.empty()) {
    auto store = CollectionStore::Open(engine->options_.data_dir, engine->options_.read_only);
    if (!store.ok()) return store.status();
    engine->store_ = std::move(*store);
    auto names = engine->store_->List();
    if (!names.ok()) return names.status();
    absl::MutexLock lock(&engine->mu_);
    for (const std::string& name : *names) {
      auto data = engine->store_->Load(name, engine->options_.index);
      if (!data.ok()) {
        return absl::Status(data.status().code(),
                            absl::StrCat("collection '", name, "': ", data.status().message()));
      }
      auto slot = std::make_shared<Slot>();
      {
        absl::MutexLock slot_lock(&slot->mu);
        slot->data = std::move(*data);
      }
      engine->collections_[name] = std::move(slot);
    }
  }
  return engine;
}

CollectionConfig RetrievalEngine::NewConfig(int chunk_tokens) const {
  CollectionConfig config;
  config.chunk_tokens = chunk_tokens == 0 ? options_.default_chunk_tokens : chunk_tokens;
  config.embed_window_tokens = options_.embed_window_tokens;
  config.embedder = std::string(embedder_->name());
  config.dim = embedder_->dim();
  return config;
}

absl::StatusOr<CollectionInfo> RetrievalEngine::CreateCollection(const std::string& name, int chunk_tokens) {
  if (absl::Status s = ValidateCollectionName(name, "name"); !s.ok()) return s;
  if (absl::Status s = ValidateChunkTokens(chunk_tokens, "chunk_tokens"); !s.ok()) return s;
  auto data = ExtendCollection(nullptr, name, NewConfig(chunk_tokens), {}, options_.index);
  if (!data.ok()) return data.status();
  absl::MutexLock lock(&mu_);
  if (collections_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("name: collection '", name, "' already exists"));
  }
  if (store_ != nullptr) {
    if (absl::Status s = store_->Create(**data); !s.ok()) return s;
  }
  CollectionInfo info = InfoOf(**data);
  auto slot = std::make_shared<Slot>();
  {
    absl::MutexLock slot_lock(&slot->mu);
    slot->data = std::move(*data);
  }
  collections_[name] = std::move(slot);
  return info;
}

absl::Status RetrievalEngine::DeleteCollection(const std::string& name) {
  if (absl::Status s = ValidateCollectionName(name, "name"); !s.ok()) return s;
  std::shared_ptr<Slot> slot;
  {
    absl::MutexLock lock(&mu_);
    auto it = collections_.find(name);
    if (it == collections_.end()) return absl::NotFoundError(absl::StrCat("name: collection '", name, "' not found"));
    slot = it->second;
    collections_.erase(it);
    // Removed from disk while still holding mu_: a CreateCollection of the
    // same name must not race with the rename of the old folder.
    absl::MutexLock commit_lock(&slot->commit_mu);
    {
      absl::MutexLock slot_lock(&slot->mu);
      slot->deleted = true;
    }
    if (store_ != nullptr) return store_->Remove(name);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<RetrievalEngine::Slot>> RetrievalEngine::FindSlot(const std::string& name) const {
  if (absl::Status s = ValidateCollectionName(name, "collection"); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = collections_.find(name);
  if (it == collections_.end()) {
    return absl::NotFoundError(absl::StrCat("collection: '", name, "' not found"));
  }
  return it->second;
}

absl::StatusOr<CollectionInfo> RetrievalEngine::GetCollectionInfo(const std::string& name) const {
  auto slot = FindSlot(name);
  if (!slot.ok()) return slot.status();
  absl::MutexLock lock(&(*slot)->mu);
  return InfoOf(*(*slot)->data);
}

std::vector<CollectionInfo> RetrievalEngine::ListCollections() const {
  std::vector<CollectionInfo> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, slot] : collections_) {
    absl::MutexLock slot_lock(&slot->mu);
    out.push_back(InfoOf(*slot->data));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Ingestion>> RetrievalEngine::BeginIngestion(const std::string& name) {
  auto slot = FindSlot(name);
  if (!slot.ok()) return slot.status();
  CollectionConfig config;
  {
    absl::MutexLock lock(&(*slot)->mu);
    config = (*slot)->data->config;
  }
  if (config.embedder != embedder_->name() || config.dim != embedder_->dim()) {
    return absl::FailedPreconditionError(absl::StrCat("collection '", name, "' holds ", config.embedder,
                                                      " embeddings; this server runs ", AbslView(embedder_->name())));
  }
  return std::unique_ptr<Ingestion>(new Ingestion(*this, name, std::move(config)));
}

absl::StatusOr<CollectionInfo> RetrievalEngine::Commit(const std::string& name, std::vector<PreparedDocument>& docs) {
  auto found = FindSlot(name);
  if (!found.ok()) return found.status();
  Slot& slot = **found;
  absl::MutexLock commit_lock(&slot.commit_mu);
  std::shared_ptr<const CollectionData> base;
  {
    absl::MutexLock lock(&slot.mu);
    if (slot.deleted) return absl::NotFoundError(absl::StrCat("collection: '", name, "' was deleted"));
    base = slot.data;
  }
  // Server-assigned ids: the next free "doc-<n>".
  absl::flat_hash_set<std::string> taken;
  for (const DocumentRecord& d : base->documents) taken.insert(d.id);
  for (const PreparedDocument& d : docs) taken.insert(d.record.id);
  uint64_t next = base->documents.size();
  for (PreparedDocument& d : docs) {
    if (!d.record.id.empty()) continue;
    do {
      d.record.id = absl::StrCat("doc-", next++);
    } while (taken.contains(d.record.id));
    taken.insert(d.record.id);
  }
  auto data = ExtendCollection(base.get(), name, base->config, std::span<PreparedDocument>(docs), options_.index);
  if (!data.ok()) return data.status();
  (*data)->generation = base->generation + 1;
  if (store_ != nullptr) {
    if (absl::Status s = store_->Commit(**data); !s.ok()) return s;
  }
  CollectionInfo info = InfoOf(**data);
  absl::MutexLock lock(&slot.mu);
  slot.data = std::move(*data);
  return info;
}

absl::StatusOr<SearchResult> RetrievalEngine::SearchCollection(const std::string& name,
                                                               const SearchParams& params) const {
  const auto t0 = std::chrono::steady_clock::now();
  if (absl::Status s = ValidateSearchParams(params); !s.ok()) return s;
  auto slot = FindSlot(name);
  if (!slot.ok()) return slot.status();
  std::shared_ptr<const CollectionData> data;
  {
    absl::MutexLock lock(&(*slot)->mu);
    data = (*slot)->data;
  }
  auto hits = SearchCollectionData(*data, *embedder_, params);
  if (!hits.ok()) return hits.status();
  SearchResult result;
  for (const SearchHit& h : *hits) result.chunks.push_back(MakeChunk(*data, h, /*with_document=*/true));
  result.total_chunks = static_cast<int64_t>(data->chunks.size());
  result.elapsed_ms = MillisSince(t0);
  return result;
}

std::shared_ptr<const CollectionData> RetrievalEngine::FindContext(std::string_view text, int chunk_tokens) const {
  absl::MutexLock lock(&cache_mu_);
  for (size_t i = context_cache_.size(); i-- > 0;) {
    CachedContext& c = context_cache_[i];
    if (c.chunk_tokens != chunk_tokens || c.text != text) continue;
    std::shared_ptr<const CollectionData> data = c.data;
    std::rotate(context_cache_.begin() + static_cast<std::ptrdiff_t>(i),
                context_cache_.begin() + static_cast<std::ptrdiff_t>(i) + 1, context_cache_.end());
    return data;
  }
  return nullptr;
}

void RetrievalEngine::RememberContext(std::string_view text, int chunk_tokens,
                                      std::shared_ptr<const CollectionData> data) const {
  if (options_.context_cache_entries <= 0) return;
  absl::MutexLock lock(&cache_mu_);
  for (const CachedContext& c : context_cache_) {
    if (c.chunk_tokens == chunk_tokens && c.text == text) return;  // a concurrent request got there first
  }
  if (static_cast<int>(context_cache_.size()) >= options_.context_cache_entries) {
    context_cache_.erase(context_cache_.begin());
  }
  context_cache_.push_back(CachedContext{std::string(text), chunk_tokens, std::move(data)});
}

absl::StatusOr<SearchResult> RetrievalEngine::SearchText(std::string_view context, int chunk_tokens,
                                                         const SearchParams& params) const {
  const auto t0 = std::chrono::steady_clock::now();
  if (absl::Status s = ValidateText(context, "context.text"); !s.ok()) return s;
  if (absl::Status s = ValidateChunkTokens(chunk_tokens, "context.chunk_tokens"); !s.ok()) return s;
  if (absl::Status s = ValidateSearchParams(params); !s.ok()) return s;
  const CollectionConfig config = NewConfig(chunk_tokens);
  std::shared_ptr<const CollectionData> data = FindContext(context, config.chunk_tokens);
  const bool cached = data != nullptr;
  if (data == nullptr && params.mode == SearchMode::kBm25) {
    // Lexical only: no embedding work at all (and nothing worth caching).
    auto doc = PrepareDocument(*tokenizer_, /*embedder=*/nullptr, config, "", context);
    if (!doc.ok()) return doc.status();
    auto lexical = std::make_shared<CollectionData>();
    lexical->name = "<context>";
    lexical->config = config;
    lexical->tokens = doc->record.tokens;
    lexical->documents.push_back(std::move(doc->record));
    for (ChunkRecord& c : doc->chunks) {
      lexical->bm25.Add(c.text);
      lexical->chunks.push_back(std::move(c));
    }
    data = std::move(lexical);
  } else if (data == nullptr) {
    auto doc = PrepareDocument(*tokenizer_, embedder_.get(), config, "", context);
    if (!doc.ok()) return doc.status();
    auto built = ExtendCollection(nullptr, "<context>", config, std::span<PreparedDocument>(&*doc, 1),
                                  DenseIndexOptions{});
    if (!built.ok()) return built.status();
    data = *built;
    RememberContext(context, config.chunk_tokens, data);
  }
  auto hits = SearchCollectionData(*data, *embedder_, params);
  if (!hits.ok()) return hits.status();
  SearchResult result;
  for (const SearchHit& h : *hits) result.chunks.push_back(MakeChunk(*data, h, /*with_document=*/false));
  result.total_chunks = static_cast<int64_t>(data->chunks.size());
  result.context_tokens = data->tokens;
  result.context_cached = cached;
  result.elapsed_ms = MillisSince(t0);
  return result;
}

}  // namespace tandem::retrieval
