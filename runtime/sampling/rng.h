// Seeded, splittable, counter-based random numbers.
//
// Output i of a stream is SplitMix64's finalizer applied to key + (i+1)*golden,
// i.e. SplitMix64 viewed as a counter-based generator: the state is just
// (key, counter), so a stream can be reproduced from its seed, positioned
// anywhere, and split into statistically independent child streams by
// deriving a new key. Sampling in tandem never shares an Rng between requests,
// which is what makes seeded generations reproducible under concurrency.
// Not cryptographic.
#pragma once

#include <cstdint>

namespace tandem::runtime {

class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0)
      : key_(Mix(Mix(seed) ^ Mix(stream + kStreamSalt))) {}

  uint64_t NextU64() { return Mix(key_ + (++counter_) * kGolden); }

  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

  // Uniform in (0, 1]. Used for the accept test r <= p/q so that a token the
  // target gives probability 0 can never be accepted.
  double UniformOpenClosed() {
    return static_cast<double>((NextU64() >> 11) + 1) * 0x1.0p-53;
  }

  // An independent child stream; the parent is not advanced.
  Rng Split(uint64_t stream) const {
    Rng child(0);
    child.key_ = Mix(key_ ^ Mix(stream + kStreamSalt));
    return child;
  }

  uint64_t counter() const { return counter_; }

 private:
  static constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
  static constexpr uint64_t kStreamSalt = 0xd1b54a32d192ed03ULL;

  // SplitMix64 finalizer (Stafford's "Mix13" constants).
  static uint64_t Mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace tandem::runtime
