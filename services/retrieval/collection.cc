#include "services/retrieval/collection.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "runtime/util/absl_compat.h"
#include "services/retrieval/chunker.h"

namespace tandem::retrieval {
namespace {

// Texts per Embedder::Embed call: large enough to batch, small enough to
// bound the memory of one call.
constexpr size_t kEmbedBatch = 32;
// Reciprocal-rank fusion constant (Cormack et al. 2009): damps the weight of
// the very first ranks so that one retriever alone does not dominate.
constexpr double kRrfK = 60.0;

bool Better(const SearchHit& a, const SearchHit& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.chunk < b.chunk;  // ties: earlier text first, deterministic
}

// Best window score per chunk, best first, at least `want` chunks when the
// index has them.
absl::StatusOr<std::vector<SearchHit>> DenseRanking(const CollectionData& data, std::span<const float> q,
                                                    int64_t want) {
  std::vector<SearchHit> ranked;
  const int64_t total = data.index->size();
  if (total == 0 || want <= 0) return ranked;
  // Several windows of one chunk can crowd the top: widen until enough
  // distinct chunks are found or everything was searched.
  int64_t k = std::min(total, want * 4);
  while (true) {
    auto hits = data.index->Search(q, k);
    if (!hits.ok()) return hits.status();
    ranked.clear();
    absl::flat_hash_set<int64_t> seen;
    for (const DenseHit& h : *hits) {
      if (h.id < 0 || h.id >= static_cast<int64_t>(data.vector_chunk.size())) {
        return absl::InternalError(absl::StrCat("dense index returned vector ", h.id, " of ", data.vector_chunk.size()));
      }
      const int64_t chunk = data.vector_chunk[static_cast<size_t>(h.id)];
      if (seen.insert(chunk).second) ranked.push_back(SearchHit{chunk, h.score});
    }
    if (static_cast<int64_t>(ranked.size()) >= want || k >= total) break;
    k = std::min(total, k * 4);
  }
  std::sort(ranked.begin(), ranked.end(), Better);  // HNSW order is approximate
  return ranked;
}

std::vector<SearchHit> Bm25Ranking(const CollectionData& data, std::string_view query, int64_t want) {
  const std::vector<float> scores = data.bm25.Score(query);
  std::vector<SearchHit> ranked;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (scores[i] > 0) ranked.push_back(SearchHit{static_cast<int64_t>(i), scores[i]});
  }
  const size_t n = std::min(ranked.size(), static_cast<size_t>(std::max<int64_t>(want, 0)));
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(), Better);
  ranked.resize(n);
  return ranked;
}

}  // namespace

std::string_view SearchModeName(SearchMode mode) {
  switch (mode) {
    case SearchMode::kDense: return "dense";
    case SearchMode::kBm25: return "bm25";
    case SearchMode::kHybrid: return "hybrid";
  }
  return "unknown";
}

absl::StatusOr<PreparedDocument> PrepareDocument(const tokenizer::Tokenizer& tok, embedding::Embedder* embedder,
                                                 const CollectionConfig& config, std::string id,
                                                 std::string_view text) {
  auto starts = TokenizeBoundaries(tok, text);
  if (!starts.ok()) return starts.status();
  const int64_t n = static_cast<int64_t>(starts->size()) - 1;
  PreparedDocument doc;
  doc.record.id = std::move(id);
  doc.record.tokens = n;
  doc.record.bytes = static_cast<int64_t>(text.size());
  const std::vector<TextChunk> chunks = ChunkTokenRange(text, *starts, 0, n, config.chunk_tokens);
  doc.record.chunk_count = static_cast<int64_t>(chunks.size());
  const int window = config.embed_window_tokens > 0 ? std::min(config.embed_window_tokens, config.chunk_tokens)
                                                    : config.chunk_tokens;
  std::vector<std::string> window_texts;
  for (size_t c = 0; c < chunks.size(); ++c) {
    const TextChunk& tc = chunks[c];
    ChunkRecord rec;
    rec.token_offset = tc.token_offset;
    rec.token_count = tc.token_count;
    rec.text = std::string(text.substr(static_cast<size_t>(tc.byte_offset), static_cast<size_t>(tc.byte_length)));
    doc.chunks.push_back(std::move(rec));
    if (embedder == nullptr) continue;
    for (const TextChunk& w : ChunkTokenRange(text, *starts, tc.token_offset, tc.token_offset + tc.token_count,
                                              window)) {
      window_texts.emplace_back(text.substr(static_cast<size_t>(w.byte_offset), static_cast<size_t>(w.byte_length)));
      doc.vector_chunk.push_back(static_cast<int32_t>(c));
    }
  }
  if (embedder == nullptr) return doc;
  doc.vectors.reserve(window_texts.size() * static_cast<size_t>(config.dim));
  for (size_t b = 0; b < window_texts.size(); b += kEmbedBatch) {
    const size_t e = std::min(window_texts.size(), b + kEmbedBatch);
    auto emb = embedder->Embed(std::span<const std::string>(window_texts.data() + b, e - b));
    if (!emb.ok()) return emb.status();
    if (emb->size() != (e - b) * static_cast<size_t>(config.dim)) {
      return absl::InternalError(absl::StrCat("embedder ", AbslView(embedder->name()), " returned ", emb->size(),
                                              " floats for ", e - b, " texts of dim ", config.dim));
    }
    doc.vectors.insert(doc.vectors.end(), emb->begin(), emb->end());
  }
  return doc;
}

