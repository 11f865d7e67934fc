#include "runtime/backend/cuda/device_sampler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_status.h"
#include "runtime/sampling/penalty_window.h"

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
  // Edited tokens are distinct, so at most one edit per vocabulary entry.
  absl::StatusOr<cuda::DeviceBuffer> edits =
      cuda::DeviceBuffer::Allocate(static_cast<size_t>(vocab) * sizeof(kernels::cuda::LogitEdit), "sampler edits");
  if (!edits.ok()) return edits.status();
  s->edits_device_ = std::move(*edits);
  s->counts_.assign(static_cast<size_t>(vocab), 0);
  s->slot_.assign(static_cast<size_t>(vocab), -1);
  return s;
}

absl::Status DeviceSampler::CollectEdits(const SamplingParams& params, std::span<const int32_t> history) {
  using kernels::cuda::kEditBiased;
  using kernels::cuda::kEditPenalized;
  edits_.clear();
  // Validated ascending, so checking the last token checks them all.
  if (!params.logit_bias.empty() && params.logit_bias.back().token >= vocab_) {
    return absl::InvalidArgumentError(absl::StrCat("sampler: logit_bias token ", params.logit_bias.back().token,
                                                   " outside vocabulary of ", vocab_));
  }
  for (const LogitBias& b : params.logit_bias) {
    slot_[b.token] = static_cast<int32_t>(edits_.size());
    edits_.push_back({b.token, kEditBiased, b.bias, 0.0f});
  }
  absl::Status status = absl::OkStatus();
  if (params.penalizes() && !history.empty()) {
    status = ForEachPenalizedToken(params, history, vocab_, counts_, [&](int32_t t, uint32_t c) {
      const float offset = AdditivePenalty(params, c);  // the CPU sampler's offset, bit for bit
      if (slot_[t] >= 0) {
        edits_[static_cast<size_t>(slot_[t])].flags |= kEditPenalized;
        edits_[static_cast<size_t>(slot_[t])].offset = offset;
      } else {
        edits_.push_back({t, kEditPenalized, 0.0f, offset});
      }
    });
  }
  for (const kernels::cuda::LogitEdit& e : edits_) slot_[e.token] = -1;
  return status;
}

absl::Status DeviceSampler::Process(const float* logits, const SamplingParams& params,
                                    std::span<const int32_t> history, Distribution* out) {
  if (out == nullptr) return absl::InvalidArgumentError("sampler: null output distribution");
  if (absl::Status s = params.Validate(); !s.ok()) return s;
  if (absl::Status s = CollectEdits(params, history); !s.ok()) return s;
  if (!edits_.empty()) {
    if (absl::Status s = CudaStatus(cudaMemcpyAsync(edits_device_.get(), edits_.data(),
                                                    edits_.size() * sizeof(kernels::cuda::LogitEdit),
                                                    cudaMemcpyHostToDevice, stream_),
                                    "uploading logit edits");
        !s.ok()) {
      return s;
    }
  }
  kernels::cuda::SampleArgs args;
  args.vocab = vocab_;
  args.temperature = params.greedy() ? 0.0f : params.temperature;  // the kernels' greedy test is == 0
  args.top_k = params.top_k;
  args.top_p = params.top_p;
  args.min_p = params.min_p;
  args.repetition_penalty = params.repetition_penalty;
  args.additive_penalty = params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f;
  args.edits = edits_device_.as<kernels::cuda::LogitEdit>();
  args.n_edits = static_cast<int32_t>(edits_.size());
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
