// Request, streamed chunk and result types shared by all strategies.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/sampling/logprobs.h"
#include "runtime/sampling/sampling_params.h"
#include "decoding/spec/gamma_controller.h"
#include "decoding/spec/request_stats.h"
#include "decoding/generation/long_context.h"

namespace tandem::decoding {

enum class FinishReason {
  kNone,
  kEndOfGeneration,
  kLength,
  kStopString,
  kContextLength,  // the target's context window or KV budget is full
  kAborted,
};

const char* FinishReasonName(FinishReason reason);

struct GenerationRequest {
  // Every member has a default so that designated initializers may name
  // only what they set (-Wmissing-field-initializers).
  std::vector<int32_t> prompt = {};     // non-empty
  // The prompt as text for text-based scorers (reward models): the raw
  // prompt or the user message, without chat markup. Empty: strategies that
  // need it decode `prompt`.
  std::string prompt_text = {};
  runtime::SamplingParams sampling = {};
  int max_tokens = 256;                 // >= 1; 0 with prompt_logprobs (score the prompt only)
  std::vector<std::string> stop_strings = {};  // need a Vocabulary with a decoder
  spec::GammaOptions gamma = {};        // speculative only
  // Report each emitted token's log-probability under the target model (raw
  // logits, temperature 1: runtime/sampling/logprobs.h) and, with
  // top_logprobs > 0, the most likely tokens at its position. Strategies
  // that cannot (StrategyDefinition::logprobs false) are never sent it.
  bool logprobs = false;
  int top_logprobs = 0;                 // [0, runtime::kMaxTopLogprobs]
  // With logprobs: also score the prompt itself (OpenAI completions' echo,
  // lm-eval's loglikelihood): the log-probability of each prompt token after
  // the ones before it, and top_logprobs alternatives at each position
  // (GenerationResult::prompt_logprobs). The target prefills the prompt
  // while scoring it, so there is no second pass (generation/open_target.h).
  bool prompt_logprobs = false;
  // Long-context strategies (rapid): the document and how to render prompts
  // around it. Null for other strategies.
  std::shared_ptr<const LongContextInput> long_context = nullptr;
  // Polled between rounds; set it to abort (e.g. client disconnect).
  const std::atomic<bool>* cancelled = nullptr;
};

// One streamed piece: the tokens committed in one round and the text that is
// safe to show (stop-string prefixes are held back until they resolve).
struct StreamChunk {
  std::span<const int32_t> tokens;
  std::string_view text;
  // With GenerationRequest::logprobs: one entry per token (else empty). A
  // token its strategy pushed without logprobs has none, so a front end that
  // finds fewer entries than tokens reports the bug (Output::Push).
  std::span<const float> logprobs;
  std::span<const std::vector<runtime::TokenLogprob>> top_logprobs;  // with top_logprobs > 0
  // With GenerationRequest::prompt_logprobs, on the first chunk only (which
  // is then sent even without tokens): GenerationResult::prompt_logprobs.
  std::span<const float> prompt_logprobs;
  std::span<const std::vector<runtime::TokenLogprob>> prompt_top_logprobs;
};
// A non-OK return aborts the generation with that status.
using StreamCallback = std::function<absl::Status(const StreamChunk&)>;

struct GenerationResult {
  std::vector<int32_t> tokens;  // emitted tokens (end-of-generation token excluded)
  std::string text;
  // With GenerationRequest::logprobs, aligned with `tokens` (shorter only
  // through a strategy bug, see StreamChunk).
  std::vector<float> logprobs;
  std::vector<std::vector<runtime::TokenLogprob>> top_logprobs;  // with top_logprobs > 0
  // With GenerationRequest::prompt_logprobs: entry i for prompt token i + 1
  // (the first token has nothing before it to be scored by), so one fewer
  // than the prompt's tokens; alternatives with top_logprobs > 0.
  std::vector<float> prompt_logprobs;
  std::vector<std::vector<runtime::TokenLogprob>> prompt_top_logprobs;
  FinishReason finish_reason = FinishReason::kNone;
  spec::RequestStats stats;
};

}  // namespace tandem::decoding
