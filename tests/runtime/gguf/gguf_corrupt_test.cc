// The GGUF reader against malformed input: every corruption must come back
// as an error status that names the problem, never a crash, an out-of-bounds
// read or a huge allocation. Each parse gets an exact-size heap copy so that
// AddressSanitizer (CI runs these under ASan+UBSan) catches any overread.
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/dequantize.h"
#include "runtime/gguf/gguf_file.h"
#include "tests/runtime/gguf/gguf_builder.h"

namespace tandem::gguf {
namespace {

using ::testing::HasSubstr;
using testing::Build;
using testing::Bytes;
using testing::FileSpec;
using testing::Kv;
using testing::KvString;
using testing::KvU32;
using testing::Layout;
using testing::PutStr;
using testing::PutU32;
using testing::PutU64;
using testing::ValidSpec;

// Parses an exact-size copy and, when it parses, reads every value and every
// tensor byte so that a wrong bounds check would be caught by ASan.
absl::Status Parse(const Bytes& bytes) {
  std::vector<uint8_t> copy(bytes);
  auto file = GgufFile::FromBuffer(copy);
  if (!file.ok()) {
    EXPECT_FALSE(file.status().message().empty());
    return file.status();
  }
  for (const auto& [key, value] : (*file)->metadata()) {
    if (value.type == ValueType::kArray && value.array_type != ValueType::kString &&
        value.array_type != ValueType::kArray) {
      for (uint64_t k = 0; k < value.array_size; ++k) (void)value.ScalarAt(k);
    }
  }
  std::vector<float> row;
  for (const TensorInfo& t : (*file)->tensors()) {
    const auto* traits = kernels::FindTypeTraits(static_cast<uint32_t>(t.type));
    uint64_t sum = 0;
    for (size_t k = 0; k < t.size_bytes; ++k) sum += t.data[k];
    (void)sum;
    if (traits->can_dequantize && t.row_length() <= (1 << 16)) {
      row.resize(static_cast<size_t>(t.row_length()));
      for (int64_t r = 0; r < t.num_rows(); ++r) {
        EXPECT_TRUE(kernels::DequantizeRow(t.type, t.row(r), row.data(), t.row_length()));
      }
    }
  }
  return absl::OkStatus();
}

std::string ErrorOf(const Bytes& bytes) {
  absl::Status s = Parse(bytes);
  EXPECT_FALSE(s.ok()) << "corrupt file was accepted";
  return std::string(s.message());
}

TEST(GgufValid, ParsesAllParts) {
  Layout layout;
  const Bytes bytes = Build(ValidSpec(), &layout);
  auto file = GgufFile::FromBuffer(bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufFile& f = **file;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.data_offset(), layout.data_begin);
  EXPECT_EQ(*f.GetString("general.architecture"), "llama");
  EXPECT_EQ(*f.GetUint32("llama.block_count"), 2u);
  EXPECT_THAT(*f.GetStringArray("tokenizer.ggml.tokens"), ::testing::ElementsAre("<s>", "", "hello"));
  EXPECT_THAT(*f.GetFloatArray("tokenizer.ggml.scores"), ::testing::ElementsAre(1.0f, -2.0f));
  const Value* nested = f.Find("test.nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->array.size(), 2u);
  EXPECT_EQ(nested->array[0].ScalarAt(1).u, 9u);
  EXPECT_EQ(nested->array[1].array_size, 0u);
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorInfo* b = f.FindTensor("b.weight");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->type, kernels::GgmlType::kQ8_0);
  EXPECT_EQ(b->size_bytes, 34u);
  EXPECT_EQ(b->data, bytes.data() + layout.data_begin + 64);
  EXPECT_TRUE(Parse(bytes).ok());
}

TEST(GgufValid, Version2AndNoTensors) {
  FileSpec spec = ValidSpec();
  spec.version = 2;
  EXPECT_TRUE(Parse(Build(spec)).ok());
  spec.tensors.clear();
  spec.data_bytes = 0;
  spec.alignment = 1;  // file ends right after the metadata
  EXPECT_TRUE(Parse(Build(spec)).ok());
}

TEST(GgufCorrupt, EveryTruncationFails) {
  const Bytes bytes = Build(ValidSpec());
  for (size_t len = 0; len < bytes.size(); ++len) {
    SCOPED_TRACE(len);
    EXPECT_FALSE(Parse(Bytes(bytes.begin(), bytes.begin() + len)).ok());
  }
}

TEST(GgufCorrupt, TruncationMessageNamesOffset) {
  Layout layout;
  const Bytes bytes = Build(ValidSpec(), &layout);
  EXPECT_THAT(ErrorOf(Bytes(bytes.begin(), bytes.begin() + layout.infos_begin + 18)),
              AllOf(HasSubstr("truncated file"), HasSubstr("a.weight"),
                    HasSubstr("at byte offset " + std::to_string(layout.infos_begin + 16))));
  EXPECT_THAT(ErrorOf(Bytes(bytes.begin(), bytes.end() - 1)),
              AllOf(HasSubstr("b.weight"), HasSubstr("outside the data section")));
}

TEST(GgufCorrupt, BadMagicAndVersions) {
  FileSpec spec = ValidSpec();
  spec.magic = 0x4c4d4747;  // "GGML"
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("bad magic"));
  spec = ValidSpec();
  spec.version = 1;
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("version 1"));
  spec.version = 0;
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("unsupported GGUF version 0"));
  spec.version = 4;
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("unsupported GGUF version 4"));
  spec.version = 0x03000000;  // a big-endian v3 file
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("big-endian"));
}

