// An in-memory llama/qwen2 GGUF image with random weights of chosen types,
// built in C++ so that the GPU checks need neither Python nor model files
// (the GPU machine gets the source tree only). Metadata is what
// ReadModelConfig needs (no tokenizer: the tests drive
// parallel::TensorParallelModel, which needs none).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/ggml_types.h"
#include "tests/runtime/gguf/gguf_builder.h"
#include "tests/kernels/random_weights.h"

namespace tandem::testing_util {

struct SyntheticShape {
  std::string arch = "llama";  // "qwen2" adds Q/K/V biases and an untied output
  int n_layers = 2, n_embd = 512, n_ff = 1024, n_head = 8, n_head_kv = 2, vocab = 1000;
  kernels::GgmlType embd = kernels::GgmlType::kQ8_0;
  kernels::GgmlType q = kernels::GgmlType::kQ4_K, k = kernels::GgmlType::kQ6_K, v = kernels::GgmlType::kQ5_K;
  kernels::GgmlType o = kernels::GgmlType::kQ8_0, gate = kernels::GgmlType::kQ4_0, up = kernels::GgmlType::kQ5_0;
  kernels::GgmlType down = kernels::GgmlType::kQ4_1, output = kernels::GgmlType::kF16;
  uint32_t seed = 7;
  // Store every quantized matrix as F32 holding its dequantized values (the
  // same random draws): the float reference a quantized model's GPU logits
  // are held to, free of the CPU's 8-bit activation quantization.
  bool dequantize_to_f32 = false;
  // With dequantize_to_f32: types that stay quantized anyway (the reference
  // for a GPU whose products of that type quantize activations as the CPU
  // does, CudaBackendOptions::int8_activations).
  std::vector<kernels::GgmlType> keep_quantized;
};

// F16/F32 weights scaled by 1/sqrt(cols) (a normal transformer range);
// quantized ones from RandomWeights with a matching typical magnitude.
inline std::vector<uint8_t> SyntheticWeights(kernels::GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
  if (type == kernels::GgmlType::kF16 || type == kernels::GgmlType::kF32 || type == kernels::GgmlType::kBF16) {
    std::vector<uint8_t> w = kernels::testing::RandomWeights(type, rows, cols, rng);
    for (int64_t i = 0; i < rows * cols; ++i) {
      float v;
      if (type == kernels::GgmlType::kF32) {
        std::memcpy(&v, w.data() + 4 * i, 4);
        v *= scale;
        std::memcpy(w.data() + 4 * i, &v, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, w.data() + 2 * i, 2);
        v = (type == kernels::GgmlType::kF16 ? kernels::Fp16ToFp32(h) : kernels::Bf16ToFp32(h)) * scale;
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        h = type == kernels::GgmlType::kF16 ? kernels::Fp32ToFp16(v) : static_cast<uint16_t>(bits >> 16);
        std::memcpy(w.data() + 2 * i, &h, 2);
      }
    }
    return w;
  }
  return kernels::testing::RandomWeights(type, rows, cols, rng, 4.0f * scale);
}

inline std::vector<uint8_t> BuildSyntheticGguf(const SyntheticShape& s) {
  using gguf::testing::Bytes;
  using gguf::testing::Kv;
  using gguf::testing::KvString;
  using gguf::testing::KvU32;
  using gguf::testing::PutU32;
  gguf::testing::FileSpec spec;
  const std::string a = s.arch + ".";
  spec.kvs.push_back(KvString("general.architecture", s.arch));
  spec.kvs.push_back(KvU32(a + "block_count", s.n_layers));
  spec.kvs.push_back(KvU32(a + "context_length", 4096));
  spec.kvs.push_back(KvU32(a + "embedding_length", s.n_embd));
  spec.kvs.push_back(KvU32(a + "feed_forward_length", s.n_ff));
  spec.kvs.push_back(KvU32(a + "attention.head_count", s.n_head));
  spec.kvs.push_back(KvU32(a + "attention.head_count_kv", s.n_head_kv));
  {
    Bytes p;
    const float eps = 1e-5f;
    uint32_t bits;
    std::memcpy(&bits, &eps, 4);
    PutU32(p, bits);
    spec.kvs.push_back(Kv(a + "attention.layer_norm_rms_epsilon", /*float32*/ 6, p));
  }
  std::mt19937 rng(s.seed);
  std::vector<std::vector<uint8_t>> data;
  uint64_t offset = 0;
  auto add = [&](const std::string& name, kernels::GgmlType type, int64_t rows, int64_t cols, bool vector) {
    std::vector<uint8_t> bytes;
    if (vector) {  // norms around 1, biases around 0: F32
      std::normal_distribution<float> nd(0.0f, 0.1f);
      bytes.resize(static_cast<size_t>(cols) * 4);
      const bool norm = name.find("norm") != std::string::npos;
      for (int64_t i = 0; i < cols; ++i) {
        const float v = (norm ? 1.0f : 0.0f) + nd(rng);
        std::memcpy(bytes.data() + 4 * i, &v, 4);
      }
      spec.tensors.push_back({name, {static_cast<uint64_t>(cols)}, 0, offset});
    } else {
      bytes = SyntheticWeights(type, rows, cols, rng);
      if (s.dequantize_to_f32 && type != kernels::GgmlType::kF32 &&
          std::find(s.keep_quantized.begin(), s.keep_quantized.end(), type) == s.keep_quantized.end()) {
        std::vector<uint8_t> f32(static_cast<size_t>(rows * cols) * 4);
        const size_t row_bytes = kernels::RowBytes(type, cols);
        for (int64_t r = 0; r < rows; ++r) {
          if (!kernels::DequantizeRow(type, bytes.data() + r * row_bytes,
                                      reinterpret_cast<float*>(f32.data()) + r * cols, cols)) {
            std::abort();  // every type SyntheticWeights makes has a dequantizer
          }
        }
        bytes = std::move(f32);
        type = kernels::GgmlType::kF32;
      }
      spec.tensors.push_back({name, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)},
                              static_cast<uint32_t>(type), offset});
    }
    offset += (bytes.size() + 31) / 32 * 32;
    bytes.resize((bytes.size() + 31) / 32 * 32, 0);
    data.push_back(std::move(bytes));
  };
  const int hd = s.n_embd / s.n_head;
  const int64_t QD = int64_t{s.n_head} * hd, KD = int64_t{s.n_head_kv} * hd;
  add("token_embd.weight", s.embd, s.vocab, s.n_embd, false);
  add("output_norm.weight", kernels::GgmlType::kF32, 1, s.n_embd, true);
  if (s.arch == "qwen2") add("output.weight", s.output, s.vocab, s.n_embd, false);
  for (int l = 0; l < s.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", kernels::GgmlType::kF32, 1, s.n_embd, true);
    add(p + "attn_q.weight", s.q, QD, s.n_embd, false);
    add(p + "attn_k.weight", s.k, KD, s.n_embd, false);
    add(p + "attn_v.weight", s.v, KD, s.n_embd, false);
    add(p + "attn_output.weight", s.o, s.n_embd, QD, false);
    if (s.arch == "qwen2") {
      add(p + "attn_q.bias", kernels::GgmlType::kF32, 1, QD, true);
      add(p + "attn_k.bias", kernels::GgmlType::kF32, 1, KD, true);
      add(p + "attn_v.bias", kernels::GgmlType::kF32, 1, KD, true);
    }
    add(p + "ffn_norm.weight", kernels::GgmlType::kF32, 1, s.n_embd, true);
    add(p + "ffn_gate.weight", s.gate, s.n_ff, s.n_embd, false);
    add(p + "ffn_up.weight", s.up, s.n_ff, s.n_embd, false);
    add(p + "ffn_down.weight", s.down, s.n_embd, s.n_ff, false);
  }
  spec.data_bytes = 0;
  std::vector<uint8_t> image = gguf::testing::Build(spec);
  for (const auto& d : data) image.insert(image.end(), d.begin(), d.end());
  return image;
}

}  // namespace tandem::testing_util
