// Every tensor of the real models, read by tandem and dequantized with the
// scalar reference, against gguf-py's reader and gguf.quants.dequantize (ggml's
// own reference in Python), streamed through a pipe from
// tests/tools/gguf_dequant_oracle.py. SmolLM2 is compared on every row; the
// Qwen files (Q5_0/Q4_K/Q6_K coverage) on a deterministic sample of rows per
// tensor to keep CI time down. Reports the maximum absolute/relative error.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/dequantize.h"
#include "runtime/gguf/gguf_file.h"
#include "tests/runtime/gguf/test_util.h"

namespace tandem::gguf {
namespace {

struct Stats {
  int64_t tensors = 0, rows = 0, values = 0, mismatches = 0, bit_mismatches = 0;
  double max_abs = 0, max_rel = 0;
};

bool ReadLine(FILE* f, std::string* line) {
  line->clear();
  for (int c; (c = std::fgetc(f)) != EOF;) {
    if (c == '\n') return true;
    line->push_back(static_cast<char>(c));
  }
  return false;
}

bool ReadExact(FILE* f, void* dst, size_t n) { return std::fread(dst, 1, n, f) == n; }

void CompareModel(const std::string& file_name, int max_rows, bool required) {
  const std::filesystem::path path = testing::ModelDir() / file_name;
  if (!std::filesystem::exists(path)) {
    if (required) {
      FAIL() << "model " << path << " is missing; run scripts/setup.sh (or set TANDEM_MODEL_DIR)";
    }
    GTEST_SKIP() << "optional model " << path << " is not in the cache; skipping";
  }
  auto file_or = GgufFile::Open(path.string());
  ASSERT_TRUE(file_or.ok()) << file_or.status();
  const GgufFile& file = **file_or;
  const uint8_t* base = file.tensors().empty() ? nullptr : file.tensors()[0].data -
                                                               file.data_offset() -
                                                               file.tensors()[0].offset;

  const std::string cmd = testing::ShellQuote(testing::PythonPath()) + " " +
                          testing::ShellQuote(testing::ToolPath("gguf_dequant_oracle.py")) + " " +
                          testing::ShellQuote(path.string()) + " --max-rows " +
                          std::to_string(max_rows);
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << cmd;

  Stats st;
  std::map<std::string, int64_t> per_type_rows;
  std::string line;
  std::vector<int64_t> rows;
  std::vector<float> want, got;
  bool saw_end = false;
  while (ReadLine(pipe, &line)) {
    if (line == "END") {
      saw_end = true;
      break;
    }
    std::istringstream in(line);
    std::string name;
    uint32_t type_id;
    uint64_t abs_offset;
    int n_dims;
    in >> name >> type_id >> abs_offset >> n_dims;
    std::vector<int64_t> dims(n_dims);
    for (auto& d : dims) in >> d;
    int64_t n_rows, n_sampled;
    in >> n_rows >> n_sampled;
    ASSERT_FALSE(in.fail()) << "bad oracle header: " << line;
    SCOPED_TRACE(name);

    const TensorInfo* t = file.FindTensor(name);
    ASSERT_NE(t, nullptr) << "tandem does not see tensor " << name;
    EXPECT_EQ(static_cast<uint32_t>(t->type), type_id);
    EXPECT_EQ(t->dims, dims);
    EXPECT_EQ(static_cast<uint64_t>(t->data - base), abs_offset);
    EXPECT_EQ(t->num_rows(), n_rows);
    const int64_t n = t->row_length();
    rows.resize(n_sampled);
    ASSERT_TRUE(ReadExact(pipe, rows.data(), rows.size() * sizeof(int64_t)));
    want.resize(n);
    got.resize(n);
    for (int64_t r : rows) {
      ASSERT_TRUE(ReadExact(pipe, want.data(), want.size() * sizeof(float))) << "oracle stream ended";
      ASSERT_TRUE(r >= 0 && r < t->num_rows());
      ASSERT_TRUE(kernels::DequantizeRow(t->type, t->row(r), got.data(), n))
          << "no dequantizer for " << kernels::FindTypeTraits(type_id)->name;
      for (int64_t j = 0; j < n; ++j) {
        const float a = got[j], b = want[j];
        if (std::memcmp(&a, &b, sizeof a) != 0) ++st.bit_mismatches;
        if (a != b && !(std::isnan(a) && std::isnan(b))) {
          if (++st.mismatches <= 5) {
            ADD_FAILURE() << name << " row " << r << " elem " << j << ": tandem " << a
                          << " gguf-py " << b;
          }
          const double abs_err = std::fabs(static_cast<double>(a) - b);
          st.max_abs = std::max(st.max_abs, abs_err);
          if (b != 0) st.max_rel = std::max(st.max_rel, abs_err / std::fabs(b));
        }
      }
      st.values += n;
    }
    st.rows += n_sampled;
    per_type_rows[kernels::FindTypeTraits(type_id)->name] += n_sampled;
    ++st.tensors;
  }
  const int rc = ::pclose(pipe);
  ASSERT_TRUE(saw_end) << "oracle did not finish: " << cmd;
  ASSERT_EQ(rc, 0) << "oracle failed: " << cmd;
  EXPECT_EQ(st.tensors, static_cast<int64_t>(file.tensors().size())) << "tensor count differs";

  std::cout << "[gguf_model_test] " << file_name << ": " << st.tensors << " tensors, " << st.rows
            << " rows, " << st.values << " values compared; mismatches " << st.mismatches
            << " (bitwise " << st.bit_mismatches << "), max abs err " << st.max_abs
            << ", max rel err " << st.max_rel << "; rows by type:";
  for (const auto& [type, count] : per_type_rows) std::cout << " " << type << "=" << count;
  std::cout << std::endl;
  EXPECT_EQ(st.mismatches, 0);
  EXPECT_EQ(st.bit_mismatches, 0);
}

TEST(GgufModel, SmolLM2EveryRowMatchesGgufPy) { CompareModel("smollm2-135m.gguf", 0, true); }

TEST(GgufModel, Qwen05bSampledRowsMatchGgufPy) {
  CompareModel("qwen2.5-coder-0.5b.gguf", 256, false);
}

TEST(GgufModel, Qwen15bSampledRowsMatchGgufPy) {
  CompareModel("qwen2.5-coder-1.5b.gguf", 128, false);
}

}  // namespace
}  // namespace tandem::gguf
