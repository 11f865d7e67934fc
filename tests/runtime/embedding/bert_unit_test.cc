// The BERT embedder on a tiny synthetic model (random weights, fixed seed,
// written as a real model folder): the forward pass against the independent
// float64 numpy reference (tests/tools/bert_reference.py), batch and thread
// invariance, concurrency, and every load-time error path. Small enough for
// ASan+UBSan.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/embedding/bert_config.h"
#include "runtime/embedding/bert_embedder.h"
#include "tests/runtime/embedding/embedding_test_util.h"

namespace tandem::embedding {
namespace {

using ::testing::HasSubstr;
using testing::F32Tensor;

constexpr int kHidden = 8, kHeads = 2, kLayers = 2, kInter = 16, kMaxPos = 16;

const char* const kVocab[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat",
                              "dog", "##s", "a", "run", ",", ".", "!", "is", "##ning"};
constexpr int kVocabSize = sizeof kVocab / sizeof kVocab[0];

std::string ConfigJson(int hidden = kHidden, const char* act = "gelu") {
  return absl::StrCat("{\"model_type\":\"bert\",\"hidden_act\":\"", act, "\",\"vocab_size\":", kVocabSize,
                      ",\"hidden_size\":", hidden, ",\"num_hidden_layers\":", kLayers,
                      ",\"num_attention_heads\":", kHeads, ",\"intermediate_size\":", kInter,
                      ",\"max_position_embeddings\":", kMaxPos, ",\"type_vocab_size\":2,\"layer_norm_eps\":1e-12}");
}

std::vector<F32Tensor> RandomWeights(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  auto make = [&](std::string name, std::vector<int64_t> shape, float offset = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    F32Tensor t{std::move(name), std::move(shape), std::vector<float>(static_cast<size_t>(n))};
    for (float& v : t.values) v = offset + normal(rng);
    return t;
  };
  std::vector<F32Tensor> w = {
      make("embeddings.word_embeddings.weight", {kVocabSize, kHidden}),
      make("embeddings.position_embeddings.weight", {kMaxPos, kHidden}),
      make("embeddings.token_type_embeddings.weight", {2, kHidden}),
      make("embeddings.LayerNorm.weight", {kHidden}, 1.0f),
      make("embeddings.LayerNorm.bias", {kHidden}),
  };
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = absl::StrCat("encoder.layer.", l, ".");
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      w.push_back(make(absl::StrCat(p, m, ".weight"), {kHidden, kHidden}));
      w.push_back(make(absl::StrCat(p, m, ".bias"), {kHidden}));
    }
    w.push_back(make(p + "intermediate.dense.weight", {kInter, kHidden}));
    w.push_back(make(p + "intermediate.dense.bias", {kInter}));
    w.push_back(make(p + "output.dense.weight", {kHidden, kInter}));
    w.push_back(make(p + "output.dense.bias", {kHidden}));
    for (const char* ln : {"attention.output.LayerNorm", "output.LayerNorm"}) {
      w.push_back(make(absl::StrCat(p, ln, ".weight"), {kHidden}, 1.0f));
      w.push_back(make(absl::StrCat(p, ln, ".bias"), {kHidden}));
    }
  }
  return w;
}

// Writes a complete model folder and returns its path.
std::string WriteModel(const std::string& name, const std::vector<F32Tensor>& weights,
                       const std::string& config = ConfigJson(), bool misalign = false) {
  const std::string dir = absl::StrCat(testing::ScratchDir(), "/", name);
  std::filesystem::create_directories(dir);
  std::string vocab;
  for (const char* t : kVocab) absl::StrAppend(&vocab, t, "\n");
  testing::WriteFile(dir + "/vocab.txt", vocab);
  testing::WriteFile(dir + "/config.json", config);
  testing::WriteFile(dir + "/model.safetensors", testing::F32Safetensors(weights, misalign));
  return dir;
}

const std::string& TinyModel() {
  static const std::string dir = WriteModel("tiny", RandomWeights(7));
  return dir;
}

