// The hand-written pre-tokenizers split exactly as the reference regexes do
// (Hugging Face `tokenizers`, Oniguruma) on the corpus, for every kind.
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "runtime/tokenizer/pretokenizer.h"
#include "tests/runtime/tokenizer/test_support.h"

namespace tandem::tokenizer {
namespace {

using testing::Hex;
using testing::OracleRequest;

std::string OurPieces(PreTokenizerKind kind, const std::string& text) {
  std::vector<std::string_view> pieces;
  PreTokenize(kind, text, &pieces);
  std::vector<std::string> hex;
  for (std::string_view p : pieces) hex.push_back(Hex(std::string(p)));
  return absl::StrJoin(hex, " ");
}

TEST(PreTokenizerOracleTest, AllKindsMatchReferenceRegexes) {
  const std::vector<std::string> corpus = testing::LoadCorpus();
  absl::StatusOr<std::vector<std::string>> data = testing::LoadDataTexts(3, 50);
  ASSERT_TRUE(data.ok()) << data.status();
  std::vector<std::string> texts = corpus;
  texts.insert(texts.end(), data->begin(), data->end());
  const std::vector<std::string> random = testing::RandomTexts(3000, 20261126);
  texts.insert(texts.end(), random.begin(), random.end());

  const std::pair<const char*, PreTokenizerKind> kinds[] = {
      {"gpt2", PreTokenizerKind::kGpt2},
      {"smollm", PreTokenizerKind::kSmolLM},
      {"llama-bpe", PreTokenizerKind::kLlama3},
      {"qwen2", PreTokenizerKind::kQwen2},
  };
  std::vector<OracleRequest> requests;
  for (const auto& [name, kind] : kinds) {
    for (const std::string& t : texts) requests.push_back({std::string("P") + name, t});
  }
  absl::StatusOr<std::vector<std::string>> expected = testing::RunOracle(requests, "");
  ASSERT_TRUE(expected.ok()) << expected.status();

  size_t i = 0, mismatches = 0;
  for (const auto& [name, kind] : kinds) {
    for (const std::string& t : texts) {
      const std::string ours = OurPieces(kind, t);
      if (ours != (*expected)[i] && ++mismatches <= 10) {
        ADD_FAILURE() << name << " split differs for text (hex) " << Hex(t).substr(0, 400)
                      << "\n ours: " << ours.substr(0, 600)
                      << "\n  ref: " << (*expected)[i].substr(0, 600);
      }
      ++i;
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << requests.size() << " texts";
}

}  // namespace
}  // namespace tandem::tokenizer
