// LLM-as-judge: the reward is the probability an instruct model answers
// "Yes" (vs "No") to a judging question about the response, read from the
// next-token distribution after the model's chat template opens the
// assistant turn. The probabilities of the Yes/No token variants ("Yes",
// " Yes", "yes", " yes", "YES" and the same for No, those that are single
// tokens of the vocabulary) are summed and renormalized over the two
// answers, so the score is P(yes) in [0, 1] whatever mass the model puts on
// other tokens.
//
// Judging prompt (system + user message through the chat template, then the
// generation prompt of the assistant turn). The defaults were picked on
// SmolLM2-135M-Instruct from a few wordings by how often an obvious right
// answer outscored a wrong one (4 of 5 pairs; a 135M model is a weak judge):
//   system: kJudgeSystemPrompt (kJudgeStepSystemPrompt in process mode;
//           option "system", "" = none)
//   user:   "Question:\n{prompt}\n\nResponse:\n{response}\n\n{question}"
//   question = kJudgeQuestion (option "question")
// Process mode (ScoreSteps, PRM): the user message is
//   "Question:\n{prompt}\n\nSolution:\n\n" + step_1 + delim + ... + step_i + delim
//   + kJudgeStepQuestion (option "question"),
// each step and each delimiter tokenized separately (so step i's tokens do
// not depend on what follows it), and the score of step i is P(yes) after
// the judging question that follows the delimiter closing step i. The steps
// form one growing sequence; the judging question for step i runs on a
// copy-on-write fork of it, so extending the steps by one costs one forward
// over the new step, its delimiter and the question.
//
// Graded variant (option graded=true): the question asks for a grade from 1
// to 5 and the score is the expected grade under the model's distribution
// over the digit tokens 1..5, mapped to [0, 1] by (E[g] - 1) / 4 (system
// prompt kJudgeGradedSystemPrompt).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "services/reward/model_backend_options.h"
#include "services/reward/reward_backend.h"

namespace tandem::reward {

inline constexpr char kJudgeSystemPrompt[] =
    "You are a strict grader. Reply Yes if the response answers the question correctly, otherwise No.";
inline constexpr char kJudgeQuestion[] = "Does the response answer the question correctly?";
inline constexpr char kJudgeStepSystemPrompt[] =
    "You are a strict grader. Reply Yes if the last step of the solution is correct, otherwise No.";
inline constexpr char kJudgeStepQuestion[] = "Is the last step of this solution correct?";
inline constexpr char kJudgeGradedSystemPrompt[] = "You are a strict grader. Reply with one digit from 1 to 5.";
inline constexpr char kJudgeGradedQuestion[] =
    "Rate the response from 1 (wrong or useless) to 5 (correct and helpful). Answer with one digit.";
inline constexpr char kJudgeGradedStepQuestion[] =
    "Rate the last step of this solution from 1 (wrong) to 5 (certainly correct). Answer with one digit.";

// Loads the model (NOT_FOUND / INVALID_ARGUMENT when it is missing or has no
// chat template this runtime renders).
absl::StatusOr<std::unique_ptr<RewardBackend>> MakeJudgeBackend(const ModelBackendOptions& options);

}  // namespace tandem::reward