std::unique_ptr<Embedder> Load(const std::string& dir, BertEmbedderOptions options = {}) {
  auto e = LoadBertEmbedder(dir, options);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

const std::vector<std::string> kTexts = {
    "the cat sat on the mat.",
    "Dogs running!",
    "",
    "a",
    "the cat, the dog, the mat, the cat, the dog, the mat, the cat.",  // longer than 16 tokens: truncated
    "THE MAT IS RUNNING",
};

TEST(BertEmbedder, MatchesFloat64Reference) {
  auto e = Load(TinyModel(), {.threads = 2});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dim(), kHidden);
  EXPECT_EQ(e->max_tokens(), kMaxPos);  // 512 capped by max_position_embeddings
  EXPECT_EQ(e->name(), "tiny");
  auto got = e->Embed(kTexts);
  ASSERT_TRUE(got.ok()) << got.status();
  int64_t dim = 0;
  const std::vector<double> ref = testing::ReferenceEmbeddings(TinyModel(), kTexts, kMaxPos, &dim);
  ASSERT_EQ(dim, kHidden);
  ASSERT_EQ(got->size(), ref.size());
  for (size_t t = 0; t < kTexts.size(); ++t) {
    double max_abs = 0, dot = 0, norm = 0;
    for (int i = 0; i < kHidden; ++i) {
      const double a = (*got)[t * kHidden + i], b = ref[t * kHidden + i];
      max_abs = std::max(max_abs, std::fabs(a - b));
      dot += a * b;
      norm += a * a;
    }
    EXPECT_LT(max_abs, 1e-5) << "text " << t << ": '" << kTexts[t] << "'";
    EXPECT_NEAR(norm, 1.0, 1e-5) << "text " << t;
    EXPECT_GT(dot, 0.99999) << "text " << t;
  }
}

