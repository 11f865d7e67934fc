#include "runtime/tokenizer/tokenizer.h"

#include <algorithm>
#include <queue>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/tokenizer/byte_level.h"

namespace tandem::tokenizer {
namespace {

// Debian's Abseil is built with its own string_view type; convert explicitly.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Control tokens that end a turn in the chat formats we serve.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>",
};

// Fill-in-the-middle token spellings, {prefix, suffix, middle}, tried in order
// when the GGUF does not name the ids.
constexpr std::string_view kFimTexts[][3] = {
    {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"},  // Qwen2.5-Coder
    {"<fim_prefix>", "<fim_suffix>", "<fim_middle>"},        // StarCoder, SantaCoder
};

// Spellings of the code models' FIM padding, repository-name and
// file-separator tokens, used when the GGUF does not name their ids (the
// lists llama.cpp's vocabulary loader matches). Like the end-of-turn texts,
// they count only as control tokens.
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::string_view kFimRepoTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};

// Reads an optional integer key: -1 when absent; an error when malformed.
absl::StatusOr<int32_t> OptionalId(const gguf::GgufFile& f, std::string_view key) {
  if (f.Find(key) == nullptr) return -1;
  absl::StatusOr<int64_t> v = f.GetInt(key);
  if (!v.ok()) return v.status();
  if (*v < -1 || *v > INT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(A(key), " out of range: ", *v));
  }
  return static_cast<int32_t>(*v);
}

absl::StatusOr<bool> OptionalBool(const gguf::GgufFile& f, std::string_view key, bool dflt) {
  if (f.Find(key) == nullptr) return dflt;
  return f.GetBool(key);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const gguf::GgufFile& f) {
  absl::StatusOr<std::string_view> model = f.GetString("tokenizer.ggml.model");
  if (!model.ok()) return model.status();
  if (*model != "gpt2") {
    return absl::UnimplementedError(absl::StrCat(
        "unsupported tokenizer.ggml.model '", A(*model), "' (only byte-level BPE 'gpt2')"));
  }
  TokenizerConfig cfg;
  std::string_view pre_name = "default";
  if (f.Find("tokenizer.ggml.pre") != nullptr) {
    absl::StatusOr<std::string_view> pre = f.GetString("tokenizer.ggml.pre");
    if (!pre.ok()) return pre.status();
    pre_name = *pre;
  }
  absl::StatusOr<PreTokenizerKind> kind = PreTokenizerFromName(pre_name);
  if (!kind.ok()) return kind.status();
  cfg.pre = *kind;
  cfg.ignore_merges = cfg.pre == PreTokenizerKind::kLlama3;

  absl::StatusOr<std::vector<std::string_view>> tokens = f.GetStringArray("tokenizer.ggml.tokens");
  if (!tokens.ok()) return tokens.status();
  cfg.tokens.assign(tokens->begin(), tokens->end());
  if (f.Find("tokenizer.ggml.token_type") != nullptr) {
    absl::StatusOr<std::vector<int64_t>> types = f.GetIntArray("tokenizer.ggml.token_type");
    if (!types.ok()) return types.status();
    cfg.token_types.reserve(types->size());
    for (int64_t t : *types) cfg.token_types.push_back(static_cast<int32_t>(t));
  }
  absl::StatusOr<std::vector<std::string_view>> merges = f.GetStringArray("tokenizer.ggml.merges");
  if (!merges.ok()) return merges.status();
  cfg.merges.assign(merges->begin(), merges->end());

  struct IdKey { const char* key; int32_t* dst; };
  for (const IdKey& k : {IdKey{"tokenizer.ggml.bos_token_id", &cfg.bos_id},
                         IdKey{"tokenizer.ggml.eos_token_id", &cfg.eos_id},
                         IdKey{"tokenizer.ggml.unknown_token_id", &cfg.unk_id},
                         IdKey{"tokenizer.ggml.padding_token_id", &cfg.pad_id},
                         IdKey{"tokenizer.ggml.eot_token_id", &cfg.eot_id},
                         IdKey{"tokenizer.ggml.eom_token_id", &cfg.eom_id},
                         IdKey{"tokenizer.ggml.fim_pre_token_id", &cfg.fim_prefix_id},
                         IdKey{"tokenizer.ggml.fim_suf_token_id", &cfg.fim_suffix_id},
                         IdKey{"tokenizer.ggml.fim_mid_token_id", &cfg.fim_middle_id},
                         IdKey{"tokenizer.ggml.fim_pad_token_id", &cfg.fim_pad_id},
                         IdKey{"tokenizer.ggml.fim_rep_token_id", &cfg.fim_repo_id},
                         IdKey{"tokenizer.ggml.fim_sep_token_id", &cfg.fim_sep_id}}) {
    absl::StatusOr<int32_t> id = OptionalId(f, k.key);
    if (!id.ok()) return id.status();
    *k.dst = *id;
  }
  absl::StatusOr<bool> add_bos = OptionalBool(f, "tokenizer.ggml.add_bos_token", false);
  if (!add_bos.ok()) return add_bos.status();
  absl::StatusOr<bool> add_eos = OptionalBool(f, "tokenizer.ggml.add_eos_token", false);
  if (!add_eos.ok()) return add_eos.status();
  cfg.add_bos = *add_bos;
  cfg.add_eos = *add_eos;
  if (f.Find("tokenizer.chat_template") != nullptr) {
    absl::StatusOr<std::string_view> tmpl = f.GetString("tokenizer.chat_template");
    if (!tmpl.ok()) return tmpl.status();
    cfg.chat_template = std::string(*tmpl);
  }
  return FromConfig(std::move(cfg));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromConfig(TokenizerConfig config) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  absl::Status s = t->Build(std::move(config));
  if (!s.ok()) return s;
  return t;
}

