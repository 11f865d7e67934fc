// The real all-MiniLM-L6-v2 (model cache, scripts/fetch_models.py
// all-minilm-l6-v2): token ids equal Hugging Face tokenizers'
// BertWordPieceTokenizer(vocab.txt, lowercase=True) on ~320 lines of prose and
// tricky strings; embeddings within 1e-4 (max abs) and cosine > 0.99999 of
// the float64 numpy reference (tests/tools/bert_reference.py); a text's
// embedding alone equals its embedding in a batch bit for bit; and retrieval
// sanity: a query is closer to a relevant passage than to an unrelated one.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/embedding/bert_embedder.h"
#include "runtime/embedding/wordpiece.h"
#include "tests/runtime/embedding/embedding_test_util.h"

namespace tandem::embedding {
namespace {

[[maybe_unused]] ::testing::Environment* const kCleanup =
    ::testing::AddGlobalTestEnvironment(new testing::ScratchCleanup);

std::string ModelDir() {
  auto dir = ResolveEmbedderModelDir();
  if (!dir.ok()) {
    ADD_FAILURE() << dir.status() << " (or point TANDEM_MODEL_DIR at a cache holding all-minilm-l6-v2/)";
    return "";
  }
  return *dir;
}

// tests/data/long_text: ~3,800 hard-wrapped lines of English prose.
std::vector<std::string> ProseFiles() {
  std::vector<std::string> files = testing::LongTextFiles();
  EXPECT_FALSE(files.empty()) << "no .txt files in " << testing::DataDir() << "/long_text";
  return files;
}

// Every 12th non-empty line of the long text (~320 lines, deterministic).
std::vector<std::string> ProseLines() {
  std::vector<std::string> lines;
  int n = 0;
  for (const std::string& f : ProseFiles()) {
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (n++ % 12 == 0) lines.push_back(line);
    }
  }
  return lines;
}

const std::vector<std::string>& TrickyStrings() {
  static const std::vector<std::string> kTexts = {
      "",
      "   \t\n  ",
      "Crème brûlée à la française, naïve façade, résumé, coöperate.",
      "Ångström, Øresund, Łódź, Straße, İstanbul, Ærøskøbing, ĲSSELMEER.",
      "e\xcc\x81 a\xcc\x88 o\xcc\x83 n\xcc\x83 (combining marks after their base letters)",
      "Hello,world!!! (yes) [no] {maybe}... --- 'quotes' \"double\" “curly” «guillemets» ¿qué? ¡sí!",
      "a+b=c; x<y>z; 50% of $42.50 is $21.25 ~ approx. #hashtag @user a|b ^caret `tick`",
      "3.14159 1,000,000 2024-06-01 12:30:45 v1.2.3-rc4 0x1F600",
      "我爱北京天安门。日本語のテキストとカタカナ。한국어 문장입니다.",
      "Mixed 中文and English混合text 漢字",
      "I love 🍕 and 🎉!! 👨‍👩‍👧 family 👍🏽 ❤️ ☕ ✓ ★",
      "Привет, мир! Γειά σου, κόσμε! ΆΈΉΊΌΎΏ",
      "مَرْحَبًا بِالْعَالَم — שָׁלוֹם עוֹלָם",
      "नमस्ते दुनिया, สวัสดีชาวโลก, ሰላም ለዓለም",
      "tab\tsep\xc2\xa0nbsp\xe2\x80\x8bzero\xe2\x80\x8cwidth\xe2\x80\x8dj\xef\xbb\xbf" "bom\x01" "ctl",
      "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
      absl::StrCat(std::string(100, 'x'), " ", std::string(101, 'y'), " ", std::string(150, 'z'), "!"),
      absl::StrCat("supercalifragilisticexpialidocious", std::string(70, 'q')),
      "UPPER lower MiXeD CamelCaseWord snake_case_word kebab-case-word",
      "https://example.com/path?query=1&b=2#frag user@example.org C:\\Windows\\path",
      "\xef\xbc\xa6\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c\xef\xbd\x97\xef\xbd\x89\xef\xbd\x84\xef\xbd\x94\xef\xbd\x88 ｶﾀｶﾅ ﬁ ﬂ ² ½ ℃ Ⅻ",
      "ﬀ ﬃ Ǆ ǅ ǆ ß ẞ ς Σ ΐ",
  };
  return kTexts;
}

std::string LongText() {
  // Two whole long-text files: far more than 512 tokens, so truncation is
  // exercised.
  const std::vector<std::string> files = ProseFiles();
  std::string text;
  for (size_t i = 0; i < std::min<size_t>(2, files.size()); ++i) text += testing::ReadFile(files[i]);
  return text;
}

TEST(EmbeddingModel, TokenIdsEqualHuggingFace) {
  const std::string dir = ModelDir();
  ASSERT_FALSE(dir.empty());
  auto tok = WordPieceTokenizer::FromVocabFile(dir + "/vocab.txt");
  ASSERT_TRUE(tok.ok()) << tok.status();
  std::vector<std::string> texts = ProseLines();
  ASSERT_GT(texts.size(), 250u);
  const size_t prose_lines = texts.size();
  for (const std::string& t : TrickyStrings()) texts.push_back(t);
  texts.push_back(LongText());
  const std::vector<std::vector<int32_t>> want = testing::OracleIds(dir + "/vocab.txt", texts, 512);
  ASSERT_EQ(want.size(), texts.size());
  int mismatches = 0;
  size_t unk = 0, pieces = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto got = (*tok)->Encode(texts[i], 512);
    ASSERT_TRUE(got.ok()) << got.status() << " text " << i;
    pieces += got->size();
    unk += static_cast<size_t>(std::count(got->begin(), got->end(), (*tok)->unk_id()));
    if (*got != want[i] && ++mismatches <= 5) {
      std::string g, w;
      for (int32_t id : *got) absl::StrAppend(&g, (*tok)->token(id), " ");
      for (int32_t id : want[i]) absl::StrAppend(&w, (*tok)->token(id), " ");
      ADD_FAILURE() << (i < prose_lines ? "prose line" : "tricky string") << " " << i << ": '" << texts[i]
                    << "'\n ours: " << g << "\n  hf:  " << w;
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(want.back().size(), 512u);  // the long text was truncated
  EXPECT_LT(unk * 50, pieces);          // a sane vocabulary: [UNK] is rare
}

const std::vector<std::string>& ReferenceSentences() {
  static const std::vector<std::string> kTexts = [] {
    std::vector<std::string> t = {
        "hello world",
        "A man is eating food.",
        "A man is riding a white horse on an enclosed ground.",
        "The new movie is awesome, I loved every minute of it!",
        "Crème brûlée à la française: naïve but delicious.",
        "我爱北京天安门",
        "How many people live in Berlin?",
        "Around 3.8 million people live in Berlin, the capital of Germany.",
        "🍕 + 🎉 = party",
        "",
    };
    t.push_back(LongText());  // truncated to 512 tokens on both sides
    return t;
  }();
  return kTexts;
}

TEST(EmbeddingModel, MatchesFloat64Reference) {
  const std::string dir = ModelDir();
  ASSERT_FALSE(dir.empty());
  auto e = LoadBertEmbedder(dir, {.threads = 2});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)->dim(), 384);
  EXPECT_EQ((*e)->max_tokens(), 512);
  EXPECT_EQ((*e)->name(), "all-minilm-l6-v2");
  const std::vector<std::string>& texts = ReferenceSentences();
  auto got = (*e)->Embed(texts);
  ASSERT_TRUE(got.ok()) << got.status();
  int64_t dim = 0;
  const std::vector<double> ref = testing::ReferenceEmbeddings(dir, texts, 512, &dim);
  ASSERT_EQ(dim, 384);
  ASSERT_EQ(ref.size(), got->size());
  double worst_abs = 0, worst_cos = 1;
  for (size_t t = 0; t < texts.size(); ++t) {
    double max_abs = 0, dot = 0, norm = 0;
    for (size_t i = 0; i < 384; ++i) {
      const double a = (*got)[t * 384 + i], b = ref[t * 384 + i];
      max_abs = std::max(max_abs, std::fabs(a - b));
      dot += a * b;
      norm += a * a;
    }
    EXPECT_LT(max_abs, 1e-4) << "text " << t << " '" << texts[t].substr(0, 60) << "'";
    EXPECT_GT(dot, 0.99999) << "text " << t;
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5) << "text " << t;
    worst_abs = std::max(worst_abs, max_abs);
    worst_cos = std::min(worst_cos, dot);
  }
  std::printf("[embedding] vs float64 reference: worst max|diff| %.3g, worst cosine %.9f over %zu texts\n",
              worst_abs, worst_cos, texts.size());
}