TEST(GgufCorrupt, HugeCounts) {
  for (uint64_t count : {uint64_t{1} << 32, uint64_t{1} << 62, UINT64_MAX}) {
    FileSpec spec = ValidSpec();
    spec.tensor_count = count;
    EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("tensor count"));
    spec = ValidSpec();
    spec.kv_count = count;
    EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("metadata count"));
  }
  // Counts that fit the bytes but overstate what follows.
  FileSpec spec = ValidSpec();
  spec.kv_count = 6;
  EXPECT_FALSE(Parse(Build(spec)).ok());
  spec = ValidSpec();
  spec.tensor_count = 3;
  EXPECT_FALSE(Parse(Build(spec)).ok());
}

TEST(GgufCorrupt, HugeStringLengths) {
  for (uint64_t len : {uint64_t{1000}, uint64_t{1} << 40, UINT64_MAX}) {
    SCOPED_TRACE(len);
    // Key length.
    FileSpec spec = ValidSpec();
    Bytes kv;
    PutU64(kv, len);
    kv.push_back('k');
    spec.kvs.insert(spec.kvs.begin(), kv);
    EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("key of metadata entry 0 has length"));
    // String value length.
    spec = ValidSpec();
    Bytes p;
    PutU64(p, len);
    p.push_back('v');
    spec.kvs.insert(spec.kvs.begin(), Kv("general.name", 8, p));
    EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("general.name"));
    // A string array element.
    spec = ValidSpec();
    p.clear();
    PutU32(p, 8);
    PutU64(p, 2);
    PutStr(p, "ok");
    PutU64(p, len);
    spec.kvs.insert(spec.kvs.begin(), Kv("tokenizer.ggml.merges", 9, p));
    EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("element 1 of key 'tokenizer.ggml.merges'"));
  }
  // Tensor name length: patch the first tensor's name length.
  Layout layout;
  Bytes bytes = Build(ValidSpec(), &layout);
  for (int k = 0; k < 8; ++k) bytes[layout.infos_begin + k] = 0xff;
  EXPECT_THAT(ErrorOf(bytes), HasSubstr("name of tensor 0"));
}

TEST(GgufCorrupt, HugeArrayCounts) {
  for (uint32_t elem_type : {0u /*u8*/, 10u /*u64*/, 8u /*string*/, 9u /*array*/}) {
    for (uint64_t count : {uint64_t{1} << 20, uint64_t{1} << 60, UINT64_MAX}) {
      SCOPED_TRACE(elem_type);
      FileSpec spec = ValidSpec();
      Bytes p;
      PutU32(p, elem_type);
      PutU64(p, count);
      spec.kvs.push_back(Kv("test.huge", 9, p));
      EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("test.huge"));
    }
  }
}

TEST(GgufCorrupt, UnknownValueTypes) {
  FileSpec spec = ValidSpec();
  spec.kvs.push_back(Kv("test.bad", 13, Bytes(8, 0)));
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("unknown value type 13"));
  spec = ValidSpec();
  Bytes p;
  PutU32(p, 0xffffffff);
  PutU64(p, 1);
  p.push_back(0);
  spec.kvs.push_back(Kv("test.bad", 9, p));
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("unknown array element type"));
}

TEST(GgufCorrupt, DeepNestingIsBounded) {
  FileSpec spec = ValidSpec();
  Bytes p;
  for (int depth = 0; depth < 100000; ++depth) {  // would overflow the stack if unbounded
    PutU32(p, 9);
    PutU64(p, 1);
  }
  spec.kvs.push_back(Kv("test.deep", 9, p));
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("nested deeper"));
}

TEST(GgufCorrupt, BadBool) {
  FileSpec spec = ValidSpec();
  spec.kvs.push_back(Kv("test.flag", 7, Bytes{2}));
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("test.flag"));
  spec = ValidSpec();
  Bytes p;
  PutU32(p, 7);
  PutU64(p, 2);
  p.push_back(1);
  p.push_back(0x80);
  spec.kvs.push_back(Kv("test.flags", 9, p));
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("test.flags"));
}

