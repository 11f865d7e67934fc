// The emitting end shared by every strategy: applies the stop conditions
// (end-of-generation token, max_tokens, stop strings), accumulates the
// result, and streams one chunk per round. Keeps strategies down to their
// algorithm.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/generation/generation.h"
#include "decoding/generation/stop_matcher.h"
#include "decoding/generation/token_timeline.h"

namespace tandem::decoding {

class Output {
 public:
  // Fails (InvalidArgument naming the field) on a bad request.
  static absl::Status ValidateRequest(const GenerationRequest& request, const Vocabulary& vocab);

  Output(const GenerationRequest& request, const Vocabulary& vocab, const StreamCallback& on_chunk,
         GenerationResult* result);

  // Commits one token. Returns false once generation is finished (the token
  // that finished it is handled; later tokens are ignored).
  bool Push(int32_t token);
  // The same, with the verifier's logprobs of the token (VerifyResult entry
  // i); kept when the request asked for them. A verdict without entry i
  // records nothing for the token (no guessed value).
  bool Push(int32_t token, const VerifyResult& verdict, size_t i);
  // The prompt's scores (GenerationRequest::prompt_logprobs), kept in the
  // result and sent with the first chunk.
  void SetPromptLogprobs(std::vector<float> logprobs, std::vector<std::vector<runtime::TokenLogprob>> top);
  // Streams the tokens and text committed since the last flush; on the final
  // flush also releases held-back text.
  absl::Status FlushChunk();
  // A target that is out of context (OutOfRange) or KV memory
  // (ResourceExhausted) ends the generation normally with kContextLength:
  // returns true and finishes; any other status is left to the caller.
  bool EndsAtContextLimit(const absl::Status& status);
  // Marks the request aborted (cancellation).
  void Abort() { Finish(FinishReason::kAborted); }
  bool cancelled() const;

  bool done() const { return result_->finish_reason != FinishReason::kNone; }
  // Tokens that may still be emitted before max_tokens.
  int remaining() const;
  // Stamps e2e latency and the decode rate; call once at the end.
  void Close();
  // Milliseconds since construction.
  double ElapsedMs() const;

 private:
  void Finish(FinishReason reason);

  const GenerationRequest& request_;
  const Vocabulary& vocab_;
  const StreamCallback& on_chunk_;
  GenerationResult* result_;
  std::unique_ptr<TokenDecoder> decoder_;
  StopMatcher stops_;
  // The token Push is committing came with these (null: none).
  const float* pending_logprob_ = nullptr;
  const std::vector<runtime::TokenLogprob>* pending_top_ = nullptr;
  size_t flushed_tokens_ = 0;
  // Counted apart from the tokens: a token pushed without its logprobs has
  // none (Push), and the chunk must not index past the recorded ones.
  size_t flushed_logprobs_ = 0;
  size_t flushed_top_ = 0;
  size_t flushed_text_ = 0;
  bool final_flushed_ = false;
  bool prompt_flushed_ = false;
  TokenTimeline timeline_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tandem::decoding
