#include "runtime/model/model_config.h"

#include "absl/strings/str_cat.h"

namespace tandem::runtime {
namespace {

absl::StatusOr<int64_t> RequiredInt(const gguf::GgufFile& f, const std::string& key) {
  absl::StatusOr<int64_t> v = f.GetInt(key);
  if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat("model metadata: ", v.status().message()));
  if (*v <= 0 || *v > (int64_t{1} << 31)) {
    return absl::InvalidArgumentError(absl::StrCat("model metadata: ", key, " = ", *v, " is out of range"));
  }
  return *v;
}

absl::StatusOr<int64_t> OptionalInt(const gguf::GgufFile& f, const std::string& key, int64_t dflt) {
  if (f.Find(key) == nullptr) return dflt;
  return RequiredInt(f, key);
}

absl::StatusOr<double> OptionalFloat(const gguf::GgufFile& f, const std::string& key, double dflt) {
  if (f.Find(key) == nullptr) return dflt;
  absl::StatusOr<double> v = f.GetFloat(key);
  if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat("model metadata: ", v.status().message()));
  return *v;
}

}  // namespace

absl::StatusOr<ModelConfig> ReadModelConfig(const gguf::GgufFile& f) {
  ModelConfig c;
  absl::StatusOr<std::string_view> arch = f.GetString("general.architecture");
  if (!arch.ok()) return absl::InvalidArgumentError(absl::StrCat("model metadata: ", arch.status().message()));
  c.arch = std::string(*arch);
  if (c.arch == "llama") {
    c.rope_style = RopeStyle::kAdjacentPairs;  // GGUF stores llama Q/K rows permuted for it
  } else if (c.arch == "qwen2") {
    c.rope_style = RopeStyle::kHalfSplit;      // qwen2 keeps the Hugging Face layout
    c.has_qkv_bias = true;
  } else {
    return absl::UnimplementedError(absl::StrCat("unsupported architecture '", c.arch,
                                                 "' (supported: llama, qwen2)"));
  }
  if (f.Find("general.name") != nullptr) {
    absl::StatusOr<std::string_view> name = f.GetString("general.name");
    if (name.ok()) c.name = std::string(*name);
  }
  const std::string p = c.arch + ".";
#define TANDEM_ASSIGN(dst, expr)          \
  {                                       \
    auto v_ = (expr);                     \
    if (!v_.ok()) return v_.status();     \
    dst = static_cast<decltype(dst)>(*v_); \
  }
  TANDEM_ASSIGN(c.n_layers, RequiredInt(f, p + "block_count"));
  TANDEM_ASSIGN(c.n_embd, RequiredInt(f, p + "embedding_length"));
  TANDEM_ASSIGN(c.n_ff, RequiredInt(f, p + "feed_forward_length"));
  TANDEM_ASSIGN(c.n_head, RequiredInt(f, p + "attention.head_count"));
  TANDEM_ASSIGN(c.n_head_kv, OptionalInt(f, p + "attention.head_count_kv", c.n_head));
  TANDEM_ASSIGN(c.context_length, RequiredInt(f, p + "context_length"));
  TANDEM_ASSIGN(c.head_dim, OptionalInt(f, p + "attention.key_length", c.n_embd / c.n_head));
  TANDEM_ASSIGN(c.rope_dim, OptionalInt(f, p + "rope.dimension_count", c.head_dim));
  TANDEM_ASSIGN(c.rope_base, OptionalFloat(f, p + "rope.freq_base", 10000.0));
  TANDEM_ASSIGN(c.norm_eps, OptionalFloat(f, p + "attention.layer_norm_rms_epsilon", 1e-5));
#undef TANDEM_ASSIGN

  if (c.n_head % c.n_head_kv != 0) {
    return absl::InvalidArgumentError(absl::StrCat("model metadata: head_count ", c.n_head,
                                                   " is not a multiple of head_count_kv ", c.n_head_kv));
  }
  if (c.head_dim % 2 != 0 || c.head_dim > 256 || c.rope_dim > c.head_dim || c.rope_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("model metadata: unsupported head_dim ", c.head_dim,
                                                   " / rope dimension ", c.rope_dim));
  }
  if (f.Find(p + "attention.value_length") != nullptr) {
    absl::StatusOr<int64_t> vl = f.GetInt(p + "attention.value_length");
    if (!vl.ok() || *vl != c.head_dim) {
      return absl::UnimplementedError("model metadata: value_length different from key_length");
    }
  }

  // Rope scaling: "linear" divides positions by the factor; llama3-style
  // scaling arrives as the rope_freqs.weight tensor; anything else we refuse
  // rather than silently compute wrong logits.
  if (f.Find(p + "rope.scaling.type") != nullptr) {
    absl::StatusOr<std::string_view> type = f.GetString(p + "rope.scaling.type");
    if (!type.ok()) return type.status();
    if (*type == "linear") {
      absl::StatusOr<double> factor = OptionalFloat(f, p + "rope.scaling.factor", 1.0);
      if (!factor.ok()) return factor.status();
      if (*factor <= 0) return absl::InvalidArgumentError("model metadata: rope.scaling.factor <= 0");
      c.rope_linear_factor = static_cast<float>(*factor);
    } else if (*type != "none" && *type != "llama3") {
      return absl::UnimplementedError(absl::StrCat("unsupported rope scaling type '", std::string(*type), "'"));
    }
  } else if (f.Find(p + "rope.scale_linear") != nullptr) {
    absl::StatusOr<double> factor = f.GetFloat(p + "rope.scale_linear");
    if (!factor.ok()) return factor.status();
    if (*factor > 0) c.rope_linear_factor = static_cast<float>(*factor);
  }
  return c;
}

}  // namespace tandem::runtime
