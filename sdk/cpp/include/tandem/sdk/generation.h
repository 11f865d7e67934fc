// What a generation takes (Prompt, GenerateOptions) and gives (Chunk,
// GenerationResult). The stream itself is in generation_stream.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

// generation.pb.h, not common.pb.h: it brings Stats and FinishReason wherever
// the proto files define them.
#include "tandem/v1/generation.pb.h"

namespace tandem {

struct ChatMessage {
  std::string role = {};  // "system", "user" or "assistant"
  std::string content = {};
};

// The input of a generation: raw text, token ids, or a chat rendered with the
// model's chat template. A string converts implicitly to a text prompt.
class Prompt {
 public:
  Prompt(std::string text) : input_(std::move(text)) {}             // NOLINT: implicit on purpose
  Prompt(std::string_view text) : input_(std::string(text)) {}      // NOLINT
  Prompt(const char* text) : input_(std::string(text)) {}           // NOLINT
  static Prompt Tokens(std::vector<int32_t> ids) { return Prompt(Input(std::move(ids))); }
  static Prompt Chat(std::vector<ChatMessage> messages) { return Prompt(Input(std::move(messages))); }

  using Input = std::variant<std::string, std::vector<int32_t>, std::vector<ChatMessage>>;
  const Input& input() const { return input_; }

 private:
  explicit Prompt(Input input) : input_(std::move(input)) {}
  Input input_;
};

// Sampling of draft and target; everything unset is greedy decoding
// (proto tandem.v1.SamplingParams documents ranges).
struct Sampling {
  std::optional<float> temperature = {};
  std::optional<int32_t> top_k = {};
  std::optional<float> top_p = {};
  std::optional<float> min_p = {};
  std::optional<float> repetition_penalty = {};
  std::optional<int32_t> repetition_window = {};
  // OpenAI's additive penalties (-2..2) over the same window as
  // repetition_penalty (the last repetition_window tokens, prompt included).
  std::optional<float> presence_penalty = {};
  std::optional<float> frequency_penalty = {};
  // Token id -> bias (-100..100) added to its logit before the penalties.
  std::map<int32_t, float> logit_bias = {};
  // Same seed + same parameters + same server build = same output.
  std::optional<uint64_t> seed = {};
};

struct GenerateOptions {
  // Model name from ListModels; empty = the deployment's default.
  std::string model = {};
  // Strategy name; empty = the deployment's default. Prefer Use().
  std::string strategy = {};
  // Strategy parameters by their documented names, values as text.
  std::map<std::string, std::string> params = {};
  // Most tokens to generate; unset = the server's default (256).
  std::optional<uint32_t> max_tokens = {};
  Sampling sampling = {};
  // The output ends before the first stop string it contains.
  std::vector<std::string> stop = {};
  // RAPID: the long document, or a stored collection to search instead.
  std::string context = {};
  std::string collection = {};
  bool ignore_eos = false;
  // Token ids only, no text.
  bool tokens_only = false;
  // Each token's natural-log probability under the target model (raw logits,
  // temperature 1) in Chunk/GenerationResult::logprobs, and top_logprobs
  // (0..20) most likely tokens per position. target_only and speculative
  // report them; other strategies refuse (INVALID_ARGUMENT).
  bool logprobs = false;
  uint32_t top_logprobs = 0;
  // With logprobs: also score the prompt (an evaluation's loglikelihood):
  // the Chunk/GenerationResult prompt_* fields.
  bool prompt_logprobs = false;
  // Fill in the middle (code models with FIM tokens, e.g. Qwen2.5-Coder): the
  // code after the gap, with the text prompt the code before it; the output
  // is what goes between. Unset = a plain completion; a model without FIM
  // tokens answers INVALID_ARGUMENT.
  std::optional<std::string> suffix = {};
  // Client-chosen id (for Client::Abort); empty = the server assigns one.
  std::string request_id = {};
  // Deadline of the whole generation; unset = the client's default.
  std::optional<std::chrono::milliseconds> timeout = {};

  // Selects a strategy with typed options from tandem/sdk/strategy_options.h,
  // e.g. Use(strategy::Speculative{.gamma = 5}). Replaces `strategy` and
  // `params` (parameters of another strategy would be rejected).
  template <typename StrategyOptions>
  GenerateOptions& Use(const StrategyOptions& options) {
    strategy = std::string(StrategyOptions::kName);
    params = options.ToParams();
    return *this;
  }
};

struct TokenLogprob {
  int32_t token_id = -1;
  float logprob = 0;  // natural log
  bool operator==(const TokenLogprob&) const = default;
};

// New output since the previous chunk.
struct Chunk {
  std::vector<int32_t> token_ids = {};
  // Always valid UTF-8 (a character split across tokens is held back until it
  // completes), so it may be empty while token_ids is not.
  std::string text = {};
  // With GenerateOptions::logprobs: one per token id; with top_logprobs, the
  // most likely tokens at each of their positions, best first.
  std::vector<float> logprobs = {};
  std::vector<std::vector<TokenLogprob>> top_logprobs = {};
  // With GenerateOptions::prompt_logprobs, on the first chunk only: the
  // prompt's token ids as the target read them, each one after the first's
  // log-probability given the ones before it (one fewer entry) and, with
  // top_logprobs, the alternatives at those positions.
  std::vector<int32_t> prompt_token_ids = {};
  std::vector<float> prompt_logprobs = {};
  std::vector<std::vector<TokenLogprob>> prompt_top_logprobs = {};
};

struct GenerationResult {
  std::string request_id = {};
  std::string text = {};
  std::vector<int32_t> token_ids = {};
  std::vector<float> logprobs = {};                       // as in Chunk, for every token id
  std::vector<std::vector<TokenLogprob>> top_logprobs = {};
  std::vector<int32_t> prompt_token_ids = {};  // as in Chunk (GenerateOptions::prompt_logprobs)
  std::vector<float> prompt_logprobs = {};
  std::vector<std::vector<TokenLogprob>> prompt_top_logprobs = {};
  v1::FinishReason finish_reason = v1::FINISH_REASON_UNSPECIFIED;
  // The stop string that ended the output (finish_reason STOP_STRING).
  std::string matched_stop = {};
  // The server's per-request statistics as sent (tandem.v1.Stats): common
  // counters plus the sections of the strategy that ran.
  v1::Stats stats = {};
};

}  // namespace tandem
