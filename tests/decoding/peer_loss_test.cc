// A drafter or retriever that becomes UNAVAILABLE (its service died) does not
// fail a speculative or RAPID request: the rest runs target-only on the same
// target session (spec/peer_loss.h, spec/speculative_rounds.h). Synthetic
// models and scripted failing ports, no network.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "decoding/local/model_drafter.h"
#include "decoding/local/model_verifier.h"
#include "decoding/spec/peer_loss.h"
#include "decoding/strategies/rapid/rapid.h"
#include "decoding/strategies/speculative/speculative.h"
#include "decoding/strategies/target_only/target_only.h"
#include "tests/decoding/model_pair.h"

namespace tandem::decoding {
namespace {

using Models = testing::ModelPair;
constexpr int32_t kVocab = Models::kVocab;

// Delegates to a real drafter; its sessions answer `failure` from the
// (fail_after + 1)-th Propose on (fail_after < 0: Open fails), like a draft
// service that was killed. Counts the Close calls of lost sessions.
class FailingDrafter : public Drafter {
 public:
  FailingDrafter(Drafter& inner, int fail_after, absl::Status failure)
      : inner_(inner), fail_after_(fail_after), failure_(std::move(failure)) {}
  std::string_view name() const override { return "model"; }
  absl::StatusOr<std::unique_ptr<DraftSession>> Open(std::span<const int32_t> prompt,
                                                     const runtime::SamplingParams& params,
                                                     const DraftOptions& options) override {
    if (fail_after_ < 0) return failure_;
    auto session = inner_.Open(prompt, params, options);
    if (!session.ok()) return session.status();
    return std::make_unique<Session>(*this, std::move(*session));
  }
  int proposes = 0;
  int closes = 0;

 private:
  class Session : public DraftSession {
   public:
    Session(FailingDrafter& owner, std::unique_ptr<DraftSession> inner) : owner_(owner), inner_(std::move(inner)) {}
    absl::Status Propose(const DraftDelta& delta, int gamma, DraftProposal* out) override {
      if (owner_.proposes++ >= owner_.fail_after_) return owner_.failure_;
      return inner_->Propose(delta, gamma, out);
    }
    int64_t committed_length() const override { return inner_->committed_length(); }
    absl::Status Close() override {
      ++owner_.closes;
      if (owner_.proposes > owner_.fail_after_) return owner_.failure_;  // gone with the service
      return inner_->Close();
    }

   private:
    FailingDrafter& owner_;
    std::unique_ptr<DraftSession> inner_;
  };

