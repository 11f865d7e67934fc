// The sampling pipeline on the device, runtime/sampling/sampler.h's order:
// logit bias -> penalties (repetition, frequency, presence) -> temperature (0: argmax, ties to the lowest id) ->
// softmax -> top-k -> top-p -> min-p -> renormalise, leaving the processed
// distribution in tandem's compact form in device memory: dense (vocab probs)
// when the support is more than half the vocabulary, else sparse (ids
// ascending, probs aligned). Only the small header and the compact entries
// are copied to the host (runtime/backend/cuda/device_sampler.h).
//
// Differences from the CPU sampler, all within fp32 rounding: expf on the GPU
// may differ from glibc's by an ulp, and sums (softmax total, top-p prefix
// mass) are parallel fp64 reductions instead of sequential fp64 sums; so
// probabilities agree to ~1e-6 relative and a top-p cut can differ only when
// a prefix mass ties the target to ~1e-12.
//
// Plain types only: nvcc compiles this header (no absl).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace tandem::kernels::cuda {

// One token's logit edit, applied in the CPU sampler's order: plus `bias`
// when kEditBiased; when kEditPenalized, the CTRL repetition penalty and then
// minus `offset` (frequency_penalty * count + presence_penalty, computed on
// the host as the CPU sampler computes it). Tokens of one list are distinct.
struct LogitEdit {
  int32_t token = 0;
  int32_t flags = 0;
  float bias = 0.0f;
  float offset = 0.0f;
};
inline constexpr int32_t kEditBiased = 1;
inline constexpr int32_t kEditPenalized = 2;

struct SampleArgs {
  int32_t vocab = 0;
  float temperature = 1.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  int32_t additive_penalty = 0;      // 1: penalized edits subtract their offset
  const LogitEdit* edits = nullptr;  // device: one per distinct edited token
  int32_t n_edits = 0;
};

// Written by the pipeline (device memory); read back by the host.
struct SampleHeader {
  int32_t status = 0;  // 0 ok, 1 a NaN logit, 2 a +inf logit, 3 all logits -inf
  int32_t best = -1;   // argmax of the edited logits (lowest id on ties)
  int32_t size = 0;    // entries of the output (vocab when dense)
  int32_t dense = 1;   // 1: probs[id] for every id; 0: ids/probs of the support
  float max_logit = 0.0f;
  // Working state: candidates kept after each truncation stage (stage s
  // reads kept[s] and writes kept[s + 1], so no kernel reads a value that
  // another block of the same kernel writes), and the fp64 mass.
  int32_t kept[4] = {0, 0, 0, 0};
  double mass = 0.0;
};

inline constexpr int kSampleStatusNan = 1;
inline constexpr int kSampleStatusPosInf = 2;
inline constexpr int kSampleStatusAllNegInf = 3;

// Device scratch of one pipeline for a vocabulary size; carve it with
// SampleScratchLayout. All pointers are device pointers.
struct SampleBuffers {
  float* work = nullptr;          // vocab
  float* keys_sorted = nullptr;   // vocab
  int32_t* ids_in = nullptr;      // vocab
  int32_t* ids_sorted = nullptr;  // vocab
  int32_t* ids_masked = nullptr;  // vocab
  float* probs_masked = nullptr;  // vocab
  double* cum = nullptr;          // vocab
  float* out_probs = nullptr;     // vocab: the dense output
  int32_t* out_ids = nullptr;     // vocab: the sparse output's ids (first header.size)
  float* out_sparse = nullptr;    // vocab: the sparse output's probs
  SampleHeader* header = nullptr;
  void* cub_temp = nullptr;
  size_t cub_temp_bytes = 0;
};

// Bytes of scratch for `vocab` and a layout of it inside one allocation.
size_t SampleScratchBytes(int32_t vocab);
SampleBuffers SampleScratchLayout(void* base, int32_t vocab);

// Runs the pipeline on device logits (vocab floats) into b; asynchronous on
// `stream`. Returns launch errors; data errors land in b.header->status.
cudaError_t SampleProcess(const float* logits, const SampleArgs& args, const SampleBuffers& b, cudaStream_t stream);

}  // namespace tandem::kernels::cuda
