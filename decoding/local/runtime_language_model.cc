#include "decoding/local/runtime_language_model.h"

#include "runtime/tokenizer/streaming_detokenizer.h"

namespace tandem::decoding {

class RuntimeSequence : public LmSequence {
 public:
  RuntimeSequence(RuntimeLanguageModel& owner, std::unique_ptr<runtime::Session> session)
      : owner_(owner), session_(std::move(session)) {}

  std::span<const int32_t> tokens() const override { return session_->tokens(); }
  // Truncate and destruction release KV pages into the pool Forward and Fork
  // use (pages may be shared with forks), so they take the same lock.
  ~RuntimeSequence() override {
    absl::MutexLock lock(&owner_.forward_mu_);
    session_.reset();
  }
  absl::Status Truncate(int64_t n) override {
    absl::MutexLock lock(&owner_.forward_mu_);
    return session_->Truncate(n);
  }
  absl::StatusOr<std::unique_ptr<LmSequence>> Fork() const override {
    // The fork touches the shared KV page pool, as Forward does.
    absl::MutexLock lock(&owner_.forward_mu_);
    auto fork = session_->Fork();
    if (!fork.ok()) return fork.status();
    return std::unique_ptr<LmSequence>(new RuntimeSequence(owner_, std::move(*fork)));
  }

  absl::Status Append(std::span<const int32_t> tokens, bool all_logits,
                      std::vector<float>* logits) override {
    runtime::ForwardItem item;
    item.session = session_.get();
    item.tokens = tokens;
    item.all_logits = all_logits;
    item.logits = logits;
    absl::MutexLock lock(&owner_.forward_mu_);
    return owner_.model_.Forward(std::span<runtime::ForwardItem>(&item, 1));
  }

 private:
  RuntimeLanguageModel& owner_;
  std::unique_ptr<runtime::Session> session_;
};

absl::StatusOr<std::unique_ptr<LmSequence>> RuntimeLanguageModel::NewSequence() {
  auto session = model_.NewSession();
  if (!session.ok()) return session.status();
  return std::make_unique<RuntimeSequence>(*this, std::move(*session));
}

namespace {

class DetokenizerDecoder : public TokenDecoder {
 public:
  explicit DetokenizerDecoder(const runtime::Tokenizer& tokenizer) : detok_(tokenizer) {}
  std::string Push(int32_t token) override { return detok_.Push(token); }
  std::string Flush() override { return detok_.Flush(); }

 private:
  tokenizer::StreamingDetokenizer detok_;
};

}  // namespace

std::unique_ptr<TokenDecoder> TokenizerVocabulary::NewDecoder() const {
  return std::make_unique<DetokenizerDecoder>(tokenizer_);
}

}  // namespace tandem::decoding
