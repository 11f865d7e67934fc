// Sampling parameters shared by every strategy and both sides of speculative
// decoding (draft and target process their logits with the same parameters).
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace tandem::runtime {

struct SamplingParams {
  float temperature = 1.0f;        // 0 = greedy (one-hot argmax, ties -> lowest id)
  int top_k = 0;                   // 0 = off
  float top_p = 1.0f;              // 1 = off; keep the smallest set with mass >= top_p
  float min_p = 0.0f;              // 0 = off; keep p >= min_p * p_max
  float repetition_penalty = 1.0f; // 1 = off; CTRL-style on distinct recent tokens
  int repetition_window = 64;      // recent tokens the penalty looks at; 0 = all
  uint64_t seed = 0;

  bool greedy() const { return temperature == 0.0f; }
  // InvalidArgument naming the offending field.
  absl::Status Validate() const;
};

}  // namespace tandem::runtime
