// libFuzzer target for the BERT WordPiece tokenizer on arbitrary bytes (the
// embedder's untrusted input): valid UTF-8 always tokenizes, and Encode's
// ids are in range and framed by [CLS] ... [SEP] within the budget; invalid
// UTF-8 is an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/embedding/wordpiece.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* tok = [] {
    std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##a", "ab", "##b", "the",
                                      "##s", ",", "\xc3\xa9", "\xe7\x9a\x84", "##\xe2\x80\x94"};
    return tandem::embedding::WordPieceTokenizer::FromVocab(vocab)->release();
  }();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ids = tok->Encode(text, 64);
  if (!ids.ok()) return 0;
  if (ids->size() < 2 || ids->size() > 64 || ids->front() != tok->cls_id() || ids->back() != tok->sep_id()) {
    __builtin_trap();
  }
  for (int32_t id : *ids) {
    if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
  }
  auto words = tok->BasicTokenize(text);
  if (!words.ok()) __builtin_trap();  // Encode accepted the text, so must this
  return 0;
}
