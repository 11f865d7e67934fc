// Sentence embedder throughput (not a test). Two workloads, each embedded in
// one Embed() call per repetition and reported as the best of --reps runs
// (the build machine is shared; the best run is the least disturbed):
//   sentences  --sentences short texts (the long text's sentences, 8-40 words)
//   chunks     --chunks texts that each fill the 512-token window (passages
//              of the long text, truncated by the embedder as any long text is)
// For each --threads value (comma-separated) one line of JSON.
//
// usage: tandem_embedding_bench [MODEL_DIR] [--threads 1,2] [--sentences 256]
//                               [--chunks 16] [--reps 3] [--texts DIR]
// The text: every .txt file of --texts (default tests/data/long_text).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/common/data_dir.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "runtime/embedding/bert_embedder.h"
#include "runtime/embedding/wordpiece.h"

namespace {

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int Fail(const std::string& msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  return 1;
}

std::string ReadTexts(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".txt") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string text;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    text += ss.str() + "\n";
  }
  return text;
}

// Sentences of 8..40 words (split at . ? ! and line ends).
std::vector<std::string> Sentences(const std::string& text, int n) {
  std::vector<std::string> out;
  for (absl::string_view s : absl::StrSplit(text, absl::ByAnyChar(".?!\n"))) {
    const std::string sent(s.data(), s.size());
    const size_t words = static_cast<size_t>(std::count(sent.begin(), sent.end(), ' '));
    if (words >= 8 && words <= 40) out.push_back(sent);
    if (static_cast<int>(out.size()) == n) break;
  }
  return out;
}

// Consecutive 4,000-character passages: each is > 512 tokens.
std::vector<std::string> Chunks(const std::string& text, int n) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos + 4000 <= text.size() && static_cast<int>(out.size()) < n; pos += 4000) {
    out.push_back(text.substr(pos, 4000));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "all-minilm-l6-v2";
  std::string threads_list = "1,2";
  std::string texts = tandem::bench::DataDir() + "/long_text";
  int n_sent = 256, n_chunks = 16, reps = 3;
  int i = 1;
  if (argc > 1 && argv[1][0] != '-') model = argv[i++];
  for (; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], v = argv[i + 1];
    if (flag == "--threads") threads_list = v;
    else if (flag == "--sentences") n_sent = std::atoi(v.c_str());
    else if (flag == "--chunks") n_chunks = std::atoi(v.c_str());
    else if (flag == "--reps") reps = std::atoi(v.c_str());
    else if (flag == "--texts") texts = v;
    else return Fail("unknown flag " + flag);
  }
  auto dir = tandem::embedding::ResolveEmbedderModelDir(model);
  if (!dir.ok()) return Fail(std::string(dir.status().message()));
  const std::string text = ReadTexts(texts);
  if (text.empty()) return Fail("no .txt files in " + texts);
  const std::vector<std::string> sentences = Sentences(text, n_sent);
  const std::vector<std::string> chunks = Chunks(text, n_chunks);
  // Token counts (as the embedder sees them: [CLS] + pieces + [SEP], <= 512).
  auto tok = tandem::embedding::WordPieceTokenizer::FromVocabFile(*dir + "/vocab.txt");
  if (!tok.ok()) return Fail(std::string(tok.status().message()));
  size_t sent_tokens = 0;
  for (const std::string& s : sentences) {
    auto ids = (*tok)->Encode(s, 512);
    if (!ids.ok()) return Fail(std::string(ids.status().message()));
    sent_tokens += ids->size();
  }

  for (absl::string_view t : absl::StrSplit(threads_list, ',')) {
    int threads = 0;
    if (!absl::SimpleAtoi(t, &threads) || threads < 1) return Fail("bad --threads value");
    auto e = tandem::embedding::LoadBertEmbedder(*dir, {.threads = threads});
    if (!e.ok()) return Fail(std::string(e.status().message()));
    double best_s = 1e30, best_c = 1e30;
    (void)(*e)->Embed(std::vector<std::string>(sentences.begin(), sentences.begin() + std::min<size_t>(8, sentences.size())));  // warm-up
    for (int r = 0; r < reps; ++r) {
      double t0 = Now();
      auto a = (*e)->Embed(sentences);
      if (!a.ok()) return Fail(std::string(a.status().message()));
      best_s = std::min(best_s, Now() - t0);
      t0 = Now();
      auto b = (*e)->Embed(chunks);
      if (!b.ok()) return Fail(std::string(b.status().message()));
      best_c = std::min(best_c, Now() - t0);
    }
    std::printf("{\"threads\": %d, \"sentences\": %zu, \"mean_sentence_tokens\": %.1f, \"sentences_per_s\": %.1f, "
                "\"sentence_tokens_per_s\": %.0f, \"chunks_512\": %zu, \"chunks_per_s\": %.2f, "
                "\"chunk_tokens_per_s\": %.0f, \"reps\": %d}\n",
                threads, sentences.size(), static_cast<double>(sent_tokens) / sentences.size(),
                sentences.size() / best_s, sent_tokens / best_s, chunks.size(), chunks.size() / best_c,
                chunks.size() * 512 / best_c, reps);
    std::fflush(stdout);
  }
  return 0;
}
