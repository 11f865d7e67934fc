// RetrievalEngine: ingestion + search in every mode, inline-context search,
// persistence across restarts, crash leftovers (a half-written temp folder, an
// uncommitted generation, a truncated file), corruption detection, and the
// error codes of bad input.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "services/retrieval/retrieval_engine.h"
#include "tests/services/retrieval/test_util.h"

namespace tandem::retrieval {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("tandem-retrieval-test-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(counter_++));
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

const std::vector<std::pair<std::string, std::string>>& Corpus() {
  static const auto* corpus = new std::vector<std::pair<std::string, std::string>>{
      {"lighthouse", "The lighthouse keeper painted the tower blue every spring.\n\nShips passed at night and "
                     "the keeper wrote each name in a journal."},
      {"quantum", "Quantum computers use qubits that can be in superposition.\n\nError correction needs many "
                  "physical qubits for one logical qubit."},
      {"baking", "The recipe needs two eggs, flour, sugar and a pinch of salt.\n\nBake the cake for forty "
                 "minutes until golden."},
      {"whales", "A blue whale is the largest animal known to have ever existed.\n\nIts heart alone weighs "
                 "as much as a small car."},
  };
  return *corpus;
}

std::unique_ptr<RetrievalEngine> OpenEngine(const std::string& dir, std::shared_ptr<testing::ToyEmbedder> emb = nullptr) {
  RetrievalEngineOptions options;
  options.data_dir = dir;
  options.default_chunk_tokens = 64;
  options.embed_window_tokens = 32;
  if (emb == nullptr) emb = std::make_shared<testing::ToyEmbedder>();
  auto engine = RetrievalEngine::Open(testing::ByteTokenizer(), emb, options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

void Ingest(RetrievalEngine& engine, const std::string& name) {
  auto ing = engine.BeginIngestion(name);
  ASSERT_TRUE(ing.ok()) << ing.status();
  for (const auto& [id, text] : Corpus()) ASSERT_TRUE((*ing)->Add(id, text).ok());
  EXPECT_EQ((*ing)->documents(), Corpus().size());
  auto info = (*ing)->Commit();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->documents, Corpus().size());
  EXPECT_EQ(info->generation, 1u);
}

SearchParams Query(std::string q, SearchMode mode, int k = 3) {
  SearchParams p;
  p.query = std::move(q);
  p.mode = mode;
  p.top_k = k;
  return p;
}

TEST(RetrievalEngineTest, IngestAndSearchEveryMode) {
  TempDir dir;
  auto engine = OpenEngine(dir.str());
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->CreateCollection("notes", 0).ok());
  Ingest(*engine, "notes");
  auto info = engine->GetCollectionInfo("notes");
  ASSERT_TRUE(info.ok());
  EXPECT_GT(info->chunks, 4u);  // 64-byte chunks of ~120-byte documents
  EXPECT_GE(info->vectors, info->chunks);
  EXPECT_EQ(info->index_type, "flat");
  EXPECT_GT(info->disk_bytes, 0u);
  for (SearchMode mode : {SearchMode::kDense, SearchMode::kBm25, SearchMode::kHybrid}) {
    auto r = engine->SearchCollection("notes", Query("qubits superposition", mode));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_FALSE(r->chunks.empty()) << SearchModeName(mode);
    EXPECT_EQ(r->chunks[0].document_id, "quantum") << SearchModeName(mode);
    EXPECT_NE(r->chunks[0].text.find("superposition"), std::string::npos);
    EXPECT_EQ(r->total_chunks, static_cast<int64_t>(info->chunks));
    for (size_t i = 1; i < r->chunks.size(); ++i) EXPECT_GE(r->chunks[i - 1].score, r->chunks[i].score);
  }
  // A top_k above the collection's size is accepted and returns at most
  // every chunk. (That the chunks restore the documents in position order
  // is ChunksRoundTripTheDocuments.)
  SearchParams all = Query("the", SearchMode::kBm25, 1000);
  auto r = engine->SearchCollection("notes", all);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r->chunks.size(), info->chunks);
  // min_score drops exactly the chunks that score below it: compared with
  // the same search without it, which must have some to drop (otherwise
  // the filter is untested).
  SearchParams loose = Query("qubits superposition", SearchMode::kDense, 10);
  auto unfiltered = engine->SearchCollection("notes", loose);
  ASSERT_TRUE(unfiltered.ok());
  SearchParams strict = loose;
  strict.min_score = 0.99f;
  auto s = engine->SearchCollection("notes", strict);
  ASSERT_TRUE(s.ok());
  for (const auto& c : s->chunks) EXPECT_GE(c.score, 0.99f);
  const auto kept = std::count_if(unfiltered->chunks.begin(), unfiltered->chunks.end(),
                                  [](const auto& c) { return c.score >= 0.99f; });
  EXPECT_LT(kept, static_cast<int64_t>(unfiltered->chunks.size()));
  EXPECT_EQ(static_cast<int64_t>(s->chunks.size()), kept);
}

TEST(RetrievalEngineTest, ChunksRoundTripTheDocuments) {
  auto engine = OpenEngine("");  // in memory
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->CreateCollection("c", 16).ok());
  auto ing = engine->BeginIngestion("c");
  ASSERT_TRUE(ing.ok());
  for (const auto& [id, text] : Corpus()) ASSERT_TRUE((*ing)->Add(id, text).ok());
  ASSERT_TRUE((*ing)->Commit().ok());
  // Every chunk, via a search that returns them all, in position order.
  auto r = engine->SearchCollection("c", Query("the a of and", SearchMode::kDense, 1000));
  ASSERT_TRUE(r.ok());
  auto chunks = r->chunks;
  std::sort(chunks.begin(), chunks.end(), [](const auto& a, const auto& b) { return a.position < b.position; });
  std::map<std::string, std::string> joined;
  std::map<std::string, int64_t> next_offset;
  for (const auto& c : chunks) {
    EXPECT_LE(c.token_count, 16);
    EXPECT_EQ(c.token_offset, next_offset[c.document_id]) << c.document_id;
    next_offset[c.document_id] += c.token_count;
    joined[c.document_id] += c.text;
  }
  // De-duplication by text may drop repeated chunks; these documents have none.
  for (const auto& [id, text] : Corpus()) EXPECT_EQ(joined[id], text) << id;
}

