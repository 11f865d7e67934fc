#include "decoding/local/tp_language_model.h"

#include <vector>

namespace tandem::decoding {
namespace {

class TpSequence : public LmSequence {
 public:
  TpSequence(runtime::parallel::TpLeader& leader, uint64_t id) : leader_(leader), id_(id) {}
  // Frees the KV pages on every rank.
  ~TpSequence() override { leader_.Close(id_); }

  std::span<const int32_t> tokens() const override { return tokens_; }

  absl::Status Truncate(int64_t n) override {
    if (absl::Status s = leader_.Truncate(id_, n); !s.ok()) return s;
    tokens_.resize(static_cast<size_t>(n));
    return absl::OkStatus();
  }

  absl::Status Append(std::span<const int32_t> tokens, bool all_logits, std::vector<float>* logits) override {
    if (absl::Status s = leader_.Forward(id_, tokens, all_logits, logits); !s.ok()) return s;
    tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
    return absl::OkStatus();
  }

 private:
  runtime::parallel::TpLeader& leader_;
  const uint64_t id_;
  std::vector<int32_t> tokens_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LmSequence>> TpLanguageModel::NewSequence() {
  absl::StatusOr<uint64_t> id = leader_.NewSession();
  if (!id.ok()) return id.status();
  return std::unique_ptr<LmSequence>(new TpSequence(leader_, *id));
}

}  // namespace tandem::decoding
