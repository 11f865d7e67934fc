// Byte-level BPE tokenizer built from GGUF metadata (tokenizer.ggml.model ==
// "gpt2": SmolLM2, Llama 3, Qwen2.5), with special-token parsing and the
// model's chat template. Thread-safe: all methods are const; the word cache
// is guarded by a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/tokenizer/chat_template.h"
#include "runtime/tokenizer/pretokenizer.h"

namespace tandem::gguf {
class GgufFile;
}

namespace tandem::tokenizer {

// Token types as GGUF stores them (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,       // e.g. <|im_start|>; matched in text only with parse_special
  kUserDefined = 4,   // always matched in text as a whole token
  kUnused = 5,
  kByte = 6,
};

// Everything the tokenizer is built from; FromGguf fills it from metadata.
// Public so that tests can build small tokenizers without a GGUF file.
struct TokenizerConfig {
  std::vector<std::string> tokens;        // vocabulary in stored (byte-level) form
  std::vector<int32_t> token_types;       // empty = all normal
  std::vector<std::string> merges;        // "left right", in priority order
  PreTokenizerKind pre = PreTokenizerKind::kGpt2;
  bool ignore_merges = false;             // whole-piece vocabulary hit wins (Llama 3)
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, eot_id = -1, eom_id = -1;
  // Fill-in-the-middle tokens (llama.cpp's tokenizer.ggml.fim_*_token_id);
  // -1: looked up by their usual spellings instead.
  int32_t fim_prefix_id = -1, fim_suffix_id = -1, fim_middle_id = -1;
  // The code models' padding, repository-name and file-separator tokens
  // (tokenizer.ggml.fim_{pad,rep,sep}_token_id); they end a generation, as
  // in llama.cpp. -1: looked up by their usual spellings instead.
  int32_t fim_pad_id = -1, fim_repo_id = -1, fim_sep_id = -1;
  bool add_bos = false, add_eos = false;
  std::string chat_template;              // empty = none
};

// The control tokens a code model's fill-in-the-middle prompt is built from:
// prefix-suffix-middle order, prefix <P> code-before <S> code-after <M>, and
// the model writes what goes between.
struct FimTokens {
  int32_t prefix = -1, suffix = -1, middle = -1;
  bool operator==(const FimTokens&) const = default;
};

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const gguf::GgufFile& file);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromConfig(TokenizerConfig config);

  // add_special: prepend BOS / append EOS where the model asks for them.
  // parse_special: control tokens written in the text (e.g. "<|im_end|>") become
  // their ids; otherwise they are encoded as plain text. User-defined tokens
  // are always matched.
  std::vector<int32_t> Encode(std::string_view text, bool add_special,
                              bool parse_special) const;

  // Concatenated bytes of the tokens (special tokens as their text). Ids out
  // of range are skipped. May end in an incomplete UTF-8 sequence: use
  // StreamingDetokenizer for incremental output.
  std::string Decode(std::span<const int32_t> ids) const;

  // The bytes token `id` stands for (empty if out of range).
  std::string_view TokenText(int32_t id) const;
  TokenType GetTokenType(int32_t id) const;
  std::optional<int32_t> FindToken(std::string_view text) const;  // by TokenText

  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  bool add_bos() const { return add_bos_; }
  int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }
  PreTokenizerKind pre_tokenizer() const { return pre_; }

  // True for tokens that end a generation: EOS, EOT/EOM, the end-of-turn
  // control tokens (<|im_end|>, <|endoftext|>, <|eot_id|>, ...) and a code
  // model's FIM padding, repository-name and file-separator tokens (after
  // them a fill-in-the-middle answer or a file is over; llama.cpp stops on
  // them too).
  bool IsEndOfGeneration(int32_t id) const { return end_ids_.contains(id); }

  // The fill-in-the-middle tokens, when the model has all three (Qwen2.5-Coder:
  // <|fim_prefix|> <|fim_suffix|> <|fim_middle|>; StarCoder's <fim_prefix> ...).
  const std::optional<FimTokens>& fim_tokens() const { return fim_; }

  // Renders the conversation with the model's chat template.
  absl::StatusOr<std::string> ApplyChatTemplate(std::span<const ChatMessage> messages,
                                                bool add_generation_prompt) const;
  const ChatTemplate& chat_template() const { return *chat_template_; }

 private:
  struct SpecialToken {
    std::string text;
    int32_t id;
    bool needs_parse_special;  // control tokens; user-defined ones always match
  };

  Tokenizer() = default;
  absl::Status Build(TokenizerConfig config);
  // BPE of one pre-tokenized piece, appended to `out`.
  void EncodePiece(std::string_view piece, std::vector<int32_t>* out) const;
  void EncodePieceUncached(std::string_view piece, std::vector<int32_t>* out) const;
  void EncodeText(std::string_view text, std::vector<int32_t>* out) const;

  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  std::vector<std::string> pieces_;          // raw bytes per id
  std::vector<TokenType> types_;
  absl::flat_hash_map<std::string, int32_t> piece_to_id_;  // normal tokens by bytes
  absl::flat_hash_map<std::string, int32_t> text_to_id_;   // any token by TokenText
  std::array<int32_t, 256> byte_id_{};       // single-byte token ids, -1 if none
  struct Merge { int32_t rank; int32_t id; };
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::vector<SpecialToken> specials_;       // longest first
  std::array<bool, 256> special_first_byte_{};
  absl::flat_hash_set<int32_t> end_ids_;
  std::optional<FimTokens> fim_;
  PreTokenizerKind pre_ = PreTokenizerKind::kGpt2;
  bool ignore_merges_ = false;
  int32_t bos_id_ = -1, eos_id_ = -1, unk_id_ = -1, pad_id_ = -1;
  bool add_bos_ = false, add_eos_ = false;
  std::unique_ptr<ChatTemplate> chat_template_;

  // Cache of encoded pieces. Bounded: cleared when it reaches kMaxCacheEntries.
  static constexpr size_t kMaxCacheEntries = 1 << 16;
  static constexpr size_t kMaxCachedPieceBytes = 64;
  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_
      ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace tandem::tokenizer
