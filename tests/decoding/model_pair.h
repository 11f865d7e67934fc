// A synthetic target and a deliberately different draft model over an
// 8-token vocabulary (tests/decoding/fake_lm.h), with the in-process
// verifier and drafter ports over them: the setup of the strategy tests
// that exercise the drafter/verifier protocol without a network.
#pragma once

#include <cstdint>

#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "tests/decoding/fake_lm.h"

namespace tandem::decoding::testing {

struct ModelPair {
  static constexpr int32_t kVocab = 8;
  static bool IsEos(int32_t t) { return t == 0; }  // FakeVocabulary's end of generation
  FakeLm target{kVocab, TargetLogits};
  FakeLm draft{kVocab, DraftLogits};
  FakeVocabulary vocab{kVocab};
  ModelVerifier verifier{target};
  ModelDrafter drafter{draft, IsEos};
};

}  // namespace tandem::decoding::testing