absl::Status Tokenizer::Build(TokenizerConfig cfg) {
  const size_t n = cfg.tokens.size();
  if (n == 0) return absl::InvalidArgumentError("tokenizer has an empty vocabulary");
  if (n > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError("vocabulary too large");
  }
  if (!cfg.token_types.empty() && cfg.token_types.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer.ggml.token_type has ", cfg.token_types.size(), " entries for ", n, " tokens"));
  }
  auto check_id = [n](int32_t id, std::string_view what) -> absl::Status {
    if (id < -1 || id >= static_cast<int64_t>(n)) {
      return absl::InvalidArgumentError(
          absl::StrCat(A(what), " id ", id, " is outside the vocabulary of ", n));
    }
    return absl::OkStatus();
  };
  for (auto [id, what] : {std::pair{cfg.bos_id, "BOS"}, {cfg.eos_id, "EOS"},
                          {cfg.unk_id, "UNK"}, {cfg.pad_id, "PAD"},
                          {cfg.eot_id, "EOT"}, {cfg.eom_id, "EOM"},
                          {cfg.fim_prefix_id, "FIM prefix"}, {cfg.fim_suffix_id, "FIM suffix"},
                          {cfg.fim_middle_id, "FIM middle"}, {cfg.fim_pad_id, "FIM pad"},
                          {cfg.fim_repo_id, "FIM repository"}, {cfg.fim_sep_id, "FIM file separator"}}) {
    if (absl::Status s = check_id(id, what); !s.ok()) return s;
  }
  pre_ = cfg.pre;
  ignore_merges_ = cfg.ignore_merges;
  bos_id_ = cfg.bos_id;
  eos_id_ = cfg.eos_id;
  unk_id_ = cfg.unk_id;
  pad_id_ = cfg.pad_id;
  add_bos_ = cfg.add_bos && bos_id_ >= 0;
  add_eos_ = cfg.add_eos && eos_id_ >= 0;

  const ByteLevelAlphabet alphabet;
  pieces_.resize(n);
  types_.resize(n);
  byte_id_.fill(-1);
  special_first_byte_.fill(false);
  piece_to_id_.reserve(n);
  text_to_id_.reserve(n);
  // Stored ids of tokens by vocabulary string, to resolve merges.
  absl::flat_hash_map<std::string_view, int32_t> stored_to_id;
  stored_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    int32_t type = cfg.token_types.empty() ? 1 : cfg.token_types[i];
    if (type < 0 || type > 6) type = 1;  // unknown type values: treat as normal
    types_[i] = static_cast<TokenType>(type);
    const std::string& stored = cfg.tokens[i];
    const bool is_text_token = types_[i] == TokenType::kControl ||
                               types_[i] == TokenType::kUserDefined ||
                               types_[i] == TokenType::kUnknown ||
                               types_[i] == TokenType::kUnused;
    std::optional<std::string> bytes;
    if (!is_text_token) bytes = alphabet.Decode(stored);
    pieces_[i] = bytes ? std::move(*bytes) : stored;
    stored_to_id.try_emplace(stored, id);
    text_to_id_.try_emplace(pieces_[i], id);
    if (is_text_token) {
      if ((types_[i] == TokenType::kControl || types_[i] == TokenType::kUserDefined ||
           types_[i] == TokenType::kUnknown) &&
          !stored.empty()) {
        specials_.push_back({stored, id, types_[i] != TokenType::kUserDefined});
        special_first_byte_[static_cast<uint8_t>(stored[0])] = true;
      }
      continue;
    }
    // The last duplicate wins, as in a vocabulary dictionary built in id order.
    piece_to_id_[pieces_[i]] = id;
    if (pieces_[i].size() == 1) byte_id_[static_cast<uint8_t>(pieces_[i][0])] = id;
  }
  // Longest first, so that a token that is a prefix of another does not win.
  std::stable_sort(specials_.begin(), specials_.end(),
                   [](const SpecialToken& a, const SpecialToken& b) {
                     return a.text.size() > b.text.size();
                   });

  merges_.reserve(cfg.merges.size());
  for (size_t r = 0; r < cfg.merges.size(); ++r) {
    const std::string& m = cfg.merges[r];
    const size_t sp = m.find(' ', 1);  // a left part is never empty
    if (sp == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer merge ", r, " has no space separator: '", m, "'"));
    }
    const std::string_view left(m.data(), sp);
    const std::string_view right(m.data() + sp + 1, m.size() - sp - 1);
    auto l = stored_to_id.find(left);
    auto rr = stored_to_id.find(right);
    auto merged = stored_to_id.find(absl::StrCat(A(left), A(right)));
    // Merges whose parts are not in the vocabulary can never apply.
    if (l == stored_to_id.end() || rr == stored_to_id.end() || merged == stored_to_id.end()) {
      continue;
    }
    merges_.try_emplace(PairKey(l->second, rr->second),
                        Merge{static_cast<int32_t>(r), merged->second});
  }

  for (int32_t id : {cfg.eos_id, cfg.eot_id, cfg.eom_id}) {
    if (id >= 0) end_ids_.insert(id);
  }
  // The first control token of `texts` found in the vocabulary, or -1.
  auto control_id = [this](std::span<const std::string_view> texts) -> int32_t {
    for (std::string_view text : texts) {
      auto it = text_to_id_.find(A(text));
      if (it != text_to_id_.end() && types_[it->second] == TokenType::kControl) return it->second;
    }
    return -1;
  };
  for (std::string_view text : kEndOfTurnTexts) {
    if (int32_t id = control_id({&text, 1}); id >= 0) end_ids_.insert(id);
  }
  for (auto [id, texts] : {std::pair{cfg.fim_pad_id, std::span<const std::string_view>(kFimPadTexts)},
                           {cfg.fim_repo_id, std::span<const std::string_view>(kFimRepoTexts)},
                           {cfg.fim_sep_id, std::span<const std::string_view>(kFimSepTexts)}}) {
    const int32_t end = id >= 0 ? id : control_id(texts);
    if (end >= 0) end_ids_.insert(end);
  }
  if (cfg.fim_prefix_id >= 0 && cfg.fim_suffix_id >= 0 && cfg.fim_middle_id >= 0) {
    fim_ = FimTokens{cfg.fim_prefix_id, cfg.fim_suffix_id, cfg.fim_middle_id};
  } else {
    for (const auto& texts : kFimTexts) {
      auto p = text_to_id_.find(A(texts[0]));
      auto s = text_to_id_.find(A(texts[1]));
      auto m = text_to_id_.find(A(texts[2]));
      if (p != text_to_id_.end() && s != text_to_id_.end() && m != text_to_id_.end()) {
        fim_ = FimTokens{p->second, s->second, m->second};
        break;
      }
    }
  }
  chat_template_ = std::make_unique<ChatTemplate>(
      std::move(cfg.chat_template), bos_id_ >= 0 ? pieces_[bos_id_] : std::string());
  return absl::OkStatus();
}

