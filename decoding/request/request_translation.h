// What a client asks for -> what a strategy runs, in one place for every
// front end: the CLI's in-process `tandem generate`, the gRPC Generation
// service and the OpenAI-compatible HTTP gateway each fill a DecodeRequest
// from their own wire format and call PrepareRequest, so defaults, limits,
// validation and error messages are the same whichever way a request comes
// in. No protobuf, no network.
//
// Errors are INVALID_ARGUMENT whose message starts with the offending field
// ("sampling: ...", "params.gamma: ...", "max_tokens: ..."); the front end
// maps field names to its own spelling where they differ.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "decoding/generation/generation.h"
#include "decoding/ports/generation_ports.h"
#include "decoding/registry/strategy_definition.h"
#include "runtime/sampling/sampling_params.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tandem::decoding {

// Limits every front end enforces (generation.proto documents them).
inline constexpr size_t kMaxPromptBytes = 1 << 20;
inline constexpr size_t kMaxContextBytes = 4 << 20;
inline constexpr int kMaxMessages = 1024;
inline constexpr int kMaxParams = 64;
inline constexpr int kMaxStops = 16;
inline constexpr int kDefaultMaxTokens = 256;

struct DecodeRequest {
  std::string model;  // empty: the deployment's target
  // Exactly one input.
  std::optional<std::string> prompt;
  std::optional<std::vector<int32_t>> prompt_tokens;
  std::optional<std::vector<tokenizer::ChatMessage>> messages;
  // Fill in the middle (code models): the code after the gap, with `prompt`
  // the code before it; the completion is what goes between. Text prompts
  // only, on a target with FIM tokens (EncodeFillInTheMiddle), not with a
  // context (long-context strategies render their own prompt) nor with a
  // strategy that asks a reward model (which scores prompt + response).
  std::optional<std::string> suffix;
  std::string strategy;  // empty: TranslationDefaults::default_strategy
  std::map<std::string, std::string> params;
  // Typed fields that strategies documenting a parameter of the same name
  // take (speculative, rapid); they win over `params`.
  std::optional<int64_t> gamma;
  // Unset: the strategy's default (adaptive), except that a request that
  // sets gamma (typed or params) or a seed with temperature > 0 runs a fixed
  // gamma. Adaptive gamma follows measured times, so the rounds - and with
  // them which random numbers decide which token - differ from run to run:
  // still exact samples of the target, but no longer reproducible from the
  // seed, and a gamma asked for would only be the starting point.
  std::optional<bool> adaptive_gamma;
  std::string collection;
  // A long document the request is about (rapid retrieves from it).
  std::string context;
  std::vector<std::string> stop;
  // Sampling as the runtime uses it; seed unset = TranslationDefaults::fallback_seed.
  runtime::SamplingParams sampling;
  std::optional<uint64_t> seed;
  std::optional<int64_t> max_tokens;  // unset: min(default_max_tokens, room left in the context)
  bool ignore_eos = false;
  // Each token's log-probability under the target model, and the
  // top_logprobs most likely tokens at its position (0..20; needs logprobs):
  // GenerationRequest::logprobs. Strategies that cannot report them refuse.
  bool logprobs = false;
  int64_t top_logprobs = 0;
  // With logprobs: the prompt's tokens scored the same way
  // (GenerationRequest::prompt_logprobs; OpenAI completions' echo).
  bool prompt_logprobs = false;
};

struct TranslationDefaults {
  std::string default_strategy = "target_only";
  uint64_t fallback_seed = 0;
  int default_max_tokens = kDefaultMaxTokens;
};

struct PreparedRequest {
  PreparedStrategy strategy;
  GenerationRequest generation;  // `cancelled` is left for the caller to set
  bool ignore_eos = false;
};

// The strategy and its parameters alone (no ports needed): what a front end
// checks first, and what tells an in-process caller which models to load
// (PreparedStrategy::needs).
absl::StatusOr<PreparedStrategy> ResolveStrategy(const DecodeRequest& request, std::string_view default_strategy);

// Everything else against the deployment's ports: model name, stop strings,
// context, sampling, tokenization, max_tokens against the context window,
// the long-context prompt renderer for strategies that read the context.
absl::StatusOr<PreparedRequest> PrepareRequest(const DecodeRequest& request, PreparedStrategy strategy,
                                               const GenerationPorts& ports, const TranslationDefaults& defaults);

// ResolveStrategy + PrepareRequest.
absl::StatusOr<PreparedRequest> PrepareRequest(const DecodeRequest& request, const GenerationPorts& ports,
                                               const TranslationDefaults& defaults);

// The prompt as text for reward models: the raw prompt, the only non-system
// message, or the conversation as "User: ... / Assistant: ..." paragraphs;
// empty for token prompts (strategies then decode the tokens).
std::string PromptText(const DecodeRequest& request);

}  // namespace tandem::decoding
