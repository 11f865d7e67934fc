// A reward model from GGUF: a llama/qwen2 language-model backbone plus a
// scalar score head in the layout llama.cpp uses for classifiers and
// rerankers (LLAMA_POOLING_TYPE_RANK / LAST):
//   cls.weight [n_embd -> n_embd] + cls.bias, tanh     (optional dense layer)
//   cls.output.weight [n_in -> n_out] + cls.output.bias (the score layer;
//                                                       HF "score" heads of
//                                                       *ForSequenceClassification
//                                                       convert to it)
// applied to the final normalized hidden state of the LAST token
// (`<arch>.pooling_type` 3 = LAST or 4 = RANK; absent = LAST). The score is
// output `label` (option, default 0) of the head.
//
// Score: the input is the chat template rendering of [user: prompt,
// assistant: response] when the model has a template this runtime renders
// (option template=chat), else (template=raw) the prompt tokenized with the
// model's BOS followed by the response tokenized on its own.
// ScoreSteps (PRM, as RSD's PRM): the raw question followed by "\n" (with BOS;
// the reference RSD/Skywork-PRM layout), then each step
// tokenized separately followed by the delimiter; step i's score is the head
// at the delimiter's last token, through a sigmoid (option activation).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "services/reward/model_backend_options.h"
#include "services/reward/reward_backend.h"

namespace tandem::reward {

// INVALID_ARGUMENT when the file has no score head or an unsupported pooling.
absl::StatusOr<std::unique_ptr<RewardBackend>> MakeGgufRewardBackend(const ModelBackendOptions& options);

}  // namespace tandem::reward