  Drafter& inner_;
  const int fail_after_;
  const absl::Status failure_;
};

GenerationRequest Greedy(std::vector<int32_t> prompt, int max_tokens) {
  GenerationRequest req{.prompt = std::move(prompt), .max_tokens = max_tokens, .gamma = {.gamma = 3}};
  req.sampling.temperature = 0;
  return req;
}

const absl::Status kLost = absl::UnavailableError("draft service Propose: Socket closed");

TEST(PeerLoss, OnlyUnavailableIsALoss) {
  EXPECT_TRUE(spec::IsPeerLoss(kLost));
  EXPECT_FALSE(spec::IsPeerLoss(absl::InternalError("draft service Propose: 3 distributions for 4 tokens")));
  EXPECT_FALSE(spec::IsPeerLoss(absl::DeadlineExceededError("late")));
  EXPECT_FALSE(spec::IsPeerLoss(absl::CancelledError("gone")));
  EXPECT_FALSE(spec::IsPeerLoss(absl::OkStatus()));
  EXPECT_EQ(spec::FallbackReason("draft", kLost), "draft unavailable: draft service Propose: Socket closed");
}

// Greedy output equals target-only whenever the drafter is lost: before the
// first round (Open), after any number of rounds, or never.
TEST(PeerLoss, DrafterLostAtAnyRoundKeepsTheGreedyOutput) {
  int fallbacks = 0;
  for (const std::vector<int32_t>& prompt : {std::vector<int32_t>{1, 2, 3}, {5}, {4, 4, 6, 7, 1}}) {
    Models m;
    const GenerationRequest req = Greedy(prompt, 30);
    GenerationResult base;
    ASSERT_TRUE(RunTargetOnly(req, m.verifier, m.vocab, nullptr, &base).ok());
    for (int fail_after = -1; fail_after <= 8; ++fail_after) {
      SCOPED_TRACE(::testing::Message() << "fail_after " << fail_after);
      FailingDrafter drafter(m.drafter, fail_after, kLost);
      std::vector<int32_t> streamed;
      StreamCallback cb = [&](const StreamChunk& c) {
        streamed.insert(streamed.end(), c.tokens.begin(), c.tokens.end());
        return absl::OkStatus();
      };
      GenerationResult r;
      ASSERT_TRUE(RunSpeculative(req, drafter, m.verifier, m.vocab, cb, &r).ok());
      EXPECT_EQ(r.tokens, base.tokens);
      EXPECT_EQ(streamed, base.tokens);
      EXPECT_EQ(r.finish_reason, base.finish_reason);
      const bool lost = fail_after < drafter.proposes;  // the failing Propose happened
      if (fail_after < 0 || lost) {
        ++fallbacks;
        EXPECT_EQ(r.stats.fallback, "draft unavailable: draft service Propose: Socket closed");
        // No Propose after the loss: one failing call at most.
        EXPECT_EQ(drafter.proposes, std::max(fail_after + 1, 0));
        EXPECT_EQ(drafter.closes, fail_after < 0 ? 0 : 1);
      } else {
        EXPECT_EQ(r.stats.fallback, "");
      }
    }
  }
  EXPECT_GT(fallbacks, 20);
}

TEST(PeerLoss, OtherDrafterErrorsStillFailTheRequest) {
  Models m;
  for (int fail_after : {-1, 0, 2}) {
    FailingDrafter drafter(m.drafter, fail_after, absl::InternalError("draft service Propose: bad q"));
    GenerationResult r;
    const absl::Status s = RunSpeculative(Greedy({1, 2}, 20), drafter, m.verifier, m.vocab, nullptr, &r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << fail_after;
    EXPECT_EQ(r.stats.fallback, "");
  }
}

// Sampling: the fallback finishes the request (not with the tokens of an
// undisturbed sampled run, which draws differently).
TEST(PeerLoss, SampledRequestsFinishTargetOnly) {
  Models m;
  int fallbacks = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    GenerationRequest req = Greedy({3, 1, 6}, 25);
    req.sampling.temperature = 0.8f;
    req.sampling.seed = seed;
    FailingDrafter drafter(m.drafter, 2, kLost);
    GenerationResult r;
    ASSERT_TRUE(RunSpeculative(req, drafter, m.verifier, m.vocab, nullptr, &r).ok()) << seed;
    EXPECT_NE(r.finish_reason, FinishReason::kNone);
    EXPECT_NE(r.finish_reason, FinishReason::kAborted);
    if (drafter.proposes > 2) {  // the loss happened before the end
      ++fallbacks;
      EXPECT_FALSE(r.stats.fallback.empty()) << seed;
    }
  }
  EXPECT_GT(fallbacks, 5);
}

// ---------------------------------------------------------------- RAPID

std::vector<int32_t> Letters(std::string_view text) {
  std::vector<int32_t> ids;
  for (char c : text) ids.push_back(c >= 'a' && c < 'a' + kVocab ? c - 'a' : 1);
  return ids;
}

LongContextInput Input() {
  LongContextInput in;
  for (int i = 0; i < 80; ++i) in.context += static_cast<char>('b' + (i * 5 + i / 3) % 6);
  in.question = "hc";
  in.render = [q = in.question](std::string_view ctx, bool retrieved) -> absl::StatusOr<std::vector<int32_t>> {
    std::vector<int32_t> ids = {retrieved ? 2 : 3};
    for (int32_t t : Letters(ctx)) ids.push_back(t);
    ids.push_back(4);
    for (int32_t t : Letters(q)) ids.push_back(t);
    return ids;
  };
  in.count_tokens = [](std::string_view text) { return static_cast<int64_t>(text.size()); };
  return in;
}

// Every search fails with `failure`, or returns the first chunks.
class FailingRetriever : public Retriever {
 public:
  explicit FailingRetriever(absl::Status failure) : failure_(std::move(failure)) {}
  absl::StatusOr<RetrievalResult> SearchText(std::string_view context, const RetrievalQuery&,
                                             const ChunkingOptions& chunking) override {
    if (!failure_.ok()) return failure_;
    RetrievalResult r;
    r.chunks.push_back({.text = std::string(context.substr(0, chunking.chunk_tokens)), .position = 0,
                        .token_count = chunking.chunk_tokens, .score = 1.0f});
    return r;
  }
  absl::StatusOr<RetrievalResult> SearchCollection(std::string_view, const RetrievalQuery&) override {
    return failure_.ok() ? absl::StatusOr<RetrievalResult>(RetrievalResult{}) : failure_;
  }

 private:
  absl::Status failure_;
};

RapidOptions Options() {
  RapidOptions o;
  o.chunk_tokens = 16;
  o.l_min = 32;
  o.lambda = 24;
  o.theta = 0.0f;
  o.knowledge_transfer.eta = 0;  // lossless: greedy RAPID == target-only on the long context
  return o;
}

TEST(PeerLoss, RapidWithoutRetrievalOrDrafterIsTargetDecodingOnTheLongContext) {
  Models m;
  const LongContextInput in = Input();
  GenerationRequest req = Greedy({1}, 30);
  GenerationRequest plain = req;
  plain.prompt = *in.render(in.context, false);
  GenerationResult base;
  ASSERT_TRUE(RunTargetOnly(plain, m.verifier, m.vocab, nullptr, &base).ok());

  FailingRetriever lost_retrieval(absl::UnavailableError("retrieval service Search: Socket closed"));
  GenerationResult r;
  ASSERT_TRUE(RunRapid(req, Options(), in, m.drafter, m.verifier, lost_retrieval, m.vocab, nullptr, &r).ok());
  EXPECT_EQ(r.tokens, base.tokens);
  EXPECT_EQ(r.stats.fallback, "retrieval unavailable: retrieval service Search: Socket closed");
  EXPECT_EQ(r.stats.draft_calls, 0);

  FailingRetriever ok(absl::OkStatus());
  for (int fail_after : {-1, 0, 3}) {
    FailingDrafter drafter(m.drafter, fail_after, kLost);
    GenerationResult d;
    ASSERT_TRUE(RunRapid(req, Options(), in, drafter, m.verifier, ok, m.vocab, nullptr, &d).ok());
    EXPECT_EQ(d.tokens, base.tokens) << fail_after;
    EXPECT_TRUE(d.stats.fallback.starts_with("draft unavailable")) << fail_after;
  }

  FailingRetriever broken(absl::InvalidArgumentError("collection: bad name"));
  GenerationResult e;
  EXPECT_EQ(RunRapid(req, Options(), in, m.drafter, m.verifier, broken, m.vocab, nullptr, &e).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::decoding