TEST(GgufCorrupt, EmptyAndDuplicateKeys) {
  FileSpec spec = ValidSpec();
  spec.kvs.push_back(KvU32("", 1));
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("key of length 0"));
  spec = ValidSpec();
  spec.kvs.push_back(KvU32("llama.block_count", 3));
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("duplicate metadata key 'llama.block_count'"));
}

TEST(GgufCorrupt, Alignment) {
  for (uint32_t bad : {0u, 3u, 48u, 0x80000000u}) {
    FileSpec spec = ValidSpec();
    spec.kvs.push_back(KvU32("general.alignment", bad));
    EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("general.alignment"));
  }
  FileSpec spec = ValidSpec();
  spec.kvs.push_back(KvString("general.alignment", "32"));
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("general.alignment must be an unsigned integer"));
  // A valid non-default alignment moves the data section; offset 64 stays aligned.
  spec = ValidSpec();
  spec.kvs.push_back(KvU32("general.alignment", 64));
  spec.alignment = 64;
  Layout layout;
  const Bytes bytes = Build(spec, &layout);
  auto f = GgufFile::FromBuffer(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset(), layout.data_begin);
  // ... but an offset that was fine at 32 is not at 64.
  spec.tensors[1].offset = 96;
  spec.data_bytes = 160;
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("not a multiple of the alignment 64"));
}

TEST(GgufCorrupt, TensorOffsets) {
  FileSpec spec = ValidSpec();
  spec.tensors[1].offset = 4096;
  EXPECT_THAT(ErrorOf(Build(spec)), AllOf(HasSubstr("b.weight"), HasSubstr("outside")));
  spec.tensors[1].offset = UINT64_MAX - 31;  // offset + size wraps around
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("b.weight"));
  spec.tensors[1].offset = 65;
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("not a multiple of the alignment"));
  spec = ValidSpec();
  spec.tensors[1].offset = 32;  // inside a.weight's 64 bytes
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("overlap"));
}

TEST(GgufCorrupt, UnknownTensorTypeNamesTheTensor) {
  for (uint32_t type : {4u, 5u, 31u, 39u, 1000u, 0xffffffffu}) {
    FileSpec spec = ValidSpec();
    spec.tensors[1].type = type;
    EXPECT_THAT(ErrorOf(Build(spec)),
                AllOf(HasSubstr("b.weight"), HasSubstr("unknown ggml type id " + std::to_string(type))));
  }
}

TEST(GgufCorrupt, Dimensions) {
  FileSpec spec = ValidSpec();
  spec.tensors[0].dims = {};
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("has 0 dimensions"));
  spec.tensors[0].dims = {1, 1, 1, 1, 1};
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("has 5 dimensions"));
  spec.tensors[0].dims = {8, 0};
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("dimension 1 is 0"));
  spec.tensors[0].dims = {uint64_t{1} << 63};
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("fit int64"));
  spec.tensors[0].dims = {uint64_t{1} << 32, uint64_t{1} << 32};
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("more elements than fit in int64"));
  spec.tensors[0].dims = {uint64_t{1} << 62};  // elements fit, bytes (x4) do not
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("too large"));
  spec.tensors[0].dims = {uint64_t{1} << 40};  // addressable, but not in this file
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("outside the data section"));
  spec = ValidSpec();
  spec.tensors[1].dims = {33};  // q8_0 rows must be whole 32-element blocks
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("not a multiple of its block size 32"));
}

TEST(GgufCorrupt, TensorNames) {
  FileSpec spec = ValidSpec();
  spec.tensors[1].name = "a.weight";
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("duplicate tensor name 'a.weight'"));
  spec.tensors[1].name = "";
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("name of length 0"));
  spec.tensors[1].name = std::string(65, 'n');
  EXPECT_THAT(ErrorOf(Build(spec)), HasSubstr("name of length 65"));
}

// Deterministic mutation fuzzing of the valid image: random byte writes,
// including the "interesting" values that hit counts and lengths. Whatever
// parses must also be safe to read (Parse touches every byte).
TEST(GgufCorrupt, RandomMutationsNeverCrash) {
  const Bytes valid = Build(ValidSpec());
  std::mt19937_64 rng(12345);
  const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x09, 0x08};
  int accepted = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    Bytes b = valid;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % b.size();
      b[pos] = (rng() % 2) ? interesting[rng() % sizeof interesting] : static_cast<uint8_t>(rng());
    }
    if (rng() % 8 == 0) b.resize(rng() % b.size());
    if (Parse(b).ok()) ++accepted;
  }
  // Some mutations only touch tensor data or string bytes and stay valid.
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace tandem::gguf
