#include "tests/runtime/tokenizer/test_support.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/tokenizer/unicode.h"
#include "tests/common/test_paths.h"

namespace tandem::tokenizer::testing {
namespace {

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string Hex(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::vector<std::string> LoadCorpus() {
  const std::string text =
      ReadFile(std::filesystem::path(TANDEM_SOURCE_DIR) / "tests/runtime/tokenizer/data/corpus.txt");
  std::vector<std::string> records =
      absl::StrSplit(text, "\n----8<----\n");
  if (!records.empty() && !records.back().empty() && records.back().back() == '\n') {
    records.back().pop_back();
  }
  // Variants: CRLF line endings, and everything joined (whitespace and
  // special tokens meeting ordinary text across record boundaries).
  std::string all;
  const size_t n = records.size();
  for (size_t i = 0; i < n; ++i) {
    all += records[i];
    all += i % 2 ? "\n" : " ";
    std::string crlf;
    for (char c : records[i]) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    if (crlf != records[i]) records.push_back(crlf);
  }
  records.push_back(all);
  return records;
}

std::vector<std::string> RandomTexts(int count, uint32_t seed) {
  static const char* const kFragments[] = {
      "a", "Z", "word", " the", "Hello", "x", "0", "7", "42", "1234", "3.14", " 9",
      " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", " \n", "\u000b", "\f",
      "'", "'s", "'S", "'t", "'re", "'RE", "'Re", "'ve", "'m", "'M", "'ll", "'LL", "'d", "'D",
      "!", "?", ".", ",", "...", "-", "_", "(", ")", "{", "}", "<", ">", "\"", "#", "$", "%",
      "\u00e9", "\u00df", "na\u00efve", "\u4e2d\u6587", "\u65e5\u672c", "\ud55c",
      "\U0001F600", "\U0001F44D\U0001F3FD", "\u200d", "\u0301", "\u00a0", "\u3000",
      "\u2028", "\u0085", "\u2003", "\u0661\u0662", "\u00bd", "\u216b", "\uff11",
      "\u017f", "\u212a", "\u001c", "\u001f", "\x7f", "\u0645\u0631\u062d\u0628\u0627",
      "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "<|im_start", "|>",
  };
  constexpr size_t kNumFragments = sizeof(kFragments) / sizeof(kFragments[0]);
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    std::string s;
    const int parts = 1 + rng() % 24;
    for (int k = 0; k < parts; ++k) {
      if (rng() % 8 == 0) {
        // A random assigned-or-not code point (no surrogates), BMP mostly.
        uint32_t cp = rng() % 8 ? rng() % 0x10000 : 0x10000 + rng() % 0x100000;
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'q';
        AppendUtf8(cp, &s);
      } else {
        s += kFragments[rng() % kNumFragments];
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> LoadDataTexts(int max_files, int max_lines) {
  const std::vector<std::string> files = test_paths::LongTextFiles();
  const std::filesystem::path gsm = std::filesystem::path(test_paths::DataDir()) / "gsm8k/test.jsonl";
  if (files.empty() || !std::filesystem::exists(gsm)) {
    return absl::NotFoundError(absl::StrCat("test data not found under ", test_paths::DataDir(),
                                            " (long_text/*.txt and gsm8k/test.jsonl)"));
  }
  std::vector<std::string> out;
  for (int i = 0; i < max_files && i < static_cast<int>(files.size()); ++i) {
    out.push_back(ReadFile(files[i]));
  }
  std::ifstream in(gsm);
  std::string line;
  for (int i = 0; i < max_lines && std::getline(in, line); ++i) out.push_back(line);
  return out;
}

absl::StatusOr<std::string> ModelPath(const std::string& name) {
  const std::string path = test_paths::ModelDir() + "/" + name + ".gguf";
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("model ", path,
                                            " is missing: run scripts/setup.sh --models ", name));
  }
  return path;
}

absl::StatusOr<std::vector<std::string>> RunOracle(const std::vector<OracleRequest>& requests,
                                                   const std::string& gguf_path) {
  const std::string python = test_paths::PythonPath();
  const auto dir = std::filesystem::temp_directory_path();
  const std::string stem = absl::StrCat("tandem_tok_oracle_", getpid(), "_",
                                        reinterpret_cast<uintptr_t>(&requests));
  const std::string in_path = (dir / (stem + ".in")).string();
  const std::string out_path = (dir / (stem + ".out")).string();
  {
    std::ofstream in(in_path, std::ios::binary);
    for (const OracleRequest& r : requests) in << r.op << ' ' << Hex(r.text) << '\n';
  }
  std::string cmd = absl::StrCat("'", python, "' '", TANDEM_SOURCE_DIR,
                                 "/tests/runtime/tokenizer/hf_oracle.py' --input '", in_path,
                                 "' --output '", out_path, "'");
  if (!gguf_path.empty()) absl::StrAppend(&cmd, " --gguf '", gguf_path, "'");
  const int rc = std::system(cmd.c_str());
  std::filesystem::remove(in_path);
  if (rc != 0) {
    std::filesystem::remove(out_path);
    return absl::InternalError(absl::StrCat(
        "oracle failed (exit ", rc, "): ", cmd,
        " -- does the venv have the packages of scripts/requirements.txt?"));
  }
  std::vector<std::string> lines = absl::StrSplit(ReadFile(out_path), '\n');
  std::filesystem::remove(out_path);
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() != requests.size()) {
    return absl::InternalError(absl::StrCat("oracle returned ", lines.size(), " lines for ",
                                            requests.size(), " requests"));
  }
  return lines;
}

}  // namespace tandem::tokenizer::testing
