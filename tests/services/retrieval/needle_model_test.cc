// Retrieval with the real models: the SmolLM2 tokenizer (chunk sizes in
// target tokens) and the all-MiniLM-L6-v2 embedder. Facts inserted at random
// depths into a haystack of English prose (tests/data/long_text: GSM8K
// questions, hard-wrapped paragraphs) must come back in the top K
// for >= 90 % of the questions, K and S as RAPID would use them (S = 512,
// K = 8 for a 16K-token context: ceil(max(L/(S*24), min(4096/S, L/S)))).
// Also: the chunker on the real tokenizer (sizes, round trip) and the inline
// context path equals the collection path.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/embedding/bert_embedder.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/tokenizer/tokenizer.h"
#include "services/retrieval/chunker.h"
#include "services/retrieval/retrieval_engine.h"
#include "tests/common/test_paths.h"

namespace tandem::retrieval {
namespace {

struct Needle {
  const char* fact;
  const char* question;
};

// Facts that appear nowhere in the haystack, each with the question a user
// would ask (not a copy of the fact's wording).
const Needle kNeedles[] = {
    {"Marisol Quenby's favourite fruit has always been the mangosteen.", "What is Marisol Quenby's favourite fruit?"},
    {"The Zephyr Bridge in Portvale was completed in the spring of 1893.", "When was the Zephyr Bridge in Portvale finished?"},
    {"The password to the Okonkwo family vault is 'tangerine-47'.", "What is the password of the Okonkwo family vault?"},
    {"Dr. Ilse Vantongeren discovered a new species of glass frog in the Cordillera Azul.", "Which animal did Dr. Ilse Vantongeren discover?"},
    {"The annual Kettlewick cheese festival is always held on the third Sunday of October.", "When is the Kettlewick cheese festival held?"},
    {"Captain Orrin Blackwood's ship, the Merry Albatross, sank near the Faroe Islands.", "Where did Captain Orrin Blackwood's ship sink?"},
    {"The robot vacuum named Pebble was programmed by Tomasz Wierzbicki in Gdansk.", "Who programmed the robot vacuum called Pebble?"},
    {"Lake Varnholt is exactly 212 metres deep at its deepest point.", "How deep is Lake Varnholt?"},
    {"Priya Raghunathan keeps her violin in a green velvet case under the stairs.", "Where does Priya Raghunathan keep her violin?"},
    {"The Halvorsen Observatory's main telescope has a mirror 4.1 metres across.", "How large is the mirror of the Halvorsen Observatory telescope?"},
    {"In the village of Brindlemoor, the bakery opens at 5:15 every morning.", "What time does the bakery in Brindlemoor open?"},
    {"Ferdinand the tortoise at the Elmsworth zoo is 131 years old.", "How old is Ferdinand the tortoise at the Elmsworth zoo?"},
    {"The secret ingredient in Aunt Delphine's gumbo is smoked paprika from Murcia.", "What is the secret ingredient in Aunt Delphine's gumbo?"},
    {"The chess club of Quillon High School meets in room 214 on Thursdays.", "Where does the Quillon High School chess club meet?"},
    {"Astronaut Keiko Amberley carried a brass compass to the space station.", "What object did astronaut Keiko Amberley take to the space station?"},
    {"The Thornfield marathon record of 2:07:41 was set by Abebe Tesfaye.", "Who holds the Thornfield marathon record?"},
    {"The mayor of Greywater, Linnea Strand, banned leaf blowers in 2019.", "What did the mayor of Greywater ban?"},
    {"The lighthouse on Skerry Point flashes green twice every nine seconds.", "How does the Skerry Point lighthouse flash?"},
    {"Professor Anselm Kroll wrote his thesis on the migration of Arctic terns.", "What was Professor Anselm Kroll's thesis about?"},
    {"The Copperline railway tunnel under Mount Ebbor is 7.3 kilometres long.", "How long is the Copperline railway tunnel?"},
    {"Rosalind Achterberg named her sailboat the Quiet Heron.", "What is the name of Rosalind Achterberg's sailboat?"},
    {"The famous Pemberton clock tower was designed by the architect Silas Marchbanks.", "Who designed the Pemberton clock tower?"},
    {"The Ostrava glassworks produce exactly 900 blue bottles each day.", "How many blue bottles do the Ostrava glassworks make per day?"},
    {"Yusuf Adeyemi won the regional spelling bee with the word 'chiaroscuro'.", "Which word won Yusuf Adeyemi the regional spelling bee?"},
};

using test_paths::ModelDir;
using test_paths::LongTextFiles;

std::shared_ptr<const tokenizer::Tokenizer> SmolTokenizer() {
  const std::string path = ModelDir() + "/smollm2-135m.gguf";
  auto file = gguf::GgufFile::Open(path);
  if (!file.ok()) {
    ADD_FAILURE() << path << ": " << file.status() << " (run scripts/fetch_models.py smollm2-135m)";
    return nullptr;
  }
  auto tok = tokenizer::Tokenizer::FromGguf(**file);
  if (!tok.ok()) {
    ADD_FAILURE() << tok.status();
    return nullptr;
  }
  return std::shared_ptr<const tokenizer::Tokenizer>(std::move(*tok));
}

std::shared_ptr<embedding::Embedder> MiniLm() {
  auto dir = embedding::ResolveEmbedderModelDir();
  if (!dir.ok()) {
    ADD_FAILURE() << dir.status();
    return nullptr;
  }
  embedding::BertEmbedderOptions options;
  options.threads = 2;
  auto e = embedding::LoadBertEmbedder(*dir, options);
  if (!e.ok()) {
    ADD_FAILURE() << e.status();
    return nullptr;
  }
  return std::shared_ptr<embedding::Embedder>(std::move(*e));
}

// The long-text files in name order, joined by blank lines.
std::string LongText() {
  const std::vector<std::string> files = LongTextFiles();
  EXPECT_FALSE(files.empty()) << "no tests/data/long_text/*.txt";
  std::string all;
  for (const std::string& p : files) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    all += s.str() + "\n\n";
  }
  return all;
}

// The first `tokens` target tokens of the long text, with every needle
// inserted as its own line at a random depth (the text is hard-wrapped
// paragraphs; a needle goes after a line break, inside or between them).
std::string Haystack(const tokenizer::Tokenizer& tok, int64_t tokens, uint32_t seed) {
  const std::string text = LongText();
  auto starts = TokenizeBoundaries(tok, text);
  EXPECT_TRUE(starts.ok());
  const int64_t n = std::min<int64_t>(tokens, static_cast<int64_t>(starts->size()) - 1);
  std::string hay = text.substr(0, static_cast<size_t>((*starts)[static_cast<size_t>(n)]));
  std::vector<size_t> breaks;  // line starts
  for (size_t p = hay.find('\n'); p != std::string::npos; p = hay.find('\n', p + 1)) breaks.push_back(p + 1);
  std::mt19937 rng(seed);
  std::vector<std::pair<size_t, std::string>> inserts;
  for (const Needle& nd : kNeedles) {
    const size_t at = breaks[std::uniform_int_distribution<size_t>(0, breaks.size() - 1)(rng)];
    inserts.emplace_back(at, std::string(nd.fact) + "\n");
  }
  std::sort(inserts.begin(), inserts.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [at, text] : inserts) hay.insert(at, text);
  return hay;
}

TEST(RetrievalModelTest, ChunkerOnTheRealTokenizer) {
  auto tok = SmolTokenizer();
  ASSERT_NE(tok, nullptr);
  const std::string text = LongText().substr(0, 60000);
  auto starts = TokenizeBoundaries(*tok, text);
  ASSERT_TRUE(starts.ok()) << starts.status();
  const int64_t n = static_cast<int64_t>(starts->size()) - 1;
  EXPECT_EQ(n, static_cast<int64_t>(tok->Encode(text, false, false).size()));
  auto chunks = ChunkTokenRange(text, *starts, 0, n, 512);
  std::string joined;
  int64_t next = 0, line_cuts = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const TextChunk& c = chunks[i];
    EXPECT_EQ(c.token_offset, next);
    EXPECT_LE(c.token_count, 512);
    next += c.token_count;
    const std::string piece = text.substr(c.byte_offset, c.byte_length);
    joined += piece;
    // Re-encoding a chunk alone gives about its token count (BPE merges
    // across the cut may differ by a token or two).
    const int64_t alone = static_cast<int64_t>(tok->Encode(piece, false, false).size());
    EXPECT_NEAR(alone, c.token_count, 3);
    // The cut touches a line break: the chunk ends with one or the next
    // starts with one.
    if (i + 1 < chunks.size()) {
      line_cuts += piece.back() == '\n' || text[static_cast<size_t>(chunks[i + 1].byte_offset)] == '\n';
    }
  }
  EXPECT_EQ(joined, text);
  EXPECT_EQ(next, n);
  // The text is paragraphs of a few hard-wrapped lines: every window of 512
  // tokens holds paragraph breaks, so every cut is at one ("\n\n" is the
  // best separator available).
  EXPECT_EQ(line_cuts, static_cast<int64_t>(chunks.size()) - 1);
  std::printf("chunker: %lld tokens -> %zu chunks of <= 512 (mean %.0f)\n", static_cast<long long>(n), chunks.size(),
              static_cast<double>(n) / chunks.size());
}

