// Builds GGUF images byte by byte so tests can produce exactly the malformed
// file they need (gguf-py's writer refuses to write most of them).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace tandem::gguf::testing {

using Bytes = std::vector<uint8_t>;

inline void PutU32(Bytes& b, uint32_t v) {
  for (int k = 0; k < 4; ++k) b.push_back(static_cast<uint8_t>(v >> (8 * k)));
}
inline void PutU64(Bytes& b, uint64_t v) {
  for (int k = 0; k < 8; ++k) b.push_back(static_cast<uint8_t>(v >> (8 * k)));
}
inline void PutStr(Bytes& b, const std::string& s) {
  PutU64(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}

// A key-value entry with an arbitrary already-encoded payload (type tag included).
inline Bytes Kv(const std::string& key, uint32_t type, const Bytes& payload) {
  Bytes b;
  PutStr(b, key);
  PutU32(b, type);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}
inline Bytes KvU32(const std::string& key, uint32_t v) {
  Bytes p;
  PutU32(p, v);
  return Kv(key, 4, p);
}
inline Bytes KvString(const std::string& key, const std::string& v) {
  Bytes p;
  PutStr(p, v);
  return Kv(key, 8, p);
}

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;
  uint64_t offset = 0;
};

struct FileSpec {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  std::optional<uint64_t> tensor_count;  // default: tensors.size()
  std::optional<uint64_t> kv_count;      // default: kvs.size()
  std::vector<Bytes> kvs;
  std::vector<TensorSpec> tensors;
  uint64_t alignment = 32;  // padding before the data section
  size_t data_bytes = 0;
};

// Offsets the corruption tests patch, recorded while building.
struct Layout {
  size_t infos_begin = 0;  // first tensor info
  size_t data_begin = 0;   // data section
};

inline Bytes Build(const FileSpec& spec, Layout* layout = nullptr) {
  Bytes b;
  PutU32(b, spec.magic);
  PutU32(b, spec.version);
  PutU64(b, spec.tensor_count.value_or(spec.tensors.size()));
  PutU64(b, spec.kv_count.value_or(spec.kvs.size()));
  for (const Bytes& kv : spec.kvs) b.insert(b.end(), kv.begin(), kv.end());
  if (layout) layout->infos_begin = b.size();
  for (const TensorSpec& t : spec.tensors) {
    PutStr(b, t.name);
    PutU32(b, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) PutU64(b, d);
    PutU32(b, t.type);
    PutU64(b, t.offset);
  }
  while (b.size() % spec.alignment != 0) b.push_back(0);
  if (layout) layout->data_begin = b.size();
  // Data: small finite fp16-friendly bytes (0x3c00 = 1.0 in f16 when paired).
  for (size_t k = 0; k < spec.data_bytes; ++k) b.push_back(k % 2 ? 0x3c : static_cast<uint8_t>(k));
  return b;
}

// A small valid file: several metadata kinds and two tensors of different types.
inline FileSpec ValidSpec() {
  FileSpec s;
  s.kvs.push_back(KvString("general.architecture", "llama"));
  s.kvs.push_back(KvU32("llama.block_count", 2));
  {
    Bytes p;  // array of 3 strings
    PutU32(p, 8);
    PutU64(p, 3);
    PutStr(p, "<s>");
    PutStr(p, "");
    PutStr(p, "hello");
    s.kvs.push_back(Kv("tokenizer.ggml.tokens", 9, p));
  }
  {
    Bytes p;  // array of 2 float32
    PutU32(p, 6);
    PutU64(p, 2);
    PutU32(p, 0x3f800000);
    PutU32(p, 0xc0000000);
    s.kvs.push_back(Kv("tokenizer.ggml.scores", 9, p));
  }
  {
    Bytes p;  // nested: array of 1 array of 2 uint8, then an empty array
    PutU32(p, 9);
    PutU64(p, 2);
    PutU32(p, 0);
    PutU64(p, 2);
    p.push_back(7);
    p.push_back(9);
    PutU32(p, 0);
    PutU64(p, 0);
    s.kvs.push_back(Kv("test.nested", 9, p));
  }
  s.tensors.push_back({"a.weight", {8, 2}, /*f32*/ 0, 0});        // 64 bytes
  s.tensors.push_back({"b.weight", {32, 1}, /*q8_0*/ 8, 64});     // 34 bytes
  s.data_bytes = 98;
  return s;
}

}  // namespace tandem::gguf::testing
