// Retrieval benchmark (not a test), on the repository's long English text
// (tests/data/long_text, one document per file) with the real
// tokenizer (the target's GGUF) and the real embedder:
//   ingest    one document per text file into a persisted collection: chunk +
//             embed time (Ingestion::Add) and commit time (index + fsync'd
//             files), tokens/s
//   search    --queries questions (sentences of the text) per mode against the
//             collection, in process and through the gRPC service on
//             loopback: mean / p50 / p95 latency
//   context   RAPID's path: SearchText over an inline context of 4K..32K
//             tokens (chunk + embed the whole context + search), per size
// Prints one JSON line per measurement and the load average before/after
// (the build machine is shared).
//
// usage: tandem_retrieval_bench [--model GGUF] [--embedder DIR] [--threads N]
//                               [--texts DIR] [--queries 50] [--chunk 512]
//                               [--contexts 4096,8192,16384,32768]
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench/common/data_dir.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "runtime/embedding/bert_embedder.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model_store/model_store.h"
#include "services/retrieval/chunker.h"
#include "services/retrieval/retrieval_server.h"

namespace {

using namespace tandem;
namespace fs = std::filesystem;

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int Fail(const std::string& msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  return 1;
}

std::string Load() {
  double l[3] = {0, 0, 0};
  getloadavg(l, 3);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", l[0], l[1], l[2]);
  return buf;
}

struct Stats {
  double mean = 0, p50 = 0, p95 = 0;
};

Stats Summarize(std::vector<double> ms) {
  Stats s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  for (double x : ms) s.mean += x / ms.size();
  s.p50 = ms[ms.size() / 2];
  s.p95 = ms[std::min(ms.size() - 1, static_cast<size_t>(0.95 * ms.size()))];
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "smollm2-135m", embedder_dir, texts = tandem::bench::DataDir() + "/long_text";
  int threads = 0, queries = 50, chunk = 512;
  std::vector<int64_t> contexts = {4096, 8192, 16384, 32768};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--model") model = next();
    else if (a == "--embedder") embedder_dir = next();
    else if (a == "--texts") texts = next();
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--queries") queries = std::atoi(next().c_str());
    else if (a == "--chunk") chunk = std::atoi(next().c_str());
    else if (a == "--contexts") {
      contexts.clear();
      for (absl::string_view v : absl::StrSplit(next(), ',')) {
        int64_t n = 0;
        if (!absl::SimpleAtoi(v, &n) || n <= 0) return Fail("--contexts: comma-separated token counts");
        contexts.push_back(n);
      }
    } else {
      return Fail("unknown argument " + a);
    }
  }
  const std::string load_before = Load();
  auto path = runtime::ResolveModelPath(model);
  if (!path.ok()) return Fail(std::string(path.status().message()));
  auto file = gguf::GgufFile::Open(*path);
  if (!file.ok()) return Fail(std::string(file.status().message()));
  auto tok_or = tokenizer::Tokenizer::FromGguf(**file);
  if (!tok_or.ok()) return Fail(std::string(tok_or.status().message()));
  std::shared_ptr<const tokenizer::Tokenizer> tok = std::move(*tok_or);
  auto dir = embedder_dir.empty() ? embedding::ResolveEmbedderModelDir() : absl::StatusOr<std::string>(embedder_dir);
  if (!dir.ok()) return Fail(std::string(dir.status().message()));
  embedding::BertEmbedderOptions eo;
  eo.threads = threads;
  auto emb = embedding::LoadBertEmbedder(*dir, eo);
  if (!emb.ok()) return Fail(std::string(emb.status().message()));
  std::shared_ptr<embedding::Embedder> embedder = std::move(*emb);

