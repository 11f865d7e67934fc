// A running generation: read its chunks as they arrive, then its result.
#pragma once

#include <iterator>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tandem/sdk/generation.h"

namespace tandem {

// Not thread-safe, except Cancel(), which any thread may call at any time.
// Destroying a stream that has not ended cancels the call: the server aborts
// the request and frees its sessions.
class GenerationStream {
 public:
  ~GenerationStream();
  GenerationStream(const GenerationStream&) = delete;
  GenerationStream& operator=(const GenerationStream&) = delete;

  // Waits for the next chunk. std::nullopt: the stream ended and Finish()
  // returns the result at once. An error (the call's status, or INTERNAL when
  // the server broke the protocol) ends the stream; Finish() returns it too.
  absl::StatusOr<std::optional<Chunk>> Next();

  // Reads whatever is left and returns the whole result (text and tokens of
  // every chunk, including the ones Next() already returned).
  absl::StatusOr<GenerationResult> Finish();

  // Cancels the call; Next()/Finish() then answer CANCELLED (unless the
  // stream already ended). Thread-safe.
  void Cancel();

  // The request's id, known once the first message arrived ("" before).
  const std::string& request_id() const { return result_.request_id; }

  // Range-for over the chunks: `for (const Chunk& c : *stream)`. Iteration
  // stops at the end or at an error; Finish() says which.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Chunk;
    using difference_type = std::ptrdiff_t;
    using pointer = const Chunk*;
    using reference = const Chunk&;
    Iterator() = default;
    explicit Iterator(GenerationStream* stream) : stream_(stream) { Advance(); }
    const Chunk& operator*() const { return chunk_; }
    const Chunk* operator->() const { return &chunk_; }
    Iterator& operator++() {
      Advance();
      return *this;
    }
    bool operator==(const Iterator& other) const { return stream_ == other.stream_; }

   private:
    void Advance();
    GenerationStream* stream_ = nullptr;
    Chunk chunk_;
  };
  Iterator begin() { return Iterator(this); }
  Iterator end() { return Iterator(); }

 private:
  friend class Client;
  struct Call;
  explicit GenerationStream(std::unique_ptr<Call> call);
  // Ends the call and records its final status (once).
  void Close(absl::Status status);

  std::unique_ptr<Call> call_;
  GenerationResult result_;
  bool complete_seen_ = false;
  std::optional<absl::Status> final_status_;  // set once the stream ended
};

}  // namespace tandem
