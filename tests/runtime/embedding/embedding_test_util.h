// Helpers shared by the embedding tests: scratch files, a safetensors writer
// for synthetic models, and the Python oracles in tests/tools
// (wordpiece_oracle.py: Hugging Face tokenizers ids; bert_reference.py: the
// float64 numpy embedding reference).
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/common/scratch.h"
#include "tests/common/test_paths.h"

namespace tandem::embedding::testing {

using test_paths::PythonPath;
using test_paths::DataDir;
using test_paths::LongTextFiles;
using test_paths::ToolPath;

// A per-process scratch folder, removed by ScratchCleanup at exit.
using test_scratch::ScratchCleanup;
using test_scratch::ScratchDir;

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string Hex(const std::string& s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// u64 little-endian header length + header + data: a safetensors image.
inline std::string SafetensorsImage(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int k = 0; k < 8; ++k) out[static_cast<size_t>(k)] = static_cast<char>((n >> (8 * k)) & 0xFF);
  return out + header + data;
}

// Builds a valid F32 safetensors file from named tensors, in order.
struct F32Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};
// misalign: pad the header so that the data starts 1 byte past a 4-byte
// boundary (legal in the format; readers must not load floats through it).
inline std::string F32Safetensors(const std::vector<F32Tensor>& tensors, bool misalign = false) {
  std::string header = "{";
  std::string data;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const F32Tensor& t = tensors[i];
    const size_t begin = data.size();
    data.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
    // (append, not operator+: GCC 12 warns falsely about the latter)
    if (i > 0) header.append(",");
    header.append("\"").append(t.name).append("\":{\"dtype\":\"F32\",\"shape\":[");
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (d > 0) header.append(",");
      header.append(std::to_string(t.shape[d]));
    }
    header.append("],\"data_offsets\":[").append(std::to_string(begin)).append(",");
    header.append(std::to_string(data.size())).append("]}");
  }
  header += "}";
  while ((8 + header.size()) % 8 != (misalign ? 1u : 0u)) header += ' ';  // writers keep the data 8-byte aligned
  return SafetensorsImage(header, data);
}

// Runs a tests/tools oracle on hex-encoded texts: `tool ARGS... INPUT OUTPUT
// [extra]`; returns the output file's bytes, or fails the test.
inline std::string RunTextOracle(const std::string& tool, const std::string& first_arg,
                                 const std::vector<std::string>& texts, const std::string& extra = "") {
  static std::atomic<int> counter{0};
  const std::string base = ScratchDir() + "/oracle_" + std::to_string(counter++);
  {
    std::ofstream in(base + ".in", std::ios::binary);
    for (const std::string& t : texts) in << Hex(t) << '\n';
  }
  std::string cmd = "'";  // (appends, not operator+: GCC 12 -Wrestrict misfires on the latter)
  cmd.append(PythonPath()).append("' '").append(ToolPath(tool)).append("' '").append(first_arg);
  cmd.append("' '").append(base).append(".in' '").append(base).append(".out' ").append(extra);
  if (std::system(cmd.c_str()) != 0) {
    ADD_FAILURE() << "oracle failed: " << cmd << " (does .venv have scripts/requirements.txt installed?)";
    return "";
  }
  std::string out = ReadFile(base + ".out");
  std::filesystem::remove(base + ".in");
  std::filesystem::remove(base + ".out");
  return out;
}

// Hugging Face token ids of each text.
inline std::vector<std::vector<int32_t>> OracleIds(const std::string& vocab, const std::vector<std::string>& texts,
                                                   int max_tokens) {
  const std::string out =
      RunTextOracle("wordpiece_oracle.py", vocab, texts, "--max-tokens " + std::to_string(max_tokens));
  std::vector<std::vector<int32_t>> ids;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream nums(line);
    std::vector<int32_t> row;
    for (int32_t v; nums >> v;) row.push_back(v);
    ids.push_back(std::move(row));
  }
  EXPECT_EQ(ids.size(), texts.size()) << "oracle answered a different number of lines";
  return ids;
}

// float64 reference embeddings [texts x dim] of a model folder.
inline std::vector<double> ReferenceEmbeddings(const std::string& model_dir, const std::vector<std::string>& texts,
                                               int max_tokens, int64_t* dim) {
  const std::string out =
      RunTextOracle("bert_reference.py", model_dir, texts, "--max-tokens " + std::to_string(max_tokens));
  int64_t shape[2] = {0, 0};
  if (out.size() < sizeof shape) {
    ADD_FAILURE() << "short reference output";
    return {};
  }
  std::memcpy(shape, out.data(), sizeof shape);
  const size_t n = static_cast<size_t>(shape[0] * shape[1]);
  if (shape[0] != static_cast<int64_t>(texts.size()) || out.size() != sizeof shape + n * sizeof(double)) {
    ADD_FAILURE() << "reference output has the wrong shape";
    return {};
  }
  std::vector<double> e(n);
  std::memcpy(e.data(), out.data() + sizeof shape, n * sizeof(double));
  *dim = shape[1];
  return e;
}

}  // namespace tandem::embedding::testing