TEST(RetrievalEngineTest, SearchTextChunksEmbedsAndSearchesWithoutStoring) {
  TempDir dir;
  auto emb = std::make_shared<testing::ToyEmbedder>();
  auto engine = OpenEngine(dir.str(), emb);
  ASSERT_NE(engine, nullptr);
  std::string context;
  for (const auto& [id, text] : Corpus()) context += text + "\n\n";
  for (SearchMode mode : {SearchMode::kDense, SearchMode::kBm25, SearchMode::kHybrid}) {
    auto r = engine->SearchText(context, 32, Query("blue whale heart", mode, 2));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_FALSE(r->chunks.empty());
    EXPECT_NE(r->chunks[0].text.find("whale"), std::string::npos) << SearchModeName(mode);
    EXPECT_EQ(r->context_tokens, static_cast<int64_t>(context.size()));
    EXPECT_TRUE(r->chunks[0].document_id.empty());
  }
  // The context was embedded once (first dense search) and cached: later
  // searches of the same text and chunk size embed only the query; BM25
  // embeds nothing at all.
  int calls = emb->calls();
  auto again = engine->SearchText(context, 32, Query("blue whale heart", SearchMode::kDense, 2));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->context_cached);
  EXPECT_EQ(emb->calls(), calls + 1);
  calls = emb->calls();
  auto lexical = engine->SearchText(context, 32, Query("whale", SearchMode::kBm25));
  ASSERT_TRUE(lexical.ok());
  EXPECT_EQ(emb->calls(), calls);
  auto uncached = engine->SearchText(context + " more", 32, Query("whale", SearchMode::kBm25));
  ASSERT_TRUE(uncached.ok());
  EXPECT_FALSE(uncached->context_cached);
  EXPECT_EQ(emb->calls(), calls);
  // Another chunk size is another entry.
  auto other = engine->SearchText(context, 16, Query("blue whale heart", SearchMode::kDense, 2));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->context_cached);
  EXPECT_TRUE(engine->ListCollections().empty());
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(RetrievalEngineTest, ContextCacheEvictsTheLeastRecentlyUsed) {
  auto emb = std::make_shared<testing::ToyEmbedder>();
  RetrievalEngineOptions options;
  options.context_cache_entries = 2;
  auto engine = RetrievalEngine::Open(testing::ByteTokenizer(), emb, options);
  ASSERT_TRUE(engine.ok());
  auto search = [&](const std::string& ctx) {
    auto r = (*engine)->SearchText(ctx, 16, Query("word", SearchMode::kDense, 1));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->context_cached;
  };
  EXPECT_FALSE(search("alpha words here"));
  EXPECT_FALSE(search("beta words here"));
  EXPECT_TRUE(search("alpha words here"));   // alpha is now the most recent
  EXPECT_FALSE(search("gamma words here"));  // evicts beta
  EXPECT_TRUE(search("alpha words here"));
  EXPECT_FALSE(search("beta words here"));
  RetrievalEngineOptions none;
  none.context_cache_entries = 0;
  auto uncached = RetrievalEngine::Open(testing::ByteTokenizer(), emb, none);
  ASSERT_TRUE(uncached.ok());
  for (int i = 0; i < 2; ++i) {
    auto r = (*uncached)->SearchText("alpha words here", 16, Query("word", SearchMode::kDense, 1));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->context_cached);
  }
}

