// Stepping a VerifySession in the session-port tests (in process and over
// gRPC): open one on a prompt, then take target-only steps (Verify with no
// draft), so sessions reached along different paths can be compared token by
// token with a fresh one.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/sampling/sampling_params.h"
#include "decoding/ports/verifier.h"

namespace tandem::decoding::testing {

inline runtime::SamplingParams Greedy() {
  runtime::SamplingParams p;
  p.temperature = 0;
  return p;
}

// Opens a session on `prompt`; fails the test and returns null on error.
inline std::unique_ptr<VerifySession> Open(Verifier& v, const std::vector<int32_t>& prompt,
                                           const runtime::SamplingParams& params = Greedy()) {
  auto s = v.Open(prompt, params, {});
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

// n target-only steps (Verify with no draft); stops at the first error.
inline std::vector<int32_t> Continue(VerifySession& s, int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    VerifyResult r;
    absl::Status st = s.Verify({}, {}, &r);
    EXPECT_TRUE(st.ok()) << st;
    if (!st.ok()) break;
    out.push_back(r.next_token);
  }
  return out;
}

}  // namespace tandem::decoding::testing