TEST(RetrievalModelTest, NeedlesInTheLongTextAreFoundInTheTopK) {
  auto tok = SmolTokenizer();
  auto embedder = MiniLm();
  ASSERT_NE(tok, nullptr);
  ASSERT_NE(embedder, nullptr);
  RetrievalEngineOptions options;
  options.default_chunk_tokens = 512;
  // Knob for the window-size sweep recorded in retrieval_engine.h (default:
  // the engine's default).
  if (const char* w = std::getenv("TANDEM_RETRIEVAL_WINDOW"); w != nullptr) options.embed_window_tokens = std::atoi(w);
  auto engine = RetrievalEngine::Open(tok, embedder, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::string hay = Haystack(*tok, 16000, /*seed=*/20251126);
  ASSERT_TRUE((*engine)->CreateCollection("hay", 512).ok());
  auto ing = (*engine)->BeginIngestion("hay");
  ASSERT_TRUE(ing.ok());
  ASSERT_TRUE((*ing)->Add("long_text", hay).ok());
  auto info = (*ing)->Commit();
  ASSERT_TRUE(info.ok()) << info.status();
  const int64_t L = static_cast<int64_t>(info->tokens);
  const int S = 512;
  const int K = static_cast<int>(std::ceil(std::max(static_cast<double>(L) / (S * 24.0),
                                                    std::min(4096.0 / S, static_cast<double>(L) / S))));
  std::printf("haystack: %lld tokens, %llu chunks, %llu vectors; K = %d\n", static_cast<long long>(L),
              static_cast<unsigned long long>(info->chunks), static_cast<unsigned long long>(info->vectors), K);
  const int questions = static_cast<int>(std::size(kNeedles));
  ASSERT_GE(questions, 20);
  for (SearchMode mode : {SearchMode::kDense, SearchMode::kHybrid, SearchMode::kBm25}) {
    int hits = 0, hits_at_1 = 0, hits_at_3 = 0;
    for (const Needle& nd : kNeedles) {
      SearchParams p;
      p.query = nd.question;
      p.top_k = K;
      p.mode = mode;
      auto r = (*engine)->SearchCollection("hay", p);
      ASSERT_TRUE(r.ok()) << r.status();
      bool found = false;
      for (size_t i = 0; i < r->chunks.size(); ++i) {
        if (r->chunks[i].text.find(nd.fact) == std::string::npos) continue;
        found = true;
        hits_at_1 += i < 1;
        hits_at_3 += i < 3;
      }
      hits += found;
      if (!found) std::printf("  %s miss: %s\n", std::string(SearchModeName(mode)).c_str(), nd.question);
    }
    const double rate = static_cast<double>(hits) / questions;
    std::printf("%s: %d / %d found in the top %d (%.1f %%); top 1: %d, top 3: %d\n",
                std::string(SearchModeName(mode)).c_str(), hits, questions, K, 100 * rate, hits_at_1, hits_at_3);
    ::testing::Test::RecordProperty(std::string(SearchModeName(mode)) + "_hit_rate", std::to_string(rate));
    if (mode != SearchMode::kBm25) {
      EXPECT_GE(rate, 0.9) << SearchModeName(mode);
    }
  }
  // The inline-context path (RAPID's) ranks exactly like the collection.
  SearchParams p;
  p.query = kNeedles[0].question;
  p.top_k = K;
  auto a = (*engine)->SearchText(hay, 512, p);
  auto b = (*engine)->SearchCollection("hay", p);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->chunks.size(), b->chunks.size());
  for (size_t i = 0; i < a->chunks.size(); ++i) {
    EXPECT_EQ(a->chunks[i].position, b->chunks[i].position);
    EXPECT_FLOAT_EQ(a->chunks[i].score, b->chunks[i].score);
  }
  EXPECT_EQ(a->context_tokens, L);
}

}  // namespace
}  // namespace tandem::retrieval