TEST(RetrievalEngineTest, PersistsAcrossRestart) {
  TempDir dir;
  SearchResult before;
  {
    auto engine = OpenEngine(dir.str());
    ASSERT_TRUE(engine->CreateCollection("notes", 0).ok());
    ASSERT_TRUE(engine->CreateCollection("empty", 128).ok());
    Ingest(*engine, "notes");
    auto r = engine->SearchCollection("notes", Query("bake cake eggs", SearchMode::kHybrid));
    ASSERT_TRUE(r.ok());
    before = *r;
  }
  auto engine = OpenEngine(dir.str());
  ASSERT_NE(engine, nullptr);
  auto list = engine->ListCollections();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "empty");
  EXPECT_EQ(list[0].chunk_tokens, 128);
  EXPECT_EQ(list[1].documents, Corpus().size());
  auto r = engine->SearchCollection("notes", Query("bake cake eggs", SearchMode::kHybrid));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->chunks.size(), before.chunks.size());
  for (size_t i = 0; i < r->chunks.size(); ++i) {
    EXPECT_EQ(r->chunks[i].position, before.chunks[i].position);
    EXPECT_EQ(r->chunks[i].text, before.chunks[i].text);
    EXPECT_EQ(r->chunks[i].score, before.chunks[i].score);
  }
  // A second commit after the restart continues the generations and
  // appends after the existing chunks.
  auto ing = engine->BeginIngestion("notes");
  ASSERT_TRUE(ing.ok());
  ASSERT_TRUE((*ing)->Add("", "An extra document about volcanoes and lava.").ok());
  auto info = (*ing)->Commit();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->generation, 2u);
  EXPECT_EQ(info->documents, Corpus().size() + 1);
  auto v = engine->SearchCollection("notes", Query("volcanoes lava", SearchMode::kBm25, 1));
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->chunks.size(), 1u);
  EXPECT_EQ(v->chunks[0].document_id, "doc-4");
}

