#include "services/retrieval/bm25.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"

namespace tandem::retrieval {
namespace {

bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

}  // namespace

std::vector<std::string> LexicalTerms(std::string_view text) {
  std::vector<std::string> terms;
  std::string cur;
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (IsWordByte(c)) {
      cur.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : ch);
    } else if (!cur.empty()) {
      terms.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) terms.push_back(std::move(cur));
  return terms;
}

void Bm25Index::Add(std::string_view text) {
  const int32_t doc = static_cast<int32_t>(doc_lengths_.size());
  const std::vector<std::string> terms = LexicalTerms(text);
  absl::flat_hash_map<std::string, int32_t> tf;
  for (const std::string& t : terms) ++tf[t];
  for (const auto& [term, count] : tf) postings_[term].push_back(Posting{doc, count});
  doc_lengths_.push_back(static_cast<int32_t>(terms.size()));
  total_length_ += static_cast<int64_t>(terms.size());
}

std::vector<float> Bm25Index::Score(std::string_view query) const {
  const size_t n = doc_lengths_.size();
  std::vector<float> scores(n, 0.0f);
  if (n == 0) return scores;
  const double avgdl = std::max(1.0, static_cast<double>(total_length_) / static_cast<double>(n));
  absl::flat_hash_set<std::string> seen;
  for (std::string& term : LexicalTerms(query)) {
    if (!seen.insert(term).second) continue;
    auto it = postings_.find(term);
    if (it == postings_.end()) continue;
    const double df = static_cast<double>(it->second.size());
    const double idf = std::log(1.0 + (static_cast<double>(n) - df + 0.5) / (df + 0.5));
    for (const Posting& p : it->second) {
      const double tf = p.tf;
      const double norm = params_.k1 * (1.0 - params_.b + params_.b * doc_lengths_[p.doc] / avgdl);
      scores[p.doc] += static_cast<float>(idf * tf * (params_.k1 + 1.0) / (tf + norm));
    }
  }
  return scores;
}

}  // namespace tandem::retrieval