TEST(EmbeddingModel, AloneEqualsBatchedBitForBit) {
  const std::string dir = ModelDir();
  ASSERT_FALSE(dir.empty());
  auto e = LoadBertEmbedder(dir, {.threads = 2});
  ASSERT_TRUE(e.ok()) << e.status();
  const std::vector<std::string> texts(ReferenceSentences().begin(), ReferenceSentences().begin() + 5);
  auto batch = (*e)->Embed(texts);
  ASSERT_TRUE(batch.ok());
  for (size_t t = 0; t < texts.size(); ++t) {
    auto alone = (*e)->Embed(std::vector<std::string>{texts[t]});
    ASSERT_TRUE(alone.ok());
    EXPECT_TRUE(std::equal(alone->begin(), alone->end(), batch->begin() + static_cast<std::ptrdiff_t>(t * 384)))
        << "text " << t;
  }
}

double Cosine(const std::vector<float>& e, size_t a, size_t b) {
  double d = 0;
  for (size_t i = 0; i < 384; ++i) d += static_cast<double>(e[a * 384 + i]) * e[b * 384 + i];
  return d;
}

TEST(EmbeddingModel, QueriesAreCloserToRelevantPassages) {
  const std::string dir = ModelDir();
  ASSERT_FALSE(dir.empty());
  auto e = LoadBertEmbedder(dir, {.threads = 2});
  ASSERT_TRUE(e.ok()) << e.status();
  struct Triple {
    const char* query;
    const char* relevant;
    const char* irrelevant;
  };
  const Triple triples[] = {
      {"How do I bake bread at home?",
       "Mix flour, water, yeast and salt, let the dough rise, then bake the loaf in a hot oven.",
       "The central bank raised interest rates and the stock market fell sharply."},
      {"What is the capital of France?", "Paris is the capital and largest city of France.",
       "Photosynthesis converts light energy into chemical energy in plants."},
      {"Why do startups fail?",
       "Most startups die because they run out of money before they make something users want.",
       "The violin has four strings tuned in perfect fifths."},
      {"python list comprehension", "squares = [x * x for x in range(10)] builds a list in one expression.",
       "The Amazon rainforest spans nine countries in South America."},
  };
  std::vector<std::string> texts;
  for (const Triple& t : triples) {
    texts.push_back(t.query);
    texts.push_back(t.relevant);
    texts.push_back(t.irrelevant);
  }
  auto emb = (*e)->Embed(texts);
  ASSERT_TRUE(emb.ok()) << emb.status();
  for (size_t i = 0; i < std::size(triples); ++i) {
    const double rel = Cosine(*emb, 3 * i, 3 * i + 1), irr = Cosine(*emb, 3 * i, 3 * i + 2);
    EXPECT_GT(rel, irr + 0.1) << triples[i].query << ": relevant " << rel << ", irrelevant " << irr;
  }
}

}  // namespace
}  // namespace tandem::embedding
