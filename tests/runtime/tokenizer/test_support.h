// Helpers shared by the tokenizer tests: the text corpus and the Python
// reference (hf_oracle.py), which answers a whole batch in one process.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem::tokenizer::testing {

// Records of tests/runtime/tokenizer/data/corpus.txt plus derived variants.
std::vector<std::string> LoadCorpus();

// `count` deterministic random valid-UTF-8 strings built from the fragments
// that stress pre-tokenizers: contractions in any case, whitespace of every
// kind, digits of several scripts, CJK, emoji, combining marks, special
// tokens, and random code points.
std::vector<std::string> RandomTexts(int count, uint32_t seed);

// Up to `max_files` whole long-text files (English prose) and `max_lines`
// GSM8K JSON lines from the repository's test data (tests/data). Error if
// absent.
absl::StatusOr<std::vector<std::string>> LoadDataTexts(int max_files, int max_lines);

// Path of a model in the cache (env TANDEM_MODEL_DIR, default
// $HOME/.cache/tandem/models), or an error saying how to fetch it.
absl::StatusOr<std::string> ModelPath(const std::string& name);

// One oracle request: op ("E0", "E1", "Pqwen2", "T", ...) and its text.
struct OracleRequest {
  std::string op;
  std::string text;
};

// Runs hf_oracle.py once; returns one output line per request.
absl::StatusOr<std::vector<std::string>> RunOracle(const std::vector<OracleRequest>& requests,
                                                   const std::string& gguf_path);

std::string Hex(const std::string& bytes);
std::string FromHex(const std::string& hex);

}  // namespace tandem::tokenizer::testing
