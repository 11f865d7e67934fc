// Rewards computed from the text alone (no language model):
//   math        1 if the response's final answer equals the reference's, else 0
//   regex       1 if the response matches a pattern (RE2 syntax), else 0
//   keyword     fraction of required words present, 0 if a forbidden one is
//   length      1 inside a length range, decaying smoothly outside it
//   similarity  cosine of the embeddings of response and reference
// Options are documented in services/reward/README.md.
#pragma once

#include <functional>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "runtime/embedding/embedder.h"
#include "services/reward/reward_backend.h"

namespace tandem::reward {

std::unique_ptr<RewardBackend> MakeMathBackend();
std::unique_ptr<RewardBackend> MakeRegexBackend();
std::unique_ptr<RewardBackend> MakeKeywordBackend();
std::unique_ptr<RewardBackend> MakeLengthBackend();

// The embedder is created on first use (loading a BERT model costs seconds
// and memory that deployments without similarity rewards should not pay).
using EmbedderFactory = std::function<absl::StatusOr<std::unique_ptr<embedding::Embedder>>()>;
std::unique_ptr<RewardBackend> MakeSimilarityBackend(EmbedderFactory factory);

}  // namespace tandem::reward
