#include "tandem/sdk/generation_stream.h"

#include <utility>
#include <vector>

#include "generation_call.h"
#include "status_mapping.h"

namespace tandem {
namespace {

// TopLogprobs messages as lists of TokenLogprob, best first.
std::vector<std::vector<TokenLogprob>> Alternatives(const google::protobuf::RepeatedPtrField<v1::TopLogprobs>& in) {
  std::vector<std::vector<TokenLogprob>> out;
  out.reserve(static_cast<size_t>(in.size()));
  for (const v1::TopLogprobs& top : in) {
    std::vector<TokenLogprob>& list = out.emplace_back();
    for (int i = 0; i < top.token_ids_size() && i < top.logprobs_size(); ++i) {
      list.push_back({top.token_ids(i), top.logprobs(i)});
    }
  }
  return out;
}

}  // namespace

GenerationStream::GenerationStream(std::unique_ptr<Call> call) : call_(std::move(call)) {}

GenerationStream::~GenerationStream() {
  // Cancelling tells the server the client is gone, which aborts the request
  // and frees its sessions.
  if (!final_status_) Close(absl::CancelledError("Generate: stream destroyed"));
}

void GenerationStream::Cancel() { call_->context.TryCancel(); }

void GenerationStream::Close(absl::Status status) {
  if (final_status_) return;
  if (!status.ok()) call_->context.TryCancel();
  // gRPC's synchronous reader must be drained before Finish().
  v1::GenerateResponse ignored;
  while (call_->reader->Read(&ignored)) {
  }
  // Once cancelled here, Finish() says CANCELLED; the reason is `status`.
  call_->reader->Finish();
  final_status_ = std::move(status);
}

absl::StatusOr<std::optional<Chunk>> GenerationStream::Next() {
  while (!final_status_) {
    v1::GenerateResponse response;
    if (!call_->reader->Read(&response)) {
      const grpc::Status status = call_->reader->Finish();
      if (!status.ok()) {
        final_status_ = sdk_internal::FromGrpc(status);
      } else if (!complete_seen_) {
        final_status_ = absl::InternalError("Generate: the stream ended without its final message");
      } else {
        final_status_ = absl::OkStatus();
      }
      break;
    }
    if (result_.request_id.empty()) result_.request_id = response.request_id();
    if (complete_seen_) {
      Close(absl::InternalError("Generate: a message followed the final message"));
      break;
    }
    if (response.has_chunk()) {
      v1::GenerateChunk* in = response.mutable_chunk();
      Chunk chunk;
      chunk.token_ids.assign(in->token_ids().begin(), in->token_ids().end());
      chunk.text = std::move(*in->mutable_text());
      chunk.logprobs.assign(in->logprobs().begin(), in->logprobs().end());
      chunk.top_logprobs = Alternatives(in->top_logprobs());
      if (in->prompt_token_ids_size() > 0) {
        chunk.prompt_token_ids.assign(in->prompt_token_ids().begin(), in->prompt_token_ids().end());
        chunk.prompt_logprobs.assign(in->prompt_logprobs().begin(), in->prompt_logprobs().end());
        chunk.prompt_top_logprobs = Alternatives(in->prompt_top_logprobs());
        result_.prompt_token_ids = chunk.prompt_token_ids;
        result_.prompt_logprobs = chunk.prompt_logprobs;
        result_.prompt_top_logprobs = chunk.prompt_top_logprobs;
      }
      result_.token_ids.insert(result_.token_ids.end(), chunk.token_ids.begin(), chunk.token_ids.end());
      result_.logprobs.insert(result_.logprobs.end(), chunk.logprobs.begin(), chunk.logprobs.end());
      result_.top_logprobs.insert(result_.top_logprobs.end(), chunk.top_logprobs.begin(), chunk.top_logprobs.end());
      result_.text += chunk.text;
      return std::optional<Chunk>(std::move(chunk));
    }
    if (!response.has_complete()) {
      Close(absl::InternalError("Generate: a response with neither chunk nor complete"));
      break;
    }
    complete_seen_ = true;
    v1::GenerateComplete* complete = response.mutable_complete();
    result_.finish_reason = complete->finish_reason();
    result_.matched_stop = std::move(*complete->mutable_matched_stop());
    result_.stats = std::move(*complete->mutable_stats());
    // Held-back text (e.g. a final incomplete character) is the last chunk.
    if (!complete->text_tail().empty()) {
      Chunk tail;
      tail.text = std::move(*complete->mutable_text_tail());
      result_.text += tail.text;
      return std::optional<Chunk>(std::move(tail));
    }
  }
  if (!final_status_->ok()) return *final_status_;
  return std::optional<Chunk>();
}

absl::StatusOr<GenerationResult> GenerationStream::Finish() {
  for (;;) {
    absl::StatusOr<std::optional<Chunk>> next = Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) return result_;
  }
}

void GenerationStream::Iterator::Advance() {
  absl::StatusOr<std::optional<Chunk>> next = stream_->Next();
  if (!next.ok() || !next->has_value()) {
    stream_ = nullptr;
    return;
  }
  chunk_ = std::move(**next);
}

}  // namespace tandem