void Tokenizer::EncodePieceUncached(std::string_view piece, std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    auto it = piece_to_id_.find(A(piece));
    if (it != piece_to_id_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  // Symbols start as single bytes and live in a doubly linked list; merges
  // are applied lowest rank first, ties to the leftmost pair, which is what
  // the reference BPE does.
  // Indices are ptrdiff_t: a piece can be as long as the input (a run of spaces).
  const ptrdiff_t n = static_cast<ptrdiff_t>(piece.size());
  std::vector<int32_t> ids(n);
  std::vector<ptrdiff_t> prev(n), next(n);
  for (ptrdiff_t i = 0; i < n; ++i) {
    ids[i] = byte_id_[static_cast<uint8_t>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    ptrdiff_t pos;
    int32_t left, right;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push_pair = [&](ptrdiff_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    const int32_t a = ids[pos], b = ids[next[pos]];
    if (a < 0 || b < 0) return;
    auto it = merges_.find(PairKey(a, b));
    if (it != merges_.end()) heap.push({it->second.rank, pos, a, b});
  };
  for (ptrdiff_t i = 0; i + 1 < n; ++i) push_pair(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    // Stale if either symbol has changed since the candidate was pushed.
    if (ids[c.pos] != c.left || next[c.pos] < 0 || ids[next[c.pos]] != c.right) continue;
    const ptrdiff_t right = next[c.pos];
    ids[c.pos] = merges_.find(PairKey(c.left, c.right))->second.id;
    ids[right] = -2;  // removed
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push_pair(prev[c.pos]);
    push_pair(c.pos);
  }
  for (ptrdiff_t i = 0; i >= 0 && i < n; i = next[i]) {
    if (ids[i] >= 0) {
      out->push_back(ids[i]);
    } else if (unk_id_ >= 0) {
      out->push_back(unk_id_);  // a byte the vocabulary lacks
    }
  }
}

void Tokenizer::EncodePiece(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.size() > kMaxCachedPieceBytes) {
    EncodePieceUncached(piece, out);
    return;
  }
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = cache_.find(A(piece));
    if (it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out->size();
  EncodePieceUncached(piece, out);
  std::vector<int32_t> ids(out->begin() + start, out->end());
  absl::MutexLock lock(&cache_mu_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.try_emplace(std::string(piece), std::move(ids));
}

void Tokenizer::EncodeText(std::string_view text, std::vector<int32_t>* out) const {
  std::vector<std::string_view> pieces;
  PreTokenize(pre_, text, &pieces);
  for (std::string_view p : pieces) EncodePiece(p, out);
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && add_bos_) out.push_back(bos_id_);
  size_t start = 0;  // start of the pending plain-text segment
  if (!specials_.empty()) {
    for (size_t i = 0; i < text.size();) {
      const SpecialToken* hit = nullptr;
      if (special_first_byte_[static_cast<uint8_t>(text[i])]) {
        const std::string_view rest = text.substr(i);
        for (const SpecialToken& s : specials_) {
          if ((parse_special || !s.needs_parse_special) && rest.starts_with(s.text)) {
            hit = &s;
            break;
          }
        }
      }
      if (hit == nullptr) {
        ++i;
        continue;
      }
      EncodeText(text.substr(start, i - start), &out);
      out.push_back(hit->id);
      i += hit->text.size();
      start = i;
    }
  }
  EncodeText(text.substr(start), &out);
  if (add_special && add_eos_) out.push_back(eos_id_);
  return out;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) out += TokenText(id);
  return out;
}

std::string_view Tokenizer::TokenText(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return pieces_[id];
}

TokenType Tokenizer::GetTokenType(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return TokenType::kUndefined;
  return types_[id];
}

std::optional<int32_t> Tokenizer::FindToken(std::string_view text) const {
  auto it = text_to_id_.find(A(text));
  if (it == text_to_id_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::string> Tokenizer::ApplyChatTemplate(std::span<const ChatMessage> messages,
                                                         bool add_generation_prompt) const {
  return chat_template_->Apply(messages, add_generation_prompt);
}

}  // namespace tandem::tokenizer
