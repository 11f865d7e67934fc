// Shared pieces of the service tests: stubs for a running server, a
// thread-safe wrapper for the (single-threaded) synthetic language model, and
// generation through the strategies.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "gtest/gtest.h"
#include "decoding/local/language_model.h"
#include "services/orchestrator/remote/remote_drafter.h"
#include "services/orchestrator/remote/remote_verifier.h"
#include "decoding/strategies/speculative/speculative.h"
#include "decoding/strategies/target_only/target_only.h"
#include "tandem/v1/draft.grpc.pb.h"
#include "tandem/v1/target.grpc.pb.h"
#include "tests/decoding/serialized_lm.h"

namespace tandem::dt_test {

// Serialises every call into a LanguageModel that is not thread-safe, so the
// services' gRPC threads can share it.
using LockedLm = decoding::testing::SerializedLm;

inline std::unique_ptr<tandem::v1::Target::Stub> TargetStub(const std::string& address) {
  return tandem::v1::Target::NewStub(orchestrator::MakeServiceChannel(address));
}
inline std::unique_ptr<tandem::v1::Draft::Stub> DraftStub(const std::string& address) {
  return tandem::v1::Draft::NewStub(orchestrator::MakeServiceChannel(address));
}

// Runs a strategy; speculative when `drafter` is set.
// overlap: decoding::RoundOptions::overlap (drafting during verification).
inline decoding::GenerationResult Generate(const decoding::GenerationRequest& req,
                                               decoding::Verifier& verifier, decoding::Drafter* drafter,
                                               const decoding::Vocabulary& vocab, bool overlap = false) {
  decoding::GenerationResult result;
  auto cb = [](const decoding::StreamChunk&) { return absl::OkStatus(); };
  absl::Status s = drafter == nullptr ? decoding::RunTargetOnly(req, verifier, vocab, cb, &result)
                                      : decoding::RunSpeculative(req, *drafter, verifier, vocab, cb, &result, nullptr,
                                                                 decoding::RoundOptions{.overlap = overlap});
  EXPECT_TRUE(s.ok()) << s;
  return result;
}

template <typename T>
std::string Str(const std::vector<T>& v) {
  std::string s;
  for (const T& x : v) s += std::to_string(x) + " ";
  return s;
}

}  // namespace tandem::dt_test
