// Reads files written by gguf-py's GGUFWriter (tests/tools/make_gguf_fixture.py)
// and checks every metadata value and every tensor: for each tensor type the
// fixture holds random blocks plus gguf.quants' dequantization of them, which
// DequantizeRow must reproduce bit for bit.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/dequantize.h"
#include "runtime/gguf/gguf_file.h"
#include "tests/runtime/gguf/test_util.h"

namespace tandem::gguf {
namespace {

using kernels::GgmlType;

// The fixture for each alignment is generated once per test run (a Python
// start costs ~0.4 s) into a per-process temporary folder.
class FixtureTest : public ::testing::TestWithParam<int> {
 protected:
  static std::filesystem::path Dir() {
    return std::filesystem::temp_directory_path() /
           ("tandem_gguf_fixture_" + std::to_string(::getpid()));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(Dir(), ec);
  }
  void SetUp() override {
    const std::string path = (Dir() / ("fixture_" + std::to_string(GetParam()) + ".gguf")).string();
    if (!std::filesystem::exists(path)) {
      std::filesystem::create_directories(Dir());
      std::string cmd = testing::ShellQuote(testing::PythonPath()) + " " +
                        testing::ShellQuote(testing::ToolPath("make_gguf_fixture.py")) + " " +
                        testing::ShellQuote(path + ".tmp");
      if (GetParam() != 0) cmd += " --alignment " + std::to_string(GetParam());
      ASSERT_EQ(std::system(cmd.c_str()), 0) << "fixture generator failed: " << cmd;
      std::filesystem::rename(path + ".tmp", path);
    }
    auto file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::move(*file);
    path_ = path;
  }

