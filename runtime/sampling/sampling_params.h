// Sampling parameters shared by every strategy and both sides of speculative
// decoding (draft and target process their logits with the same parameters).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace tandem::runtime {

// One entry of a logit bias: `bias` is added to the logit of `token`.
struct LogitBias {
  int32_t token = 0;
  float bias = 0.0f;
  bool operator==(const LogitBias&) const = default;
};

// Sorts `bias` by token, the order SamplingParams wants; INVALID_ARGUMENT
// "token N is given twice" when a token repeats (front ends that read
// several spellings of one id: "7" and "07").
absl::Status SortLogitBias(std::vector<LogitBias>& bias);

// Limits shared by every front end (OpenAI's ranges).
inline constexpr float kMaxPresenceFrequencyPenalty = 2.0f;  // |penalty| <= 2
inline constexpr float kMaxLogitBias = 100.0f;               // |bias| <= 100

struct SamplingParams {
  float temperature = 1.0f;        // 0 = greedy (one-hot argmax, ties -> lowest id)
  int top_k = 0;                   // 0 = off
  float top_p = 1.0f;              // 1 = off; keep the smallest set with mass >= top_p
  float min_p = 0.0f;              // 0 = off; keep p >= min_p * p_max
  float repetition_penalty = 1.0f; // 1 = off; CTRL-style on distinct recent tokens
  int repetition_window = 64;      // recent tokens the penalties look at; 0 = all
  // Additive penalties over the same window (OpenAI's and llama.cpp's):
  // a token seen c > 0 times loses frequency_penalty * c + presence_penalty.
  float presence_penalty = 0.0f;   // 0 = off; in [-2, 2]
  float frequency_penalty = 0.0f;  // 0 = off; in [-2, 2]
  // Added to the named tokens' logits, ascending distinct ids; -100 all but
  // bans a token, +100 all but forces it.
  std::vector<LogitBias> logit_bias;
  uint64_t seed = 0;

  // Temperature 0, or one so small (below ~2.9e-39, a subnormal float) that
  // 1 / temperature overflows: the softmax's limit there is the argmax, and
  // computing it would make the maximum's exponent 0 * inf = NaN.
  bool greedy() const { return temperature == 0.0f || std::isinf(1.0f / temperature); }
  bool penalizes() const {
    return repetition_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f;
  }
  // InvalidArgument naming the offending field. The vocabulary bound of
  // logit_bias tokens is the caller's (the sampler re-checks it).
  absl::Status Validate() const;
};

}  // namespace tandem::runtime
