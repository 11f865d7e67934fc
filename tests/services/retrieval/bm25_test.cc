// BM25: lexical terms, the Okapi formula on a hand-computed case, and the
// ranking of a small hand-made corpus.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "services/retrieval/bm25.h"

namespace tandem::retrieval {
namespace {

TEST(LexicalTermsTest, LowercaseWords) {
  EXPECT_EQ(LexicalTerms("Hello, World! It's 2024; naïve café"),
            (std::vector<std::string>{"hello", "world", "it", "s", "2024", "naïve", "café"}));
  EXPECT_TRUE(LexicalTerms("  ,.;  ").empty());
}

TEST(Bm25Test, MatchesTheFormulaByHand) {
  Bm25Index index;
  index.Add("apple banana apple");  // 3 terms
  index.Add("banana cherry");       // 2 terms
  index.Add("cherry date elder fig");  // 4 terms
  const auto s = index.Score("apple");
  // N = 3, df(apple) = 1, avgdl = 3, tf = 2, |d| = 3.
  const double idf = std::log(1 + (3 - 1 + 0.5) / (1 + 0.5));
  const double want = idf * 2 * 2.2 / (2 + 1.2 * (1 - 0.75 + 0.75 * 3.0 / 3.0));
  EXPECT_NEAR(s[0], want, 1e-5);
  EXPECT_EQ(s[1], 0.0f);
  EXPECT_EQ(s[2], 0.0f);
  // Repeating a query term does not count twice; case does not matter.
  EXPECT_EQ(index.Score("APPLE apple")[0], s[0]);
}

TEST(Bm25Test, RanksAHandMadeCorpus) {
  const std::vector<std::string> corpus = {
      "The lighthouse keeper painted the tower blue every spring.",
      "Quantum computers use qubits that can be in superposition.",
      "The recipe needs two eggs, flour, sugar and a pinch of salt.",
      "A blue whale is the largest animal known to have ever existed.",
      "The keeper of the old lighthouse kept a journal of every ship that passed the lighthouse.",
      "Sugar prices rose sharply after the storm damaged the harvest.",
  };
  Bm25Index index;
  for (const std::string& d : corpus) index.Add(d);
  auto rank = [&](const std::string& q) {
    const auto s = index.Score(q);
    std::vector<int> order(s.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return s[a] > s[b]; });
    return order;
  };
  // Two lighthouse documents; the one with "lighthouse" twice and "keeper" wins.
  auto r = rank("lighthouse keeper journal");
  EXPECT_EQ(r[0], 4);
  EXPECT_EQ(r[1], 0);
  EXPECT_EQ(rank("qubits superposition")[0], 1);
  // A rare term (whale) beats a common one (blue appears twice).
  EXPECT_EQ(rank("blue whale")[0], 3);
  r = rank("sugar");
  EXPECT_TRUE((r[0] == 2 && r[1] == 5) || (r[0] == 5 && r[1] == 2));
  // Unknown words score nothing.
  const auto none = index.Score("zebra");
  EXPECT_TRUE(std::all_of(none.begin(), none.end(), [](float x) { return x == 0.0f; }));
}

}  // namespace
}  // namespace tandem::retrieval
