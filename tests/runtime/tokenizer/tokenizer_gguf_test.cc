// Tokenizer::FromGguf on small GGUF images built in memory: the metadata
// keys it reads and the errors it gives for models it cannot serve.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tandem::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Writes a metadata-only GGUF v3 image.
class GgufBuilder {
 public:
  void Str(const std::string& key, const std::string& v) {
    Key(key, 8);
    PutStr(v);
  }
  void U32(const std::string& key, uint32_t v) {
    Key(key, 4);
    Put(v);
  }
  void Bool(const std::string& key, bool v) {
    Key(key, 7);
    Put(static_cast<uint8_t>(v));
  }
  void StrArray(const std::string& key, const std::vector<std::string>& v) {
    Key(key, 9);
    Put(uint32_t{8});
    Put(uint64_t{v.size()});
    for (const auto& s : v) PutStr(s);
  }
  void I32Array(const std::string& key, const std::vector<int32_t>& v) {
    Key(key, 9);
    Put(uint32_t{5});
    Put(uint64_t{v.size()});
    for (int32_t x : v) Put(x);
  }
  std::vector<uint8_t> Finish() const {
    std::vector<uint8_t> out;
    auto put = [&](const void* p, size_t n) {
      out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    };
    put("GGUF", 4);
    const uint32_t version = 3;
    const uint64_t tensors = 0;
    put(&version, 4);
    put(&tensors, 8);
    put(&count_, 8);
    put(body_.data(), body_.size());
    while (out.size() % 32) out.push_back(0);
    return out;
  }

 private:
  template <typename T>
  void Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    body_.insert(body_.end(), p, p + sizeof(T));
  }
  void PutStr(const std::string& s) {
    Put(uint64_t{s.size()});
    body_.insert(body_.end(), s.begin(), s.end());
  }
  void Key(const std::string& k, uint32_t type) {
    ++count_;
    PutStr(k);
    Put(type);
  }
  std::vector<uint8_t> body_;
  uint64_t count_ = 0;
};

GgufBuilder BaseVocab(const std::string& model, const std::string& pre) {
  ByteLevelAlphabet a;
  std::vector<std::string> tokens = {"<|im_start|>", "<|im_end|>"};
  std::vector<int32_t> types = {3, 3};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(a.Encode(std::string(1, static_cast<char>(b))));
    types.push_back(1);
  }
  tokens.push_back("hi");
  types.push_back(1);
  GgufBuilder g;
  g.Str("general.architecture", "llama");
  g.Str("tokenizer.ggml.model", model);
  if (!pre.empty()) g.Str("tokenizer.ggml.pre", pre);
  g.StrArray("tokenizer.ggml.tokens", tokens);
  g.I32Array("tokenizer.ggml.token_type", types);
  g.StrArray("tokenizer.ggml.merges", {"h i"});
  g.U32("tokenizer.ggml.bos_token_id", 0);
  g.U32("tokenizer.ggml.eos_token_id", 1);
  return g;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Build(const std::vector<uint8_t>& bytes) {
  absl::StatusOr<std::unique_ptr<gguf::GgufFile>> f = gguf::GgufFile::FromBuffer(bytes);
  if (!f.ok()) return f.status();
  return Tokenizer::FromGguf(**f);
}

TEST(TokenizerGgufTest, ReadsVocabularyMergesAndFlags) {
  GgufBuilder g = BaseVocab("gpt2", "qwen2");
  g.Bool("tokenizer.ggml.add_bos_token", true);
  g.Str("tokenizer.chat_template",
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
        "Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
        "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}");
  const std::vector<uint8_t> bytes = g.Finish();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Build(bytes);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.vocab_size(), 259);
  EXPECT_EQ(t.pre_tokenizer(), PreTokenizerKind::kQwen2);
  EXPECT_THAT(t.Encode("hi", true, false), ElementsAre(0, 258));
  EXPECT_THAT(t.Encode("<|im_end|>hi", false, true), ElementsAre(1, 258));
  EXPECT_TRUE(t.IsEndOfGeneration(1));
  EXPECT_EQ(t.chat_template().family(), ChatTemplateFamily::kSmolLM2);
}

TEST(TokenizerGgufTest, MissingPreMeansDefault) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Build(BaseVocab("gpt2", "").Finish());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->pre_tokenizer(), PreTokenizerKind::kGpt2);
  std::vector<ChatMessage> msgs = {{"user", "x"}};
  EXPECT_THAT((*tok)->ApplyChatTemplate(msgs, true).status().message(),
              HasSubstr("no chat template"));
}

TEST(TokenizerGgufTest, UnknownPreTokenizerIsAClearError) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
      Build(BaseVocab("gpt2", "jais-custom").Finish());
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tok.status().message(), HasSubstr("jais-custom"));
}

TEST(TokenizerGgufTest, NonBpeModelIsAClearError) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Build(BaseVocab("llama", "").Finish());
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(tok.status().message(), HasSubstr("llama"));
}

TEST(TokenizerGgufTest, MissingKeysAreErrors) {
  GgufBuilder g;
  g.Str("tokenizer.ggml.model", "gpt2");
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Build(g.Finish());
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(tok.status().message(), HasSubstr("tokenizer.ggml.tokens"));

  GgufBuilder bad_bos = BaseVocab("gpt2", "smollm");
  bad_bos.U32("tokenizer.ggml.unknown_token_id", 100000);
  tok = Build(bad_bos.Finish());
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(tok.status().message(), HasSubstr("UNK"));
}

}  // namespace
}  // namespace tandem::tokenizer
