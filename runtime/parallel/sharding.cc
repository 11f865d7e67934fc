#include "runtime/parallel/sharding.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/ggml_types.h"

namespace tandem::runtime::parallel {

absl::StatusOr<HeadPartition> PartitionHeads(int n_head, int n_head_kv, int world, int rank) {
  if (world < 1) return absl::InvalidArgumentError(absl::StrCat("world size ", world, " must be >= 1"));
  if (rank < 0 || rank >= world) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " outside [0, ", world, ")"));
  }
  if (n_head <= 0 || n_head_kv <= 0 || n_head % n_head_kv != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("n_head ", n_head, " is not a positive multiple of n_head_kv ", n_head_kv));
  }
  if (n_head % world != 0) {
    return absl::InvalidArgumentError(absl::StrCat("n_head ", n_head, " is not divisible by the world size ", world,
                                                   ": every rank must own the same number of query heads"));
  }
  HeadPartition p;
  p.q_count = n_head / world;
  p.q_begin = rank * p.q_count;
  if (n_head_kv >= world) {
    if (n_head_kv % world != 0) {
      return absl::InvalidArgumentError(absl::StrCat("n_head_kv ", n_head_kv, " is not divisible by the world size ",
                                                     world, ": the KV heads cannot be split evenly"));
    }
    p.kv_count = n_head_kv / world;
    p.kv_begin = rank * p.kv_count;
  } else {
    if (world % n_head_kv != 0) {
      return absl::InvalidArgumentError(absl::StrCat("world size ", world, " is not a multiple of n_head_kv ",
                                                     n_head_kv, ": each KV head must be replicated on a whole "
                                                     "number of ranks"));
    }
    p.kv_count = 1;
    p.kv_begin = rank / (world / n_head_kv);
  }
  return p;
}

absl::StatusOr<VocabPartition> PartitionVocab(int64_t vocab, int world, int rank) {
  if (world < 1 || rank < 0 || rank >= world) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " / world size ", world, " is not a valid rank"));
  }
  if (vocab <= 0) return absl::InvalidArgumentError("vocabulary must be non-empty");
  VocabPartition v;
  v.vocab = vocab;
  v.per_rank = (vocab + world - 1) / world;
  v.padded = v.per_rank * world;
  v.begin = v.per_rank * rank;
  v.real = std::max<int64_t>(0, std::min(vocab, v.begin + v.per_rank) - v.begin);
  return v;
}

absl::StatusOr<std::vector<uint8_t>> SliceRows(const gguf::TensorInfo& t, int64_t begin, int64_t count,
                                               int64_t zero_rows) {
  const int64_t rows = t.num_rows();
  if (begin < 0 || count < 0 || zero_rows < 0 || begin + count > rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", t.name, ": rows [", begin, ", ", begin + count, ") outside its ", rows, " rows"));
  }
  std::vector<uint8_t> out(t.row_bytes * static_cast<size_t>(count + zero_rows), 0);
  if (count > 0) std::memcpy(out.data(), t.row(begin), t.row_bytes * static_cast<size_t>(count));
  return out;
}

absl::StatusOr<std::vector<uint8_t>> SliceCols(const gguf::TensorInfo& t, int64_t begin, int64_t count) {
  const kernels::TypeTraits* traits = kernels::FindTypeTraits(static_cast<uint32_t>(t.type));
  if (traits == nullptr) return absl::InvalidArgumentError(absl::StrCat("tensor ", t.name, ": unknown type"));
  const int64_t cols = t.row_length();
  const int64_t be = traits->block_elems;
  if (begin < 0 || count <= 0 || begin + count > cols) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", t.name, ": columns [", begin, ", ", begin + count, ") outside its ", cols));
  }
  if (begin % be != 0 || count % be != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", t.name, " (", traits->name, "): columns [", begin, ", ", begin + count,
        ") do not fall on its ", be, "-element block boundaries; a column slice of a quantized weight must start "
        "and end on a block boundary"));
  }
  const size_t off = static_cast<size_t>(begin / be) * traits->block_bytes;
  const size_t len = static_cast<size_t>(count / be) * traits->block_bytes;
  const int64_t rows = t.num_rows();
  std::vector<uint8_t> out(len * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) std::memcpy(out.data() + r * len, t.row(r) + off, len);
  return out;
}

}  // namespace tandem::runtime::parallel