  std::vector<std::pair<std::string, std::string>> docs;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(texts)) {
    if (e.path().extension() == ".txt" && e.path().filename().string().rfind("LICENSE", 0) != 0) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string all;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    docs.emplace_back(f.stem().string(), ss.str());
    all += ss.str() + "\n";
  }
  if (docs.empty()) return Fail("no .txt files in " + texts);

  const fs::path data_dir = fs::temp_directory_path() / ("tandem-retrieval-bench-" + std::to_string(::getpid()));
  retrieval::RetrievalEngineOptions options;
  options.data_dir = data_dir.string();
  options.default_chunk_tokens = chunk;
  auto engine_or = retrieval::RetrievalEngine::Open(tok, embedder, options);
  if (!engine_or.ok()) return Fail(std::string(engine_or.status().message()));
  retrieval::RetrievalEngine& engine = **engine_or;
  if (auto c = engine.CreateCollection("texts", chunk); !c.ok()) return Fail(std::string(c.status().message()));

  // Ingestion.
  auto ing = engine.BeginIngestion("texts");
  if (!ing.ok()) return Fail(std::string(ing.status().message()));
  const double t0 = Now();
  for (const auto& [id, text] : docs) {
    if (absl::Status s = (*ing)->Add(id, text); !s.ok()) return Fail(std::string(s.message()));
  }
  const double t1 = Now();
  auto info = (*ing)->Commit();
  if (!info.ok()) return Fail(std::string(info.status().message()));
  const double t2 = Now();
  std::printf(
      "{\"bench\":\"ingest\",\"documents\":%llu,\"tokens\":%llu,\"chunks\":%llu,\"vectors\":%llu,\"chunk_tokens\":%d,"
      "\"embed_window_tokens\":%d,\"embed_s\":%.2f,\"commit_s\":%.3f,\"tokens_per_s\":%.0f,\"disk_bytes\":%llu,"
      "\"embedder_threads\":%d}\n",
      static_cast<unsigned long long>(info->documents), static_cast<unsigned long long>(info->tokens),
      static_cast<unsigned long long>(info->chunks), static_cast<unsigned long long>(info->vectors), chunk,
      info->embed_window_tokens, t1 - t0, t2 - t1, info->tokens / (t2 - t0),
      static_cast<unsigned long long>(info->disk_bytes), threads);
  std::fflush(stdout);

  // Queries: sentences of 8..30 words, spread over the text.
  std::vector<std::string> qs;
  std::vector<std::string> sentences;
  for (absl::string_view s : absl::StrSplit(all, absl::ByAnyChar(".?!"))) {
    std::string t(s.data(), s.size());
    std::replace(t.begin(), t.end(), '\n', ' ');
    const auto words = std::count(t.begin(), t.end(), ' ');
    if (words >= 8 && words <= 30) sentences.push_back(t);
  }
  for (int i = 0; i < queries && !sentences.empty(); ++i) qs.push_back(sentences[(i * 7919) % sentences.size()]);

  // Search, in process and over gRPC (same engine).
  auto server = retrieval::RetrievalServer::Start(engine, retrieval::RetrievalServerOptions{});
  if (!server.ok()) return Fail(std::string(server.status().message()));
  auto stub = tandem::v1::Retrieval::NewStub(grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
  const std::pair<retrieval::SearchMode, tandem::v1::SearchMode> modes[] = {
      {retrieval::SearchMode::kDense, tandem::v1::SEARCH_MODE_DENSE},
      {retrieval::SearchMode::kBm25, tandem::v1::SEARCH_MODE_BM25},
      {retrieval::SearchMode::kHybrid, tandem::v1::SEARCH_MODE_HYBRID}};
  for (const auto& [mode, proto_mode] : modes) {
    std::vector<double> local_ms, grpc_ms;
    for (const std::string& q : qs) {
      retrieval::SearchParams p;
      p.query = q;
      p.top_k = 8;
      p.mode = mode;
      const double a = Now();
      auto r = engine.SearchCollection("texts", p);
      if (!r.ok()) return Fail(std::string(r.status().message()));
      local_ms.push_back(1e3 * (Now() - a));
      tandem::v1::SearchRequest req;
      req.set_collection("texts");
      req.set_query(q);
      req.set_top_k(8);
      req.set_mode(proto_mode);
      tandem::v1::SearchResponse resp;
      grpc::ClientContext ctx;
      const double b = Now();
      grpc::Status st = stub->Search(&ctx, req, &resp);
      if (!st.ok()) return Fail(st.error_message());
      grpc_ms.push_back(1e3 * (Now() - b));
    }
    const Stats l = Summarize(local_ms), g = Summarize(grpc_ms);
    std::printf(
        "{\"bench\":\"search\",\"mode\":\"%s\",\"queries\":%zu,\"top_k\":8,\"chunks\":%llu,\"local_ms\":{\"mean\":%.2f,"
        "\"p50\":%.2f,\"p95\":%.2f},\"grpc_ms\":{\"mean\":%.2f,\"p50\":%.2f,\"p95\":%.2f}}\n",
        std::string(retrieval::SearchModeName(mode)).c_str(), qs.size(),
        static_cast<unsigned long long>(info->chunks), l.mean, l.p50, l.p95, g.mean, g.p50, g.p95);
    std::fflush(stdout);
  }

  // RAPID's inline contexts: the first N tokens of the text.
  auto starts = retrieval::TokenizeBoundaries(*tok, all);
  if (!starts.ok()) return Fail(std::string(starts.status().message()));
  const int64_t total = static_cast<int64_t>(starts->size()) - 1;
  for (int64_t n : contexts) {
    if (n > total) {
      std::printf("{\"bench\":\"context\",\"tokens\":%lld,\"skipped\":\"the text has %lld tokens\"}\n",
                  static_cast<long long>(n), static_cast<long long>(total));
      continue;
    }
    const std::string ctx = all.substr(0, static_cast<size_t>((*starts)[static_cast<size_t>(n)]));
    retrieval::SearchParams p;
    p.query = qs.empty() ? "startups" : qs[0];
    p.top_k = 8;
    const double a = Now();
    auto r = engine.SearchText(ctx, chunk, p);
    if (!r.ok()) return Fail(std::string(r.status().message()));
    const double s = Now() - a;
    std::printf("{\"bench\":\"context\",\"tokens\":%lld,\"chunk_tokens\":%d,\"top_k\":8,\"seconds\":%.2f,"
                "\"tokens_per_s\":%.0f}\n",
                static_cast<long long>(n), chunk, s, n / s);
    std::fflush(stdout);
  }
  server->reset();
  std::error_code ec;
  fs::remove_all(data_dir, ec);
  std::printf("{\"bench\":\"load\",\"before\":\"%s\",\"after\":\"%s\",\"cpus\":%ld}\n", load_before.c_str(),
              Load().c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  return 0;
}
