// Stop strings over streamed text. Text that might be the start of a stop
// string is held back until it is known not to be one, so a client never sees
// part of a stop string. Held-back cuts fall on UTF-8 character boundaries
// because a stop string (valid UTF-8) never starts with a continuation byte.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem::decoding {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends `text` and returns what is safe to emit. Once a stop string
  // appears, stopped() turns true, the text before it is returned and
  // everything from the stop string on is dropped.
  std::string Push(std::string_view text);
  // End of generation: releases any held-back text.
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace tandem::decoding
