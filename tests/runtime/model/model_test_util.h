// Helpers shared by the model tests: running the Python oracles (tiny model
// writer, float64 reference forward) and comparing logits.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/common/scratch.h"
#include "tests/common/test_paths.h"

namespace tandem::testing_util {

using test_paths::ModelDir;
using test_paths::PythonPath;
using test_paths::ToolPath;

// A per-process scratch folder for generated files; ScratchCleanup removes
// it when the test program ends.
using test_scratch::ScratchCleanup;
using test_scratch::ScratchDir;

inline int RunCommand(const std::string& cmd) { return std::system(cmd.c_str()); }

struct RefLogits {
  int64_t rows = 0, vocab = 0;
  std::vector<double> data;
  const double* row(int64_t i) const { return data.data() + i * vocab; }
};

// Reads the per-sequence blocks reference_forward.py writes.
inline std::vector<RefLogits> ReadRefLogits(const std::string& file, size_t count) {
  std::vector<RefLogits> out;
  std::ifstream f(file, std::ios::binary);
  for (size_t i = 0; i < count; ++i) {
    RefLogits ref;
    int64_t shape[2] = {0, 0};
    f.read(reinterpret_cast<char*>(shape), sizeof shape);
    if (!f || shape[0] <= 0 || shape[1] <= 0) {
      ADD_FAILURE() << "bad reference output " << file;
      return out;
    }
    ref.rows = shape[0];
    ref.vocab = shape[1];
    ref.data.resize(static_cast<size_t>(ref.rows * ref.vocab));
    f.read(reinterpret_cast<char*>(ref.data.data()), static_cast<std::streamsize>(ref.data.size() * sizeof(double)));
    if (!f) ADD_FAILURE() << "short reference output " << file;
    out.push_back(std::move(ref));
  }
  std::filesystem::remove(file);
  return out;
}

// Runs reference_forward.py on each token sequence in one process (weights
// dequantized once). `q8` (optional): also the run with the engine's
// activation quantization simulated. Fails the test on error.
inline std::vector<RefLogits> ReferenceLogitsMany(const std::string& model,
                                                  const std::vector<std::vector<int32_t>>& sequences,
                                                  std::vector<RefLogits>* q8 = nullptr) {
  std::string list;
  for (const auto& tokens : sequences) {
    for (int32_t t : tokens) list += std::to_string(t) + ",";
    list += ";";
  }
  static int counter = 0;
  const std::string base = ScratchDir() + "/ref_" + std::to_string(counter++);
  std::string cmd = PythonPath() + " " + ToolPath("reference_forward.py") + " " + model + " '" + list + "' " +
                    base + ".bin";
  if (q8 != nullptr) cmd += " " + base + "_q8.bin";
  if (RunCommand(cmd) != 0) {
    ADD_FAILURE() << "reference forward failed: " << cmd;
    return {};
  }
  if (q8 != nullptr) *q8 = ReadRefLogits(base + "_q8.bin", sequences.size());
  return ReadRefLogits(base + ".bin", sequences.size());
}

// Runs reference_forward.py on `tokens`; fails the test on error.
inline RefLogits ReferenceLogits(const std::string& model, const std::vector<int32_t>& tokens) {
  std::vector<RefLogits> r = ReferenceLogitsMany(model, {tokens});
  return r.empty() ? RefLogits{} : std::move(r[0]);
}

template <typename T>
int64_t ArgMax(const T* v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (v[i] > v[best]) best = i;
  }
  return best;
}

// Row-wise relative error max|a - b| / max|b|.
inline double RowRelError(const float* a, const double* b, int64_t n) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

// Number of elements of a and b that differ in any bit (SIZE_MAX if the
// sizes differ). Two engine runs of the same tokens along different paths
// (batched or alone, prefill or token by token, after truncate or fork)
// must give bitwise equal logits: every kernel is batch-invariant (one
// float order per output whatever the batch, see kernels/cpu/matmul.h), and
// any difference, however small, can flip an 8-bit activation rounding and
// change a greedy token.
inline size_t CountBitDiffs(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return SIZE_MAX;
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

// Compares engine logits [rows x vocab] with the reference. Top-1 must agree
// at every position unless the reference has a near-tie: the engine's choice
// then must score within tie_tol * (row scale) of the reference's top logit.
// (Quantizing activations to 8 bits, as ggml-style kernels do, alone moves
// SmolLM2's logits by 2-5% of the row scale in the float64 reference.)
struct Comparison {
  double max_rel_error = 0;
  int near_ties = 0;
};
inline Comparison CompareToReference(const std::vector<float>& logits, const RefLogits& ref, double tie_tol) {
  Comparison c;
  for (int64_t i = 0; i < ref.rows; ++i) {
    const float* row = logits.data() + i * ref.vocab;
    const double* r = ref.row(i);
    c.max_rel_error = std::max(c.max_rel_error, RowRelError(row, r, ref.vocab));
    const int64_t got = ArgMax(row, ref.vocab), want = ArgMax(r, ref.vocab);
    double scale = 0;
    for (int64_t v = 0; v < ref.vocab; ++v) scale = std::max(scale, std::fabs(r[v]));
    EXPECT_GE(r[got], r[want] - tie_tol * scale)
        << "position " << i << ": engine top-1 " << got << " (reference logit " << r[got]
        << "), reference top-1 " << want << " (" << r[want] << ")";
    if (got != want) ++c.near_ties;
  }
  return c;
}

}  // namespace tandem::testing_util