absl::StatusOr<std::shared_ptr<CollectionData>> ExtendCollection(const CollectionData* base, const std::string& name,
                                                                 const CollectionConfig& config,
                                                                 std::span<PreparedDocument> docs,
                                                                 const DenseIndexOptions& index_options) {
  auto out = std::make_shared<CollectionData>();
  out->name = name;
  out->config = config;
  if (base != nullptr) {
    out->generation = base->generation;
    out->documents = base->documents;
    out->chunks = base->chunks;
    out->vectors = base->vectors;
    out->vector_chunk = base->vector_chunk;
    out->tokens = base->tokens;
    out->bm25 = base->bm25;
  }
  absl::flat_hash_set<absl::string_view> ids;
  for (const DocumentRecord& d : out->documents) ids.insert(d.id);
  for (PreparedDocument& doc : docs) {
    if (!ids.insert(doc.record.id).second) {
      return absl::AlreadyExistsError(absl::StrCat("documents.id: '", doc.record.id, "' is already in collection '",
                                                   name, "'"));
    }
  }
  for (PreparedDocument& doc : docs) {
    const int32_t doc_index = static_cast<int32_t>(out->documents.size());
    const int32_t chunk_base = static_cast<int32_t>(out->chunks.size());
    doc.record.first_chunk = chunk_base;
    out->tokens += doc.record.tokens;
    out->documents.push_back(doc.record);
    for (ChunkRecord& c : doc.chunks) {
      c.document = doc_index;
      out->bm25.Add(c.text);
      out->chunks.push_back(std::move(c));
    }
    out->vectors.insert(out->vectors.end(), doc.vectors.begin(), doc.vectors.end());
    for (int32_t vc : doc.vector_chunk) out->vector_chunk.push_back(chunk_base + vc);
  }
  if (config.dim <= 0) return absl::InvalidArgumentError("collection: embedding dim must be > 0");
  if (base != nullptr && base->index != nullptr) {
    auto index = base->index->Extend(out->vectors, index_options);
    if (!index.ok()) return index.status();
    out->index = std::move(*index);
  } else {
    auto index = DenseIndex::Build(config.dim, out->vectors, index_options);
    if (!index.ok()) return index.status();
    out->index = std::move(*index);
  }
  return out;
}

absl::Status RebuildDerived(CollectionData* data, const DenseIndexOptions& index_options) {
  data->bm25 = Bm25Index();
  for (const ChunkRecord& c : data->chunks) data->bm25.Add(c.text);
  if (data->index == nullptr) {
    auto index = DenseIndex::Build(data->config.dim, data->vectors, index_options);
    if (!index.ok()) return index.status();
    data->index = std::move(*index);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SearchHit>> SearchCollectionData(const CollectionData& data, embedding::Embedder& embedder,
                                                            const SearchParams& params) {
  const int64_t total = static_cast<int64_t>(data.chunks.size());
  std::vector<SearchHit> ranked;
  if (total == 0) return ranked;
  const bool dense = params.mode != SearchMode::kBm25;
  const bool lexical = params.mode != SearchMode::kDense;
  // Ranking depth: top_k plus room for text duplicates and, for hybrid, for
  // chunks one retriever ranks low but the other high.
  const int64_t depth =
      std::min(total, params.mode == SearchMode::kHybrid ? std::max<int64_t>(4 * params.top_k, 64)
                                                         : 2 * static_cast<int64_t>(params.top_k));
  std::vector<SearchHit> dense_ranked, lexical_ranked;
  if (dense) {
    if (data.config.embedder != embedder.name() || data.config.dim != embedder.dim()) {
      return absl::FailedPreconditionError(
          absl::StrCat("collection '", data.name, "' was embedded by ", data.config.embedder, " (dim ",
                       data.config.dim, "), this server runs ", AbslView(embedder.name()), " (dim ", embedder.dim(),
                       "): dense search is unavailable, use mode bm25"));
    }
    const std::string query[] = {params.query};
    auto q = embedder.Embed(query);
    if (!q.ok()) return q.status();
    if (static_cast<int>(q->size()) != data.config.dim) {
      return absl::InternalError(absl::StrCat("embedder returned ", q->size(), " floats, dim ", data.config.dim));
    }
    auto r = DenseRanking(data, *q, depth);
    if (!r.ok()) return r.status();
    dense_ranked = std::move(*r);
  }
  if (lexical) lexical_ranked = Bm25Ranking(data, params.query, depth);
  if (params.mode == SearchMode::kDense) {
    ranked = std::move(dense_ranked);
  } else if (params.mode == SearchMode::kBm25) {
    ranked = std::move(lexical_ranked);
  } else {
    absl::flat_hash_map<int64_t, double> fused;
    for (size_t i = 0; i < dense_ranked.size(); ++i) fused[dense_ranked[i].chunk] += 1.0 / (kRrfK + i + 1);
    for (size_t i = 0; i < lexical_ranked.size(); ++i) fused[lexical_ranked[i].chunk] += 1.0 / (kRrfK + i + 1);
    for (const auto& [chunk, score] : fused) ranked.push_back(SearchHit{chunk, static_cast<float>(score)});
    std::sort(ranked.begin(), ranked.end(), Better);
  }
  std::vector<SearchHit> out;
  absl::flat_hash_set<absl::string_view> texts;
  for (const SearchHit& h : ranked) {
    if (static_cast<int>(out.size()) >= params.top_k) break;
    if (params.min_score.has_value() && h.score < *params.min_score) continue;
    if (!texts.insert(data.chunks[static_cast<size_t>(h.chunk)].text).second) continue;  // duplicate text
    out.push_back(h);
  }
  return out;
}

}  // namespace tandem::retrieval
