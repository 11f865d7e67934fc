#include "runtime/backend/cuda/device_sampler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"

namespace tandem::runtime {

using kernels::cuda::CudaStatus;

absl::StatusOr<std::unique_ptr<DeviceSampler>> DeviceSampler::Create(int32_t vocab, cudaStream_t stream) {
  if (vocab <= 0) return absl::InvalidArgumentError("device sampler: vocabulary must be positive");
  std::unique_ptr<DeviceSampler> s(new DeviceSampler());
  s->vocab_ = vocab;
  s->stream_ = stream;
  absl::StatusOr<cuda::DeviceBuffer> scratch =
      cuda::DeviceBuffer::Allocate(kernels::cuda::SampleScratchBytes(vocab), "sampler scratch");
  if (!scratch.ok()) return scratch.status();
  s->scratch_ = std::move(*scratch);
  s->buffers_ = kernels::cuda::SampleScratchLayout(s->scratch_.get(), vocab);
  absl::StatusOr<cuda::DeviceBuffer> pen =
      cuda::DeviceBuffer::Allocate(static_cast<size_t>(vocab) * sizeof(int32_t), "sampler penalty ids");
  if (!pen.ok()) return pen.status();
  s->penalized_ = std::move(*pen);
  s->marks_.assign(static_cast<size_t>(vocab), 0);
  return s;
}

absl::Status DeviceSampler::Process(const float* logits, const SamplingParams& params,
                                    std::span<const int32_t> history, Distribution* out) {
  if (out == nullptr) return absl::InvalidArgumentError("sampler: null output distribution");
  if (absl::Status s = params.Validate(); !s.ok()) return s;
  // The distinct ids of the penalty window, in first-seen order (each is
  // penalized once, as on the CPU).
  distinct_.clear();
  if (params.repetition_penalty != 1.0f && !history.empty()) {
    size_t window = history.size();
    if (params.repetition_window > 0) window = std::min(window, static_cast<size_t>(params.repetition_window));
    for (int32_t t : history.last(window)) {
      if (t < 0 || t >= vocab_) {
        return absl::InvalidArgumentError(
            absl::StrCat("sampler: history token ", t, " outside vocabulary of ", vocab_));
      }
      if (!marks_[t]) {
        marks_[t] = 1;
        distinct_.push_back(t);
      }
    }
    for (int32_t t : distinct_) marks_[t] = 0;
    if (absl::Status s = CudaStatus(cudaMemcpyAsync(penalized_.get(), distinct_.data(),
                                                    distinct_.size() * sizeof(int32_t), cudaMemcpyHostToDevice,
                                                    stream_),
                                    "uploading penalty ids");
        !s.ok()) {
      return s;
    }
  }
  kernels::cuda::SampleArgs args;
  args.vocab = vocab_;
  args.temperature = params.temperature;
  args.top_k = params.top_k;
  args.top_p = params.top_p;
  args.min_p = params.min_p;
  args.repetition_penalty = params.repetition_penalty;
  args.penalized = penalized_.as<int32_t>();
  args.n_penalized = static_cast<int32_t>(distinct_.size());
  if (absl::Status s = CudaStatus(kernels::cuda::SampleProcess(logits, args, buffers_, stream_), "sampling kernels");
      !s.ok()) {
    return s;
  }
  kernels::cuda::SampleHeader h;
  if (absl::Status s = CudaStatus(cudaMemcpyAsync(&h, buffers_.header, sizeof h, cudaMemcpyDeviceToHost, stream_),
                                  "reading the sampling header");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CudaStatus(cudaStreamSynchronize(stream_), "sampling"); !s.ok()) return s;
  switch (h.status) {
    case 0: break;
    case kernels::cuda::kSampleStatusNan: return absl::InvalidArgumentError("sampler: a logit is NaN");
    case kernels::cuda::kSampleStatusPosInf: return absl::InvalidArgumentError("sampler: a logit is +inf");
    default: return absl::InvalidArgumentError("sampler: all logits are -inf");
  }
  if (params.greedy()) {
    out->AssignOneHot(vocab_, h.best);
    return absl::OkStatus();
  }
  cudaError_t err;
  if (h.dense) {
    std::span<float> probs = out->ResetDense(vocab_);
    err = cudaMemcpyAsync(probs.data(), buffers_.out_probs, probs.size() * sizeof(float), cudaMemcpyDeviceToHost,
                          stream_);
  } else {
    out->ResetSparse(vocab_, static_cast<size_t>(h.size));
    err = cudaMemcpyAsync(out->mutable_ids().data(), buffers_.out_ids, static_cast<size_t>(h.size) * sizeof(int32_t),
                          cudaMemcpyDeviceToHost, stream_);
    if (err == cudaSuccess) {
      err = cudaMemcpyAsync(out->mutable_probs().data(), buffers_.out_sparse,
                            static_cast<size_t>(h.size) * sizeof(float), cudaMemcpyDeviceToHost, stream_);
    }
  }
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream_);
  return CudaStatus(err, "reading the distribution");
}

}  // namespace tandem::runtime