  std::unique_ptr<GgufFile> file_;
  std::string path_;
};

TEST_P(FixtureTest, HeaderAndAlignment) {
  EXPECT_EQ(file_->version(), 3u);
  EXPECT_EQ(file_->alignment(), GetParam() == 0 ? 32u : static_cast<size_t>(GetParam()));
  EXPECT_EQ(file_->data_offset() % file_->alignment(), 0u);
  EXPECT_EQ(*file_->GetString("general.architecture"), "tandemtest");
}

TEST_P(FixtureTest, ScalarMetadata) {
  const GgufFile& f = *file_;
  EXPECT_EQ(*f.GetInt("test.u8"), 255);
  EXPECT_EQ(*f.GetInt("test.i8"), -128);
  EXPECT_EQ(*f.GetInt("test.u16"), 65535);
  EXPECT_EQ(*f.GetInt("test.i16"), -32768);
  EXPECT_EQ(*f.GetUint32("test.u32"), 4294967295u);
  EXPECT_EQ(*f.GetInt("test.i32"), -2147483648LL);
  EXPECT_EQ(*f.GetFloat("test.f32"), 3.25);
  EXPECT_EQ(*f.GetBool("test.bool_true"), true);
  EXPECT_EQ(*f.GetBool("test.bool_false"), false);
  EXPECT_EQ(*f.GetString("test.string"), "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80");
  EXPECT_EQ(f.Find("test.u64")->u, UINT64_MAX);
  EXPECT_EQ(*f.GetInt("test.i64"), INT64_MIN);
  EXPECT_EQ(*f.GetFloat("test.f64"), 3.141592653589793);

  // Type mismatches and range errors name the key.
  auto s = f.GetString("test.u8");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("test.u8"), std::string::npos);
  EXPECT_FALSE(f.GetInt("test.u64").ok());        // above INT64_MAX
  EXPECT_FALSE(f.GetUint32("test.i8").ok());      // negative
  EXPECT_FALSE(f.GetFloat("test.string").ok());
  EXPECT_EQ(f.GetInt("test.absent").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(FixtureTest, ArrayMetadata) {
  const GgufFile& f = *file_;
  EXPECT_EQ(*f.GetIntArray("test.array_u8"), (std::vector<int64_t>{0, 1, 255}));
  EXPECT_EQ(*f.GetIntArray("test.array_i8"), (std::vector<int64_t>{-128, 0, 127}));
  EXPECT_EQ(*f.GetIntArray("test.array_u16"), (std::vector<int64_t>{0, 65535}));
  EXPECT_EQ(*f.GetIntArray("test.array_i16"), (std::vector<int64_t>{-32768, 32767}));
  EXPECT_EQ(*f.GetIntArray("test.array_u32"), (std::vector<int64_t>{0, 4294967295LL}));
  EXPECT_EQ(*f.GetIntArray("test.array_i32"), (std::vector<int64_t>{-2147483648LL, 7}));
  EXPECT_EQ(*f.GetIntArray("test.array_i64"), (std::vector<int64_t>{INT64_MIN, INT64_MAX}));
  EXPECT_FALSE(f.GetIntArray("test.array_u64").ok());  // 2^64-1 does not fit
  const Value* u64 = f.Find("test.array_u64");
  ASSERT_NE(u64, nullptr);
  ASSERT_EQ(u64->array_size, 2u);
  EXPECT_EQ(u64->ScalarAt(1).u, UINT64_MAX);
  EXPECT_EQ(*f.GetFloatArray("test.array_f32"), (std::vector<float>{0.5f, -2.0f, 1e30f}));
  EXPECT_EQ(*f.GetFloatArray("test.array_f64"), (std::vector<float>{0.1f, -INFINITY}));
  const Value* b = f.Find("test.array_bool");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->array_type, ValueType::kBool);
  ASSERT_EQ(b->array_size, 3u);
  EXPECT_EQ(b->ScalarAt(0).u, 1u);
  EXPECT_EQ(b->ScalarAt(1).u, 0u);
  auto strings = f.GetStringArray("test.array_string");
  ASSERT_TRUE(strings.ok()) << strings.status();
  ASSERT_EQ(strings->size(), 4u);
  EXPECT_EQ((*strings)[0], "a");
  EXPECT_EQ((*strings)[1], "");
  EXPECT_EQ((*strings)[2], "\xc3\xbc" "ber");
  EXPECT_EQ((*strings)[3], std::string(300, 'x'));
  EXPECT_FALSE(f.GetStringArray("test.array_u8").ok());

  const Value* nested = f.Find("test.array_nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->array_type, ValueType::kArray);
  ASSERT_EQ(nested->array.size(), 3u);
  ASSERT_EQ(nested->array[0].array_size, 3u);
  EXPECT_EQ(nested->array[0].array_type, ValueType::kInt32);
  EXPECT_EQ(nested->array[0].ScalarAt(2).i, 3);
  EXPECT_EQ(nested->array[1].ScalarAt(0).i, 4);
  EXPECT_EQ(nested->array[2].ScalarAt(1).i, 6);
}

TEST_P(FixtureTest, ShapesAndOffsets) {
  const TensorInfo* t = file_->FindTensor("shape4d");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dims, (std::vector<int64_t>{8, 4, 3, 2}));
  EXPECT_EQ(t->num_elements(), 192);
  EXPECT_EQ(t->num_rows(), 24);
  EXPECT_EQ(t->row_bytes, 32u);
  float v[8];
  ASSERT_TRUE(kernels::DequantizeRow(t->type, t->row(23), v, 8));
  EXPECT_EQ(v[7], 191.0f);  // np.arange: last element of the last row
  for (const TensorInfo& info : file_->tensors()) {
    EXPECT_EQ(info.offset % file_->alignment(), 0u) << info.name;
    EXPECT_EQ(info.data, reinterpret_cast<const uint8_t*>(file_->FindTensor(info.name)->data));
  }
  EXPECT_EQ(file_->FindTensor("absent"), nullptr);
}

// Every tensor type the fixture holds, dequantized row by row, equals the
// oracle's float32 values bit for bit.
TEST_P(FixtureTest, DequantizeMatchesGgufPy) {
  const std::vector<std::string> kTypes = {"f32",  "f16",  "bf16", "q4_0", "q4_1", "q5_0", "q5_1",
                                           "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"};
  for (const std::string& name : kTypes) {
    SCOPED_TRACE(name);
    const TensorInfo* q = file_->FindTensor(name);
    const TensorInfo* e = file_->FindTensor(name + ".expected");
    ASSERT_NE(q, nullptr);
    ASSERT_NE(e, nullptr);
    EXPECT_STRCASEEQ(kernels::FindTypeTraits(static_cast<uint32_t>(q->type))->name, name.c_str());
    ASSERT_EQ(q->dims, e->dims);
    ASSERT_EQ(e->type, GgmlType::kF32);
    const int64_t n = q->row_length();
    std::vector<float> got(n), want(n);
    int64_t mismatches = 0;
    for (int64_t r = 0; r < q->num_rows(); ++r) {
      ASSERT_TRUE(kernels::DequantizeRow(q->type, q->row(r), got.data(), n));
      std::memcpy(want.data(), e->row(r), n * sizeof(float));
      for (int64_t j = 0; j < n; ++j) {
        if (std::memcmp(&got[j], &want[j], sizeof(float)) != 0) {
          if (++mismatches <= 5) {
            ADD_FAILURE() << name << " row " << r << " elem " << j << ": got " << got[j]
                          << " want " << want[j];
          }
        }
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

// Truncating a real writer's file anywhere before the end of its last tensor
// must fail cleanly: every byte through the tensor infos and the first part of
// the data, then a sample of the rest. Exact-size copies let ASan see overreads.
TEST_P(FixtureTest, TruncationsFail) {
  const auto* base = file_->tensors()[0].data - file_->data_offset() - file_->tensors()[0].offset;
  size_t end = 0;
  for (const TensorInfo& t : file_->tensors()) {
    end = std::max(end, static_cast<size_t>(t.data - base) + t.size_bytes);
  }
  const std::vector<uint8_t> whole(base, base + end);
  ASSERT_TRUE(GgufFile::FromBuffer(whole).ok());
  int checked = 0;
  for (size_t len = 0; len < end; len += (len < file_->data_offset() + 64 ? 1 : 97)) {
    const std::vector<uint8_t> cut(whole.begin(), whole.begin() + len);
    auto f = GgufFile::FromBuffer(cut);
    EXPECT_FALSE(f.ok()) << "truncated at " << len << " of " << end << " was accepted";
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

// The huge-page copy (GgufMemory::kHugePages) parses to the same metadata
// and tensors, with the same bytes, on a 2 MiB boundary, read-only.
TEST_P(FixtureTest, HugePageCopyHoldsTheSameFile) {
  auto copy = GgufFile::Open(path_, GgufMemory::kHugePages);
  ASSERT_TRUE(copy.ok()) << copy.status();
  const GgufFile& a = *file_;
  const GgufFile& b = **copy;
  EXPECT_EQ(a.memory(), GgufMemory::kMapped);
  EXPECT_EQ(b.memory(), GgufMemory::kHugePages);
  EXPECT_EQ(a.file_size(), b.file_size());
  EXPECT_EQ(a.data_offset(), b.data_offset());
  ASSERT_EQ(a.metadata().size(), b.metadata().size());
  for (size_t i = 0; i < a.metadata().size(); ++i) EXPECT_EQ(a.metadata()[i].first, b.metadata()[i].first);
  EXPECT_EQ(*a.GetString("test.string"), *b.GetString("test.string"));
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  ASSERT_FALSE(b.tensors().empty());
  const uint8_t* start = b.tensors()[0].data - b.data_offset() - b.tensors()[0].offset;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(start) % (uintptr_t{2} << 20), 0u);
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const TensorInfo& ta = a.tensors()[i];
    const TensorInfo& tb = b.tensors()[i];
    EXPECT_EQ(ta.name, tb.name);
    EXPECT_EQ(ta.type, tb.type);
    EXPECT_EQ(ta.dims, tb.dims);
    ASSERT_EQ(ta.size_bytes, tb.size_bytes);
    EXPECT_NE(ta.data, tb.data) << "a copy, not the mapping";
    EXPECT_EQ(std::memcmp(ta.data, tb.data, ta.size_bytes), 0) << ta.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Alignments, FixtureTest, ::testing::Values(0, 256));

// Q8_K has no gguf-py dequantizer; its layout is simple enough to check by hand.
TEST(DequantizeRow, Q8_KByHand) {
  kernels::BlockQ8_K blocks[2] = {};
  blocks[0].d = 0.5f;
  blocks[1].d = -3.0f;
  for (int j = 0; j < kernels::kQK_K; ++j) {
    blocks[0].qs[j] = static_cast<int8_t>(j - 128);
    blocks[1].qs[j] = static_cast<int8_t>(127 - j % 255);
  }
  std::vector<float> y(2 * kernels::kQK_K);
  ASSERT_TRUE(kernels::DequantizeRow(GgmlType::kQ8_K, blocks, y.data(), 2 * kernels::kQK_K));
  for (int j = 0; j < kernels::kQK_K; ++j) {
    EXPECT_EQ(y[j], 0.5f * static_cast<float>(j - 128));
    EXPECT_EQ(y[kernels::kQK_K + j], -3.0f * static_cast<float>(127 - j % 255));
  }
}

TEST(DequantizeRow, RejectsUnsupportedTypesAndBadLengths) {
  uint8_t buf[512] = {};
  float out[256];
  EXPECT_FALSE(kernels::DequantizeRow(GgmlType::kIQ2_XXS, buf, out, 256));
  EXPECT_FALSE(kernels::DequantizeRow(GgmlType::kQ8_1, buf, out, 32));
  EXPECT_FALSE(kernels::DequantizeRow(static_cast<GgmlType>(4), buf, out, 32));
  EXPECT_FALSE(kernels::DequantizeRow(GgmlType::kQ4_0, buf, out, 33));
  EXPECT_FALSE(kernels::DequantizeRow(GgmlType::kQ4_K, buf, out, 32));
  EXPECT_FALSE(kernels::DequantizeRow(GgmlType::kF32, buf, out, -1));
  EXPECT_TRUE(kernels::DequantizeRow(GgmlType::kQ4_0, buf, out, 0));
}

TEST(TypeTraits, TableMatchesBlockLayouts) {
  EXPECT_EQ(kernels::FindTypeTraits(4), nullptr);   // removed q4_2
  EXPECT_EQ(kernels::FindTypeTraits(31), nullptr);  // removed q4_0_4_4
  EXPECT_EQ(kernels::FindTypeTraits(1000), nullptr);
  EXPECT_EQ(kernels::FindTypeTraits(12)->block_bytes, sizeof(kernels::BlockQ4_K));
  EXPECT_STREQ(kernels::FindTypeTraits(30)->name, "bf16");
  EXPECT_EQ(kernels::RowBytes(GgmlType::kQ4_K, 512), 2 * sizeof(kernels::BlockQ4_K));
  EXPECT_EQ(kernels::RowBytes(GgmlType::kQ4_0, 48), 0u);  // not a whole number of blocks
  EXPECT_EQ(kernels::RowBytes(GgmlType::kF16, 7), 14u);
  EXPECT_EQ(kernels::RowBytes(GgmlType::kI64, INT64_MAX), 0u);  // would overflow
}

TEST(GgufOpen, MissingFileIsNotFoundOnHugePagesToo) {
  auto f = GgufFile::Open("/nonexistent/tandem/model.gguf", GgufMemory::kHugePages);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
}

TEST(GgufOpen, MissingFileIsNotFound) {
  auto f = GgufFile::Open("/nonexistent/tandem/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(f.status().message()).find("/nonexistent/tandem/model.gguf"),
            std::string::npos);
}

}  // namespace
}  // namespace tandem::gguf
