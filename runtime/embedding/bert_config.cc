#include "runtime/embedding/bert_config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tandem::embedding {
namespace {

using Json = nlohmann::json;

absl::Status Bad(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("bert config: '", absl::string_view(field.data(), field.size()),
                                                 "' ", absl::string_view(why.data(), why.size())));
}

// A required integer field in [1, max].
absl::Status ReadInt(const Json& j, const char* field, int max, int* out) {
  const auto it = j.find(field);
  if (it == j.end()) return Bad(field, "is missing");
  if (!it->is_number_integer()) return Bad(field, "is not an integer");
  const int64_t v = it->get<int64_t>();
  if (v < 1 || v > max) return Bad(field, absl::StrCat("= ", v, " is outside [1, ", max, "]"));
  *out = static_cast<int>(v);
  return absl::OkStatus();
}

// An optional string field that must equal `want` when present.
absl::Status CheckString(const Json& j, const char* field, const char* want, bool required) {
  const auto it = j.find(field);
  if (it == j.end()) return required ? Bad(field, "is missing") : absl::OkStatus();
  if (!it->is_string() || it->get<std::string>() != want) {
    return Bad(field, absl::StrCat("must be \"", want, "\" (got ", it->dump(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BertConfig> ParseBertConfig(std::string_view json_text) {
  Json j;
  try {
    j = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("bert config: not valid JSON: ", e.what()));
  }
  if (!j.is_object()) return absl::InvalidArgumentError("bert config: not a JSON object");
  BertConfig c;
  // Bounds keep every derived size (rows x hidden, intermediate x hidden)
  // far from overflowing and reject nonsense early.
  if (auto s = ReadInt(j, "vocab_size", 1 << 22, &c.vocab_size); !s.ok()) return s;
  if (auto s = ReadInt(j, "hidden_size", 1 << 14, &c.hidden_size); !s.ok()) return s;
  if (auto s = ReadInt(j, "num_hidden_layers", 256, &c.num_hidden_layers); !s.ok()) return s;
  if (auto s = ReadInt(j, "num_attention_heads", 256, &c.num_attention_heads); !s.ok()) return s;
  if (auto s = ReadInt(j, "intermediate_size", 1 << 16, &c.intermediate_size); !s.ok()) return s;
  if (auto s = ReadInt(j, "max_position_embeddings", 1 << 16, &c.max_position_embeddings); !s.ok()) return s;
  if (auto s = ReadInt(j, "type_vocab_size", 1 << 10, &c.type_vocab_size); !s.ok()) return s;
  if (c.hidden_size % c.num_attention_heads != 0) {
    return Bad("hidden_size", absl::StrCat("= ", c.hidden_size, " is not a multiple of num_attention_heads = ",
                                           c.num_attention_heads));
  }
  if (const auto it = j.find("layer_norm_eps"); it != j.end()) {
    if (!it->is_number() || !(it->get<double>() > 0) || !std::isfinite(it->get<double>())) {
      return Bad("layer_norm_eps", "must be a positive number");
    }
    c.layer_norm_eps = it->get<double>();
  }
  if (auto s = CheckString(j, "model_type", "bert", /*required=*/true); !s.ok()) return s;
  if (auto s = CheckString(j, "hidden_act", "gelu", /*required=*/true); !s.ok()) return s;
  if (auto s = CheckString(j, "position_embedding_type", "absolute", /*required=*/false); !s.ok()) return s;
  return c;
}

absl::StatusOr<BertConfig> LoadBertConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("bert config: cannot open '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<BertConfig> c = ParseBertConfig(ss.str());
  if (!c.ok()) return absl::Status(c.status().code(), absl::StrCat(c.status().message(), " in '", path, "'"));
  return c;
}

}  // namespace tandem::embedding
