// When a request's tokens reached the client, reduced to what the statistics
// need. The decode rate is measured between chunks, never within one: a
// strategy that emits a whole answer in one chunk (RAPID with a short answer,
// best-of-N) has no decode interval, and dividing its tokens by a ~0 ms gap
// would report an absurd rate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace tandem::decoding {

class TokenTimeline {
 public:
  // A chunk of `tokens` tokens (> 0) emitted `at_ms` after the request began.
  void Record(size_t tokens, double at_ms) {
    if (tokens == 0) return;
    if (chunks_ == 0) {
      first_ms_ = at_ms;
      first_chunk_tokens_ = static_cast<int64_t>(tokens);
    }
    ++chunks_;
    tokens_ += static_cast<int64_t>(tokens);
    last_ms_ = at_ms;
  }
  // Time of the first chunk with tokens; 0 before one.
  double first_token_ms() const { return first_ms_; }
  // Tokens after the first chunk over the time from the first to the last
  // chunk; nullopt with fewer than two chunks (or no measurable interval).
  std::optional<double> DecodeTokensPerS() const {
    const double seconds = (last_ms_ - first_ms_) / 1000.0;
    if (chunks_ < 2 || seconds <= 0) return std::nullopt;
    return static_cast<double>(tokens_ - first_chunk_tokens_) / seconds;
  }

 private:
  int64_t chunks_ = 0;
  int64_t tokens_ = 0;
  int64_t first_chunk_tokens_ = 0;
  double first_ms_ = 0;
  double last_ms_ = 0;
};

}  // namespace tandem::decoding
