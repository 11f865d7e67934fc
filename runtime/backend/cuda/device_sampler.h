// runtime::Sampler::Process on the GPU: the logits row stays in device
// memory; what comes back is the processed distribution in tandem's compact
// form (a token id for greedy, the sparse support or a dense row otherwise),
// i.e. exactly the q or p that speculative decoding exchanges. Agreement with
// the CPU sampler is stated in kernels/cuda/sampling.h (ids and support equal,
// probabilities within fp32 rounding).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/sampling.h"
#include "runtime/backend/cuda/device_buffer.h"
#include "runtime/sampling/distribution.h"
#include "runtime/sampling/sampling_params.h"

namespace tandem::runtime {

class DeviceSampler {
 public:
  // Scratch for rows of `vocab` logits, used on `stream` (not owned).
  static absl::StatusOr<std::unique_ptr<DeviceSampler>> Create(int32_t vocab, cudaStream_t stream);

  // logits: device pointer to vocab floats. Same errors as Sampler::Process
  // (NaN / +inf logits, all -inf, bad history tokens, invalid params).
  absl::Status Process(const float* logits, const SamplingParams& params, std::span<const int32_t> history,
                       Distribution* out);

 private:
  DeviceSampler() = default;
  // edits_ from the logit bias and the penalty window, in the CPU sampler's
  // order per token; leaves counts_ and slot_ clean on every return.
  absl::Status CollectEdits(const SamplingParams& params, std::span<const int32_t> history);
  int32_t vocab_ = 0;
  cudaStream_t stream_ = nullptr;
  cuda::DeviceBuffer scratch_, edits_device_;
  kernels::cuda::SampleBuffers buffers_;
  std::vector<kernels::cuda::LogitEdit> edits_;  // distinct tokens: bias first, then the window's
  std::vector<uint32_t> counts_;                 // window occurrences, all-zero between calls
  std::vector<int32_t> slot_;                    // token -> its index in edits_, -1 between calls
};

}  // namespace tandem::runtime