TEST(RetrievalEngineTest, HnswCollectionsPersistAndGrow) {
  // A tiny threshold puts the collection on HNSW from the first commit: the
  // index is saved, loaded, and extended (not rebuilt) by a later commit.
  TempDir dir;
  RetrievalEngineOptions options;
  options.data_dir = dir.str();
  options.default_chunk_tokens = 32;
  options.embed_window_tokens = 16;
  options.index.hnsw_min_vectors = 10;
  auto open = [&] {
    auto e = RetrievalEngine::Open(testing::ByteTokenizer(), std::make_shared<testing::ToyEmbedder>(), options);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  };
  {
    auto engine = open();
    ASSERT_TRUE(engine->CreateCollection("notes", 0).ok());
    Ingest(*engine, "notes");
    auto info = engine->GetCollectionInfo("notes");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->index_type, "hnsw");
    EXPECT_GE(info->vectors, 10u);
  }
  auto engine = open();
  ASSERT_NE(engine, nullptr);
  auto r = engine->SearchCollection("notes", Query("qubits superposition", SearchMode::kDense));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->chunks.empty());
  EXPECT_EQ(r->chunks[0].document_id, "quantum");
  auto ing = engine->BeginIngestion("notes");
  ASSERT_TRUE(ing.ok());
  ASSERT_TRUE((*ing)->Add("volcano", "Volcanoes erupt lava and ash over the island.").ok());
  auto info = (*ing)->Commit();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->index_type, "hnsw");
  auto v = engine->SearchCollection("notes", Query("volcanoes lava ash", SearchMode::kDense, 1));
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->chunks.size(), 1u);
  EXPECT_EQ(v->chunks[0].document_id, "volcano");
  engine.reset();
  engine = open();
  ASSERT_NE(engine, nullptr);
  auto after = engine->GetCollectionInfo("notes");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->vectors, info->vectors);
  EXPECT_EQ(after->generation, 2u);
}

TEST(RetrievalEngineTest, CrashDuringIngestionKeepsTheCommittedState) {
  TempDir dir;
  {
    auto engine = OpenEngine(dir.str());
    ASSERT_TRUE(engine->CreateCollection("notes", 0).ok());
    Ingest(*engine, "notes");
    // An ingestion that never commits (the process "dies" with it open).
    auto ing = engine->BeginIngestion("notes");
    ASSERT_TRUE(ing.ok());
    ASSERT_TRUE((*ing)->Add("lost", "This document was never committed.").ok());
  }
  const fs::path coll = dir.path() / "notes";
  ASSERT_TRUE(fs::exists(coll / "gen-0000000001"));
  // What a crash in the middle of a commit leaves: a half-written temp
  // folder with a truncated file, a complete next generation that CURRENT
  // does not name yet (crash between the two renames), a torn CURRENT.tmp,
  // and a half-created collection.
  fs::create_directories(coll / ".tmp-999-0");
  {
    std::ifstream in(coll / "gen-0000000001" / "chunks.bin", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(coll / ".tmp-999-0" / "chunks.bin", std::ios::binary);
    out << bytes.substr(0, bytes.size() / 2);
  }
  fs::copy(coll / "gen-0000000001", coll / "gen-0000000002", fs::copy_options::recursive);
  std::ofstream(coll / "CURRENT.tmp") << "gen-00000";
  fs::create_directories(dir.path() / ".tmp-create-999-1" / "gen-0000000000");
  auto engine = OpenEngine(dir.str());
  ASSERT_NE(engine, nullptr);
  auto info = engine->GetCollectionInfo("notes");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->generation, 1u);
  EXPECT_EQ(info->documents, Corpus().size());
  auto r = engine->SearchCollection("notes", Query("never committed", SearchMode::kBm25));
  ASSERT_TRUE(r.ok());
  for (const auto& c : r->chunks) EXPECT_NE(c.document_id, "lost");
  EXPECT_FALSE(fs::exists(coll / ".tmp-999-0"));
  EXPECT_FALSE(fs::exists(coll / "gen-0000000002"));
  EXPECT_FALSE(fs::exists(coll / "CURRENT.tmp"));
  EXPECT_FALSE(fs::exists(dir.path() / ".tmp-create-999-1"));
  EXPECT_EQ(engine->ListCollections().size(), 1u);
}

