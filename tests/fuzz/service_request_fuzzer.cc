// libFuzzer target for what a peer or client sends the Draft, Target and
// Generation services before any model sees it: the first byte picks the
// message (VerifyRequest, ProposeRequest, GenerateRequest) and a vocabulary
// size, the rest is parsed as that protobuf, then the same checks the
// handlers run (services/target/target_service.cc DoVerify,
// services/draft/draft_service.cc DoPropose, the Generation service's
// request translation) and the q-distribution codec run on it. Any input may
// be rejected; none may crash, and whatever passes validation must decode
// into a proper distribution (checked with __builtin_trap).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "decoding/request/field_validation.h"
#include "decoding/request/request_translation.h"
#include "services/common/distribution.h"
#include "services/common/validation.h"
#include "tandem/v1/draft.pb.h"
#include "tandem/v1/generation.pb.h"
#include "tandem/v1/target.pb.h"

namespace {

using namespace tandem::services;  // NOLINT: the checks under test

constexpr int kMaxDraftTokens = 64;

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

void FuzzVerify(const uint8_t* data, size_t size, int32_t vocab) {
  tandem::v1::VerifyRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return;
  if (!ValidateId(req.session_id(), "session_id", false).ok()) return;
  if (!ValidateTokenIds(req.draft_tokens(), vocab, "draft_tokens", 0, kMaxDraftTokens).ok()) return;
  std::vector<float> dense(static_cast<size_t>(vocab));
  for (int i = 0; i < req.draft_distributions_size(); ++i) {
    const tandem::v1::TokenDistribution& q = req.draft_distributions(i);
    if (!ValidateDistribution(q, vocab, "draft_distributions").ok()) continue;
    Check(DecodeDistribution(q, vocab, dense, "draft_distributions").ok());
    double sum = 0;
    for (float p : dense) {
      Check(std::isfinite(p) && p >= 0 && p <= 1);
      sum += p;
    }
    Check(std::abs(sum - 1) <= kDistributionSumTolerance + 1e-6);
    for (int32_t t : req.draft_tokens()) Check(DistributionProb(q, t) == dense[static_cast<size_t>(t)]);
    // Encoding the decoded row again must validate (what the draft service sends).
    tandem::v1::TokenDistribution again;
    EncodeDistribution(dense, &again);
    Check(ValidateDistribution(again, vocab, "again").ok());
  }
}

void FuzzPropose(const uint8_t* data, size_t size, int32_t vocab) {
  tandem::v1::ProposeRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return;
  (void)ValidateId(req.session_id(), "session_id", false);
  (void)ValidateRange(int64_t{req.gamma()}, 0, 32, "gamma");
  if (req.has_next_token()) (void)ValidateRange(int64_t{req.next_token()}, 0, vocab - 1, "next_token");
  (void)ValidateTokenIds(req.append_tokens(), vocab, "append_tokens", 0, 1 << 16);
}

void FuzzGenerate(const uint8_t* data, size_t size, int32_t vocab) {
  tandem::v1::GenerateRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return;
  (void)ValidateId(req.request_id(), "request_id", true);
  (void)ValidateUtf8Field(req.prompt(), "prompt", tandem::decoding::kMaxPromptBytes);
  (void)ValidateUtf8Field(req.context(), "context", tandem::decoding::kMaxContextBytes);
  for (const auto& m : req.messages().messages()) {
    (void)ValidateUtf8Field(m.role(), "messages.role", 32, 1);
    (void)ValidateUtf8Field(m.content(), "messages.content", tandem::decoding::kMaxPromptBytes);
  }
  for (const std::string& s : req.stop()) (void)ValidateUtf8Field(s, "stop", 256, 1);
  (void)ValidateTokenIds(req.prompt_tokens().ids(), vocab, "prompt_tokens", 1, 1 << 20);
  (void)ValidateSamplingParams(req.sampling(), vocab, "sampling");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t head = data[0];
  const int32_t vocab = 1 + (head >> 2);  // 1..64: small enough that ids land inside
  switch (head & 3) {
    case 0: FuzzVerify(data + 1, size - 1, vocab); break;
    case 1: FuzzPropose(data + 1, size - 1, vocab); break;
    default: FuzzGenerate(data + 1, size - 1, vocab); break;
  }
  return 0;
}
