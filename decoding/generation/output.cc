#include "decoding/generation/output.h"

#include <span>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tandem::decoding {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return "none";
    case FinishReason::kEndOfGeneration: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kStopString: return "stop_string";
    case FinishReason::kContextLength: return "context_length";
    case FinishReason::kAborted: return "aborted";
  }
  return "unknown";
}

absl::Status Output::ValidateRequest(const GenerationRequest& request, const Vocabulary& vocab) {
  if (request.prompt.empty()) return absl::InvalidArgumentError("prompt must not be empty");
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    if (request.prompt[i] < 0 || request.prompt[i] >= vocab.vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", i, " (", request.prompt[i],
                                                     ") outside vocabulary of ", vocab.vocab_size()));
    }
  }
  if (request.prompt_logprobs && !request.logprobs) {
    return absl::InvalidArgumentError("prompt_logprobs needs logprobs");
  }
  if (request.max_tokens < (request.prompt_logprobs ? 0 : 1)) {
    return absl::InvalidArgumentError(absl::StrCat("max_tokens must be >= 1 (0 with prompt_logprobs), got ",
                                                   request.max_tokens));
  }
  if (absl::Status s = request.sampling.Validate(); !s.ok()) return s;
  if (request.gamma.gamma < 0 || request.gamma.gamma > 64) {
    return absl::InvalidArgumentError(absl::StrCat("gamma must be in [0, 64], got ", request.gamma.gamma));
  }
  if (request.gamma.adaptive &&
      (request.gamma.min_gamma < 0 || request.gamma.max_gamma > 64 ||
       request.gamma.min_gamma > request.gamma.max_gamma)) {
    return absl::InvalidArgumentError("gamma bounds must satisfy 0 <= min_gamma <= max_gamma <= 64");
  }
  if (!request.stop_strings.empty() && vocab.NewDecoder() == nullptr) {
    return absl::InvalidArgumentError("stop_strings need detokenized text, which is unavailable");
  }
  return absl::OkStatus();
}

Output::Output(const GenerationRequest& request, const Vocabulary& vocab,
               const StreamCallback& on_chunk, GenerationResult* result)
    : request_(request),
      vocab_(vocab),
      on_chunk_(on_chunk),
      result_(result),
      decoder_(vocab.NewDecoder()),
      stops_(request.stop_strings),
      start_(std::chrono::steady_clock::now()) {
  result_->stats.prompt_tokens = static_cast<int64_t>(request.prompt.size());
  // max_tokens 0 (prompt_logprobs alone): finished before the first step;
  // the strategy still opens the target, which scores the prompt.
  if (request.max_tokens <= 0) Finish(FinishReason::kLength);
}

bool Output::cancelled() const {
  return request_.cancelled != nullptr && request_.cancelled->load(std::memory_order_relaxed);
}

int Output::remaining() const {
  return request_.max_tokens - static_cast<int>(result_->tokens.size());
}

double Output::ElapsedMs() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
}

void Output::Finish(FinishReason reason) {
  if (!done()) result_->finish_reason = reason;
}

bool Output::Push(int32_t token, const VerifyResult& verdict, size_t i) {
  if (request_.logprobs && i < verdict.logprobs.size()) pending_logprob_ = &verdict.logprobs[i];
  if (request_.top_logprobs > 0 && i < verdict.top_logprobs.size()) pending_top_ = &verdict.top_logprobs[i];
  const bool more = Push(token);
  pending_logprob_ = nullptr;
  pending_top_ = nullptr;
  return more;
}

bool Output::Push(int32_t token) {
  if (done()) return false;
  if (result_->tokens.empty() && result_->stats.time_to_first_token_ms == 0) {
    result_->stats.time_to_first_token_ms = ElapsedMs();
  }
  if (vocab_.IsEndOfGeneration(token)) {
    Finish(FinishReason::kEndOfGeneration);
    return false;
  }
  result_->tokens.push_back(token);
  // A request for logprobs gets one per token: the strategies that serve it
  // push every token with its verdict (GenerationRequest::logprobs). A token
  // pushed without one records nothing rather than a made-up value, so the
  // front ends' count checks report the strategy's bug.
  if (request_.logprobs && pending_logprob_ != nullptr) result_->logprobs.push_back(*pending_logprob_);
  if (request_.top_logprobs > 0 && pending_top_ != nullptr) result_->top_logprobs.push_back(*pending_top_);
  result_->stats.generated_tokens = static_cast<int64_t>(result_->tokens.size());
  if (decoder_ != nullptr) {
    result_->text += stops_.Push(decoder_->Push(token));
    if (stops_.stopped()) {
      Finish(FinishReason::kStopString);
      return false;
    }
  }
  if (remaining() <= 0) {
    Finish(FinishReason::kLength);
    return false;
  }
  return true;
}

void Output::SetPromptLogprobs(std::vector<float> logprobs,
                               std::vector<std::vector<runtime::TokenLogprob>> top) {
  result_->prompt_logprobs = std::move(logprobs);
  result_->prompt_top_logprobs = std::move(top);
}

absl::Status Output::FlushChunk() {
  if (final_flushed_) return absl::OkStatus();
  if (done()) {
    final_flushed_ = true;
    if (decoder_ != nullptr && !stops_.stopped()) {
      result_->text += stops_.Push(decoder_->Flush());
      result_->text += stops_.Flush();
    }
  }
  std::span<const int32_t> tokens(result_->tokens);
  std::string_view text(result_->text);
  StreamChunk chunk;
  chunk.tokens = tokens.subspan(flushed_tokens_);
  chunk.text = text.substr(flushed_text_);
  if (request_.logprobs) chunk.logprobs = std::span<const float>(result_->logprobs).subspan(flushed_logprobs_);
  if (request_.top_logprobs > 0) {
    chunk.top_logprobs =
        std::span<const std::vector<runtime::TokenLogprob>>(result_->top_logprobs).subspan(flushed_top_);
  }
  // The prompt's scores go with the first chunk, which is then sent even if
  // the generation ended before its first token.
  const bool with_prompt = request_.prompt_logprobs && !prompt_flushed_;
  if (with_prompt) {
    prompt_flushed_ = true;
    chunk.prompt_logprobs = result_->prompt_logprobs;
    chunk.prompt_top_logprobs = result_->prompt_top_logprobs;
  }
  flushed_tokens_ = tokens.size();
  flushed_logprobs_ = result_->logprobs.size();
  flushed_top_ = result_->top_logprobs.size();
  flushed_text_ = text.size();
  if (chunk.tokens.empty() && chunk.text.empty() && !with_prompt) return absl::OkStatus();
  timeline_.Record(chunk.tokens.size(), ElapsedMs());
  return on_chunk_ ? on_chunk_(chunk) : absl::OkStatus();
}

bool Output::EndsAtContextLimit(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kOutOfRange &&
      status.code() != absl::StatusCode::kResourceExhausted) {
    return false;
  }
  Finish(FinishReason::kContextLength);
  return true;
}

void Output::Close() {
  result_->stats.e2e_latency_ms = ElapsedMs();
  result_->stats.decode_tokens_per_s = timeline_.DecodeTokensPerS();
}

}  // namespace tandem::decoding
