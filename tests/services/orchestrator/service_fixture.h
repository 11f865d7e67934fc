// Shared pieces of the orchestrator service tests: thread-safe synthetic
// models (the FakeLm of tests/decoding behind a mutex, with an optional
// per-forward delay so that streams can be cancelled mid-way), ports that
// count open sessions, and a streaming gRPC client helper.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "decoding/drafters/ngram_drafter.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/ports/generation_ports.h"
#include "tandem/v1/generation.grpc.pb.h"
#include "tests/decoding/fake_lm.h"
#include "tests/decoding/serialized_lm.h"

namespace tandem::decoding::testing {

inline constexpr int32_t kVocab = 24;

namespace detail {
struct OwnsFakeLm {
  FakeLm fake;
};
}  // namespace detail

// FakeLm is not thread-safe (it counts calls); the services run requests
// concurrently, so every call goes through one mutex here (and delay_ms
// slows each forward so that a stream can be cancelled mid-way).
class LockedLm : private detail::OwnsFakeLm, public SerializedLm {
 public:
  explicit LockedLm(LogitsFn fn) : detail::OwnsFakeLm{FakeLm(kVocab, std::move(fn))}, SerializedLm(fake) {}
};

// Open-session counters around a port (the in-process analogue of a
// service's active_sessions()).
class CountingVerifier : public Verifier {
 public:
  explicit CountingVerifier(Verifier& inner) : inner_(inner) {}
  absl::StatusOr<std::unique_ptr<VerifySession>> Open(std::span<const int32_t> prompt,
                                                      const runtime::SamplingParams& params,
                                                      const VerifyOptions& options) override {
    auto s = inner_.Open(prompt, params, options);
    if (!s.ok()) return s.status();
    struct Session : VerifySession {
      Session(std::unique_ptr<VerifySession> i, std::atomic<int>& n) : inner(std::move(i)), open(n) { ++open; }
      ~Session() override { Close().IgnoreError(); }
      absl::Status Verify(std::span<const int32_t> d, std::span<const runtime::Distribution> q,
                          VerifyResult* out) override { return inner->Verify(d, q, out); }
      int64_t committed_length() const override { return inner->committed_length(); }
      absl::Status AppendScoredWithAlternatives(std::span<const int32_t> tokens, int top_n,
                                                std::vector<float>* log_probs,
                                                std::vector<std::vector<runtime::TokenLogprob>>* top) override {
        return inner->AppendScoredWithAlternatives(tokens, top_n, log_probs, top);  // echo's prompt scores
      }
      absl::Status Close() override {
        if (!closed) { closed = true; --open; }
        return inner->Close();
      }
      std::unique_ptr<VerifySession> inner;
      std::atomic<int>& open;
      bool closed = false;
    };
    return std::make_unique<Session>(std::move(*s), open);
  }
  std::atomic<int> open{0};

 private:
  Verifier& inner_;
};

class CountingDrafter : public Drafter {
 public:
  explicit CountingDrafter(Drafter& inner) : inner_(inner) {}
  std::string_view name() const override { return inner_.name(); }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t> prompt,
                                                     const runtime::SamplingParams& params,
                                                     const DraftOptions& options) override {
    auto s = inner_.Open(prompt, params, options);
    if (!s.ok()) return s.status();
    struct Session : DraftSession {
      Session(std::unique_ptr<DraftSession> i, std::atomic<int>& n) : inner(std::move(i)), open(n) { ++open; }
      ~Session() override { Close().IgnoreError(); }
      absl::Status Propose(const DraftDelta& d, int g, DraftProposal* out) override { return inner->Propose(d, g, out); }
      int64_t committed_length() const override { return inner->committed_length(); }
      absl::Status Close() override {
        if (!closed) { closed = true; --open; }
        return inner->Close();
      }
      std::unique_ptr<DraftSession> inner;
      std::atomic<int>& open;
      bool closed = false;
    };
    return std::make_unique<Session>(std::move(*s), open);
  }
  std::atomic<int> open{0};

 private:
  Drafter& inner_;
};

// In-process ports over synthetic target and draft models, with counters.
struct FakeDeployment {
  LockedLm target_lm{TargetLogits};
  LockedLm draft_lm{DraftLogits};
  FakeVocabulary vocab{kVocab};
  ModelVerifier verifier{target_lm};
  ModelDrafter model_drafter{draft_lm, [](int32_t t) { return t == 0; }};
  NgramDrafter ngram{{.vocab_size = kVocab, .max_ngram = 3, .min_ngram = 1,
                      .is_end_of_generation = [](int32_t t) { return t == 0; }}};
  CountingVerifier counting_verifier{verifier};
  CountingDrafter counting_model{model_drafter};
  CountingDrafter counting_ngram{ngram};
  decoding::GenerationPorts ports;

  FakeDeployment() {
    ports.verifier = &counting_verifier;
    ports.drafters["model"] = &counting_model;
    ports.drafters["ngram"] = &counting_ngram;
    ports.default_drafter = "model";
    ports.vocabulary = &vocab;
    ports.target = {.name = "fake-target", .arch = "fake", .vocab_size = kVocab, .context_length = 4096,
                    .eos_token_id = 0, .role = ""};
    ports.drafts = {{.name = "fake-draft", .arch = "fake", .vocab_size = kVocab, .context_length = 4096,
                     .eos_token_id = 0, .role = ""}};
    ports.mode = "all-in-one";
  }
  int open_sessions() const {
    return counting_verifier.open.load() + counting_model.open.load() + counting_ngram.open.load();
  }
};

// One streamed call, collected.
struct StreamResult {
  std::string request_id;
  std::vector<int32_t> tokens;
  std::string text;
  int chunks = 0;
  bool has_complete = false;
  tandem::v1::GenerateComplete complete;
  grpc::Status status;
};

inline StreamResult Stream(tandem::v1::Generation::StubInterface& stub, const tandem::v1::GenerateRequest& req,
                           grpc::ClientContext* ctx = nullptr) {
  grpc::ClientContext local;
  if (ctx == nullptr) ctx = &local;
  StreamResult r;
  auto reader = stub.Generate(ctx, req);
  tandem::v1::GenerateResponse resp;
  while (reader->Read(&resp)) {
    r.request_id = resp.request_id();
    if (resp.has_chunk()) {
      ++r.chunks;
      r.tokens.insert(r.tokens.end(), resp.chunk().token_ids().begin(), resp.chunk().token_ids().end());
      r.text += resp.chunk().text();
    } else if (resp.has_complete()) {
      r.has_complete = true;
      r.complete = resp.complete();
    }
  }
  r.status = reader->Finish();
  return r;
}

inline tandem::v1::GenerateRequest TokenRequest(std::vector<int32_t> prompt, const std::string& strategy,
                                                int max_tokens) {
  tandem::v1::GenerateRequest req;
  req.mutable_prompt_tokens()->mutable_ids()->Add(prompt.begin(), prompt.end());
  req.set_strategy(strategy);
  req.set_max_tokens(max_tokens);
  return req;
}

// Polls `pred` for up to `timeout`.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace tandem::decoding::testing
