// The sharding math of Megatron-style tensor parallelism for llama-family
// models, independent of any backend:
//
// - attention: rank r owns n_head / W query heads and the KV heads they read
//   (grouped-query attention). Q, K, V are column-parallel (each rank
//   computes its heads' rows of the projection), the output projection is
//   row-parallel (each rank multiplies its heads' columns; an all-reduce sums
//   the partial products).
// - MLP: gate and up column-parallel over n_ff / W rows each, down
//   row-parallel over the same n_ff / W columns, then an all-reduce.
// - vocabulary: the embedding and the output head are split by rows into W
//   equal slices of the vocabulary padded up to a multiple of W (padded rows
//   are zero; their logits are masked to -inf), so the logits never have to
//   be gathered for greedy decoding (distributed argmax / top-k).
//
// Slicing constraint for quantized GGUF weights: a slice along rows (output
// features) is always possible, rows are independent; a slice along columns
// (input features, the row-parallel o and down projections) must start and
// end on a block boundary of the weight's type: 32 columns for Q4_0, Q4_1,
// Q5_0, Q5_1, Q8_0; 256 for the K-quants; 1 for F32/F16/BF16. So
// head_dim * n_head / W and n_ff / W must be multiples of the block size of
// attn_output and ffn_down respectively (e.g. Llama-3-8B in Q4_K: 4096 / W
// and 14336 / W must be multiples of 256, so W divides 16 and 56; with its
// 32 query and 8 KV heads that leaves W in {1, 2, 4, 8}).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/gguf/gguf_file.h"

namespace tandem::runtime::parallel {

struct HeadPartition {
  int q_begin = 0, q_count = 0;    // query heads [q_begin, q_begin + q_count)
  int kv_begin = 0, kv_count = 0;  // KV heads they read
};

// Valid when n_head % n_head_kv == 0, n_head % world == 0 and either
// n_head_kv % world == 0 (KV heads split) or world % n_head_kv == 0 (each KV
// head replicated on world / n_head_kv ranks). InvalidArgument naming the
// violated rule otherwise.
absl::StatusOr<HeadPartition> PartitionHeads(int n_head, int n_head_kv, int world, int rank);

struct VocabPartition {
  int64_t vocab = 0;     // real vocabulary size
  int64_t padded = 0;    // vocab rounded up to a multiple of world
  int64_t per_rank = 0;  // padded / world: rows of every rank's slice
  int64_t begin = 0;     // first global id of this rank's slice
  int64_t real = 0;      // ids of the slice below vocab (the rest is padding)
};
absl::StatusOr<VocabPartition> PartitionVocab(int64_t vocab, int world, int rank);

// Rows [begin, begin + count) of a 2-D GGUF tensor, followed by zero_rows
// all-zero rows (vocabulary padding; zero bytes dequantize to 0 in every
// supported type). Raw bytes in the tensor's type.
absl::StatusOr<std::vector<uint8_t>> SliceRows(const gguf::TensorInfo& t, int64_t begin, int64_t count,
                                               int64_t zero_rows = 0);
// Columns [begin, begin + count) of every row of a 2-D GGUF tensor (or of a
// 1-D tensor), in the tensor's type; InvalidArgument naming the tensor when
// begin or count is not a multiple of the type's block size.
absl::StatusOr<std::vector<uint8_t>> SliceCols(const gguf::TensorInfo& t, int64_t begin, int64_t count);

}  // namespace tandem::runtime::parallel