TEST(RetrievalEngineTest, CorruptCommittedFileIsDataLossNotACrash) {
  TempDir dir;
  {
    auto engine = OpenEngine(dir.str());
    ASSERT_TRUE(engine->CreateCollection("notes", 0).ok());
    Ingest(*engine, "notes");
  }
  const fs::path file = dir.path() / "notes" / "gen-0000000001" / "vectors.f32";
  fs::resize_file(file, fs::file_size(file) / 2);
  RetrievalEngineOptions options;
  options.data_dir = dir.str();
  auto engine = RetrievalEngine::Open(testing::ByteTokenizer(), std::make_shared<testing::ToyEmbedder>(), options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(engine.status().message().find("vectors.f32"), std::string::npos) << engine.status();
}

TEST(RetrievalEngineTest, BadInputCodes) {
  auto engine = OpenEngine("");
  ASSERT_NE(engine, nullptr);
  using absl::StatusCode;
  EXPECT_EQ(engine->CreateCollection("", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->CreateCollection(".hidden", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->CreateCollection("a/b", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->CreateCollection("c", 8).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->CreateCollection("c", 9000).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(engine->CreateCollection("c", 0).ok());
  EXPECT_EQ(engine->CreateCollection("c", 0).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(engine->GetCollectionInfo("missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(engine->DeleteCollection("missing").code(), StatusCode::kNotFound);
  EXPECT_EQ(engine->BeginIngestion("missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(engine->SearchCollection("missing", Query("q", SearchMode::kDense)).status().code(),
            StatusCode::kNotFound);
  auto ing = engine->BeginIngestion("c");
  ASSERT_TRUE(ing.ok());
  EXPECT_EQ((*ing)->Add("d", "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*ing)->Add("d", "bad \xC3\x28 utf8").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*ing)->Add("bad\xFF", "text").code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE((*ing)->Add("d", "text").ok());
  EXPECT_EQ((*ing)->Add("d", "again").code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE((*ing)->Commit().ok());
  auto again = engine->BeginIngestion("c");
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Add("d", "same id, later stream").ok());
  EXPECT_EQ((*again)->Commit().status().code(), StatusCode::kAlreadyExists);
  for (int k : {0, -1, 1001}) {
    EXPECT_EQ(engine->SearchCollection("c", Query("q", SearchMode::kDense, k)).status().code(),
              StatusCode::kInvalidArgument)
        << k;
  }
  EXPECT_TRUE(engine->SearchCollection("c", Query("q", SearchMode::kDense, 1000)).ok());
  EXPECT_EQ(engine->SearchCollection("c", Query("", SearchMode::kDense)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->SearchCollection("c", Query("\xFF", SearchMode::kDense)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->SearchText("", 0, Query("q", SearchMode::kDense)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->SearchText("ctx \xC0\x80", 0, Query("q", SearchMode::kDense)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->SearchText("ctx", 15, Query("q", SearchMode::kDense)).status().code(),
            StatusCode::kInvalidArgument);
  // Delete during an open ingestion: its commit finds nothing.
  auto pending = engine->BeginIngestion("c");
  ASSERT_TRUE(pending.ok());
  ASSERT_TRUE((*pending)->Add("e", "text").ok());
  ASSERT_TRUE(engine->DeleteCollection("c").ok());
  EXPECT_EQ((*pending)->Commit().status().code(), StatusCode::kNotFound);
}

TEST(RetrievalEngineTest, DenseSearchRefusesVectorsOfAnotherEmbedder) {
  TempDir dir;
  {
    auto engine = OpenEngine(dir.str());
    ASSERT_TRUE(engine->CreateCollection("notes", 0).ok());
    Ingest(*engine, "notes");
  }
  auto engine = OpenEngine(dir.str(), std::make_shared<testing::ToyEmbedder>(32, "toy-hash-32"));
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->SearchCollection("notes", Query("q", SearchMode::kDense)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(engine->SearchCollection("notes", Query("whale", SearchMode::kBm25)).ok());
}

}  // namespace
}  // namespace tandem::retrieval
