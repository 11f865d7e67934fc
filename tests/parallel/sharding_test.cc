// GQA head partitions, vocabulary padding and GGUF weight slicing.
#include <cstring>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/ggml_types.h"
#include "runtime/parallel/sharding.h"

namespace tandem::runtime::parallel {
namespace {

using ::testing::HasSubstr;

TEST(PartitionHeads, SplitsQueryAndKvHeadsConsistently) {
  struct Case {
    int n_head, n_head_kv, world;
  };
  for (Case c : {Case{8, 2, 1}, {8, 2, 2}, {8, 2, 4}, {8, 2, 8}, {32, 8, 4}, {32, 8, 8}, {32, 8, 16}, {28, 4, 4},
                 {12, 12, 4}, {14, 2, 2}, {24, 6, 12}, {24, 3, 6}}) {
    const int group = c.n_head / c.n_head_kv;
    std::vector<int> q_owner(c.n_head, -1);
    for (int r = 0; r < c.world; ++r) {
      absl::StatusOr<HeadPartition> p = PartitionHeads(c.n_head, c.n_head_kv, c.world, r);
      ASSERT_TRUE(p.ok()) << c.n_head << "/" << c.n_head_kv << " W=" << c.world << ": " << p.status();
      EXPECT_EQ(p->q_count * c.world, c.n_head);
      for (int h = p->q_begin; h < p->q_begin + p->q_count; ++h) {
        EXPECT_EQ(q_owner[h], -1) << "head " << h << " owned twice";
        q_owner[h] = r;
        // Every query head of the rank reads a KV head the rank holds, at
        // the local index the backend's grouping (h / (q_count / kv_count)) gives.
        const int kv = h / group;
        ASSERT_GE(kv, p->kv_begin);
        ASSERT_LT(kv, p->kv_begin + p->kv_count);
        EXPECT_EQ(kv - p->kv_begin, (h - p->q_begin) / (p->q_count / p->kv_count));
      }
    }
    for (int h = 0; h < c.n_head; ++h) EXPECT_NE(q_owner[h], -1) << "head " << h << " unowned";
  }
}

TEST(PartitionHeads, InvalidConfigsSayWhichRuleFails) {
  auto msg = [](int nh, int nkv, int w, int r = 0) {
    absl::StatusOr<HeadPartition> p = PartitionHeads(nh, nkv, w, r);
    EXPECT_FALSE(p.ok()) << nh << "/" << nkv << " W=" << w;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(p.status().message());
  };
  EXPECT_THAT(msg(8, 2, 3), HasSubstr("n_head 8 is not divisible by the world size 3"));
  EXPECT_THAT(msg(12, 6, 4), HasSubstr("n_head_kv 6 is not divisible by the world size 4"));
  EXPECT_THAT(msg(12, 4, 6), HasSubstr("world size 6 is not a multiple of n_head_kv 4"));
  EXPECT_THAT(msg(40, 5, 8), HasSubstr("world size 8 is not a multiple of n_head_kv 5"));
  EXPECT_THAT(msg(8, 3, 2), HasSubstr("not a positive multiple of n_head_kv 3"));
  EXPECT_THAT(msg(8, 2, 0), HasSubstr("world size 0"));
  EXPECT_THAT(msg(8, 2, 2, 2), HasSubstr("rank 2 outside [0, 2)"));
}

TEST(PartitionVocab, PadsToAMultipleOfTheWorld) {
  absl::StatusOr<VocabPartition> v = PartitionVocab(261, 4, 3);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->per_rank, 66);
  EXPECT_EQ(v->padded, 264);
  EXPECT_EQ(v->begin, 198);
  EXPECT_EQ(v->real, 63);
  int64_t total = 0;
  for (int r = 0; r < 4; ++r) total += PartitionVocab(261, 4, r)->real;
  EXPECT_EQ(total, 261);
  // A rank can be all padding when the vocabulary is tiny.
  EXPECT_EQ(PartitionVocab(5, 4, 3)->real, 0);
  EXPECT_EQ(PartitionVocab(151936, 8, 7)->real, 151936 / 8);
  EXPECT_FALSE(PartitionVocab(0, 2, 0).ok());
  EXPECT_FALSE(PartitionVocab(10, 2, 2).ok());
}

// A 2-D tensor of `rows` rows of `type`, row r's bytes all equal to r + 1.
gguf::TensorInfo Tensor(kernels::GgmlType type, int64_t cols, int64_t rows, std::vector<uint8_t>& storage) {
  gguf::TensorInfo t;
  t.name = "blk.0.test.weight";
  t.type = type;
  t.dims = {cols, rows};
  t.row_bytes = kernels::RowBytes(type, cols);
  storage.assign(t.row_bytes * rows, 0);
  for (int64_t r = 0; r < rows; ++r) std::memset(storage.data() + r * t.row_bytes, static_cast<int>(r + 1), t.row_bytes);
  // Make bytes inside a row distinct too: byte i of a row gets i added.
  for (int64_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < t.row_bytes; ++i) storage[r * t.row_bytes + i] += static_cast<uint8_t>(i * 7);
  }
  t.data = storage.data();
  t.size_bytes = storage.size();
  return t;
}

TEST(SliceRows, CopiesRowsAndAppendsZeroRows) {
  std::vector<uint8_t> storage;
  gguf::TensorInfo t = Tensor(kernels::GgmlType::kQ4_K, 512, 6, storage);
  absl::StatusOr<std::vector<uint8_t>> s = SliceRows(t, 2, 3, 2);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 5 * t.row_bytes);
  EXPECT_EQ(std::memcmp(s->data(), storage.data() + 2 * t.row_bytes, 3 * t.row_bytes), 0);
  for (size_t i = 3 * t.row_bytes; i < s->size(); ++i) ASSERT_EQ((*s)[i], 0);
  EXPECT_FALSE(SliceRows(t, 4, 3).ok());
}

TEST(SliceCols, CutsWholeBlocksOfEveryRow) {
  std::vector<uint8_t> storage;
  gguf::TensorInfo t = Tensor(kernels::GgmlType::kQ8_0, 128, 3, storage);  // 4 blocks of 34 bytes per row
  absl::StatusOr<std::vector<uint8_t>> s = SliceCols(t, 64, 64);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 3u * 68);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(std::memcmp(s->data() + r * 68, storage.data() + r * t.row_bytes + 68, 68), 0) << r;
  }
  // F16: any column.
  gguf::TensorInfo h = Tensor(kernels::GgmlType::kF16, 10, 2, storage);
  absl::StatusOr<std::vector<uint8_t>> hs = SliceCols(h, 3, 5);
  ASSERT_TRUE(hs.ok());
  EXPECT_EQ(std::memcmp(hs->data() + 10, storage.data() + h.row_bytes + 6, 10), 0);
}

TEST(SliceCols, RefusesCutsInsideABlock) {
  std::vector<uint8_t> storage;
  gguf::TensorInfo q4k = Tensor(kernels::GgmlType::kQ4_K, 512, 2, storage);
  absl::StatusOr<std::vector<uint8_t>> s = SliceCols(q4k, 128, 128);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("256-element block boundaries"));
  EXPECT_THAT(s.status().message(), HasSubstr("blk.0.test.weight"));
  EXPECT_TRUE(SliceCols(q4k, 256, 256).ok());
  gguf::TensorInfo q40 = Tensor(kernels::GgmlType::kQ4_0, 128, 2, storage);
  EXPECT_FALSE(SliceCols(q40, 16, 32).ok());
  EXPECT_FALSE(SliceCols(q40, 96, 64).ok());  // past the end
}

}  // namespace
}  // namespace tandem::runtime::parallel
