#include "runtime/tokenizer/streaming_detokenizer.h"

#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/unicode.h"

namespace tandem::tokenizer {
namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
}  // namespace

std::string StreamingDetokenizer::Push(int32_t id) {
  return PushBytes(tokenizer_->TokenText(id));
}

std::string StreamingDetokenizer::PushBytes(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const int len = Utf8SequenceLength(pending_, pos);
    if (len < 0) break;  // incomplete tail: wait for more bytes
    if (len == 0) {
      out += kReplacement;
      ++pos;
      continue;
    }
    out.append(pending_, pos, len);
    pos += len;
  }
  pending_.erase(0, pos);
  return out;
}

std::string StreamingDetokenizer::Flush() {
  std::string out = PushBytes("");
  if (!pending_.empty()) {
    out += kReplacement;
    pending_.clear();
  }
  return out;
}

}  // namespace tandem::tokenizer