TEST(BertEmbedder, BatchSplitAndThreadCountDoNotChangeABit) {
  auto batched = Load(TinyModel(), {.threads = 3});
  auto split = Load(TinyModel(), {.threads = 1, .max_batch_tokens = 5});  // forces one text per pass
  ASSERT_NE(batched, nullptr);
  ASSERT_NE(split, nullptr);
  auto all = batched->Embed(kTexts);
  auto pieces = split->Embed(kTexts);
  ASSERT_TRUE(all.ok() && pieces.ok());
  EXPECT_EQ(*all, *pieces);
  for (size_t t = 0; t < kTexts.size(); ++t) {
    auto alone = batched->Embed(std::vector<std::string>{kTexts[t]});
    ASSERT_TRUE(alone.ok());
    EXPECT_TRUE(std::equal(alone->begin(), alone->end(), all->begin() + static_cast<std::ptrdiff_t>(t * kHidden)))
        << "text " << t << " alone differs from the batch";
  }
  auto none = batched->Embed(std::vector<std::string>{});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(BertEmbedder, MisalignedTensorDataLoadsTheSameModel) {
  auto aligned = Load(TinyModel(), {.threads = 1});
  auto shifted = Load(WriteModel("misaligned", RandomWeights(7), ConfigJson(), /*misalign=*/true), {.threads = 1});
  ASSERT_NE(aligned, nullptr);
  ASSERT_NE(shifted, nullptr);
  auto a = aligned->Embed(kTexts);
  auto b = shifted->Embed(kTexts);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(BertEmbedder, ConcurrentCallersGetTheSameResults) {
  auto e = Load(TinyModel(), {.threads = 2});
  ASSERT_NE(e, nullptr);
  auto want = e->Embed(kTexts);
  ASSERT_TRUE(want.ok());
  std::vector<std::thread> callers;
  std::vector<int> mismatches(4, 0);
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 5; ++round) {
        auto got = e->Embed(kTexts);
        mismatches[static_cast<size_t>(c)] += !got.ok() || *got != *want;
      }
    });
  }
  for (auto& t : callers) t.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(BertEmbedder, InvalidUtf8NamesTheText) {
  auto e = Load(TinyModel(), {.threads = 1});
  ASSERT_NE(e, nullptr);
  auto r = e->Embed(std::vector<std::string>{"fine", "bad \xc3"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("texts[1]"));
}

TEST(BertEmbedder, LoadErrorsNameTheProblem) {
  // Missing folder / file.
  auto missing = LoadBertEmbedder(testing::ScratchDir() + "/absent");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("fetch_models.py"));

  // A weight of the wrong shape.
  std::vector<F32Tensor> w = RandomWeights(1);
  for (F32Tensor& t : w) {
    if (t.name == "encoder.layer.1.intermediate.dense.weight") t.shape = {kHidden, kInter};
  }
  auto shape = LoadBertEmbedder(WriteModel("bad_shape", w));
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(shape.status().message(), HasSubstr("encoder.layer.1.intermediate.dense.weight"));

  // A missing weight.
  w = RandomWeights(1);
  w.pop_back();
  auto absent = LoadBertEmbedder(WriteModel("missing_tensor", w));
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(absent.status().message(), HasSubstr("is missing"));

  // Config that does not fit the weights / is not supported.
  auto hidden = LoadBertEmbedder(WriteModel("bad_hidden", RandomWeights(1), ConfigJson(12)));
  EXPECT_EQ(hidden.status().code(), absl::StatusCode::kInvalidArgument);
  auto act = LoadBertEmbedder(WriteModel("bad_act", RandomWeights(1), ConfigJson(kHidden, "relu")));
  EXPECT_EQ(act.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(act.status().message(), HasSubstr("hidden_act"));

  // A corrupt safetensors file.
  const std::string corrupt = WriteModel("corrupt", RandomWeights(1));
  testing::WriteFile(corrupt + "/model.safetensors", "garbage!garbage!");
  auto c = LoadBertEmbedder(corrupt);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("safetensors"));

  // Options.
  EXPECT_EQ(LoadBertEmbedder(TinyModel(), {.threads = -1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadBertEmbedder(TinyModel(), {.max_tokens = 1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadBertEmbedder(TinyModel(), {.max_batch_tokens = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BertConfig, ValidatesFields) {
  auto ok = ParseBertConfig(ConfigJson());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->head_dim(), kHidden / kHeads);
  EXPECT_EQ(ok->layer_norm_eps, 1e-12);
  struct Case {
    std::string json;
    const char* field;
  };
  const Case cases[] = {
      {"{", "not valid JSON"},
      {"[]", "not a JSON object"},
      {R"({"model_type":"bert"})", "vocab_size"},
      {ConfigJson(9), "not a multiple"},
      {R"({"model_type":"bert","hidden_act":"gelu","vocab_size":-3})", "vocab_size"},
      {R"({"model_type":"bert","hidden_act":"gelu","vocab_size":"10"})", "vocab_size"},
      {ConfigJson(kHidden, "gelu_new"), "hidden_act"},
  };
  for (const Case& c : cases) {
    auto r = ParseBertConfig(c.json);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(r.status().message(), HasSubstr(c.field)) << c.json;
  }
  std::string roberta = ConfigJson();
  roberta.replace(roberta.find("\"bert\""), 6, "\"roberta\"");
  EXPECT_THAT(ParseBertConfig(roberta).status().message(), HasSubstr("model_type"));
  EXPECT_EQ(LoadBertConfig("/nonexistent/config.json").status().code(), absl::StatusCode::kNotFound);
}

TEST(BertEmbedder, ResolvesTheBundledModelInTheCache) {
  const std::string cache = testing::ScratchDir() + "/cache";
  std::filesystem::create_directories(cache);
  ASSERT_EQ(setenv("TANDEM_MODEL_DIR", cache.c_str(), 1), 0);
  auto none = ResolveEmbedderModelDir();
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("scripts/fetch_models.py all-minilm-l6-v2"));
  std::filesystem::create_directories(cache + "/all-minilm-l6-v2");
  auto found = ResolveEmbedderModelDir("all-minilm-l6-v2");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, cache + "/all-minilm-l6-v2");
  auto dir = ResolveEmbedderModelDir(TinyModel());
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(*dir, TinyModel());
  EXPECT_EQ(ResolveEmbedderModelDir("no-such-model").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ResolveEmbedderModelDir("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::embedding
