#include "services/reward/gguf_reward_backend.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/dequantize.h"
#include "runtime/model/model.h"
#include "runtime/util/absl_compat.h"
#include "services/reward/options.h"
#include "services/reward/prefix_evaluator.h"

namespace tandem::reward {
namespace {

// llama.cpp's enum llama_pooling_type.
constexpr uint32_t kPoolingLast = 3;
constexpr uint32_t kPoolingRank = 4;

// One dense layer of the head, dequantized to float (the head is tiny next
// to the backbone; float64 accumulation keeps it exact enough to compare
// against a reference).
struct Dense {
  int64_t in = 0, out = 0;
  std::vector<float> w;  // out x in, row-major
  std::vector<float> b;  // out (zeros when absent)
  bool present() const { return out > 0; }
  std::vector<double> Apply(std::span<const double> x) const {
    std::vector<double> y(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
      double acc = b[static_cast<size_t>(o)];
      const float* row = w.data() + o * in;
      for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(row[i]) * x[static_cast<size_t>(i)];
      y[static_cast<size_t>(o)] = acc;
    }
    return y;
  }
};

absl::StatusOr<Dense> LoadDense(const gguf::GgufFile& f, const std::string& name, int64_t in) {
  Dense d;
  const gguf::TensorInfo* w = f.FindTensor(name + ".weight");
  if (w == nullptr) return d;
  if (w->dims.size() > 2 || w->dims[0] != in || w->num_rows() < 1 || w->num_rows() > 65536) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ".weight: expected [", in, ", n_out], got ",
                                                   w->dims.size(), " dims with rows of ", w->dims[0]));
  }
  d.in = in;
  d.out = w->num_rows();
  d.w.resize(static_cast<size_t>(d.in * d.out));
  for (int64_t r = 0; r < d.out; ++r) {
    if (!kernels::DequantizeRow(w->type, w->row(r), d.w.data() + r * in, in)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ".weight: unsupported type for a score head"));
    }
  }
  d.b.assign(static_cast<size_t>(d.out), 0.0f);
  if (const gguf::TensorInfo* b = f.FindTensor(name + ".bias"); b != nullptr) {
    if (b->num_elements() != d.out || b->type != kernels::GgmlType::kF32) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ".bias: expected ", d.out, " f32 values"));
    }
    const float* bv = reinterpret_cast<const float*>(b->data);
    d.b.assign(bv, bv + d.out);
  }
  return d;
}

class GgufRewardBackend final : public RewardBackend {
 public:
  GgufRewardBackend(std::unique_ptr<runtime::Model> model, size_t cache_entries)
      : model_(std::move(model)), evaluator_(*model_, OutputKind::kHidden, cache_entries) {}

  absl::Status Init() {
    const gguf::GgufFile& f = model_->gguf();
    const std::string key = absl::StrCat(model_->config().arch, ".pooling_type");
    if (f.Find(key) != nullptr) {
      auto pooling = f.GetUint32(key);
      if (!pooling.ok()) return pooling.status();
      if (*pooling != kPoolingLast && *pooling != kPoolingRank) {
        return absl::InvalidArgumentError(absl::StrCat(key, " = ", *pooling,
                                                       ": a decoder reward model pools the last token (3 = last, 4 = rank)"));
      }
    }
    const int64_t n_embd = model_->config().n_embd;
    auto dense = LoadDense(f, "cls", n_embd);
    if (!dense.ok()) return dense.status();
    dense_ = std::move(*dense);
    if (dense_.present() && dense_.out != n_embd) {
      return absl::InvalidArgumentError(absl::StrCat("tensor cls.weight: expected ", n_embd, " outputs, got ", dense_.out));
    }
    auto out = LoadDense(f, "cls.output", n_embd);
    if (!out.ok()) return out.status();
    out_ = std::move(*out);
    if (!dense_.present() && !out_.present()) {
      return absl::InvalidArgumentError(absl::StrCat("reward model ", f.path(),
                                                     ": no score head (tensors cls.weight / cls.output.weight)"));
    }
    const auto family = model_->tokenizer().chat_template().family();
    has_template_ = family != tokenizer::ChatTemplateFamily::kNone &&
                    family != tokenizer::ChatTemplateFamily::kUnrecognized;
    return absl::OkStatus();
  }

  int64_t num_labels() const { return out_.present() ? out_.out : dense_.out; }

  std::string_view name() const override { return "gguf"; }
  std::vector<std::string> OptionNames() const override {
    return {"label", "activation", "template", "delimiter", "cache"};
  }
  bool SupportsSteps() const override { return true; }
  EvalStats stats() const override { return evaluator_.stats(); }

  absl::StatusOr<std::vector<float>> Score(const Options& options, std::span<const RewardItem> items) override {
    auto setup = Setup(options, "none");
    if (!setup.ok()) return setup.status();
    static constexpr std::string_view kTemplates[] = {"chat", "raw"};
    auto tmpl = EnumOption(options, "template", has_template_ ? "chat" : "raw", kTemplates);
    if (!tmpl.ok()) return tmpl.status();
    if (*tmpl == "chat" && !has_template_) {
      return absl::InvalidArgumentError("options.template: the reward model has no chat template this runtime renders");
    }
    const tokenizer::Tokenizer& tok = model_->tokenizer();
    std::vector<EvalQuery> queries;
    for (const RewardItem& item : items) {
      EvalQuery q;
      if (*tmpl == "chat") {
        auto t = ChatTokens(item.prompt, item.response);
        if (!t.ok()) return t.status();
        q.tokens = std::move(*t);
      } else {
        q.tokens = tok.Encode(item.prompt, /*add_special=*/true, false);
        std::vector<int32_t> r = tok.Encode(item.response, false, false);
        q.tokens.insert(q.tokens.end(), r.begin(), r.end());
      }
      if (q.tokens.empty()) return absl::InvalidArgumentError("items: prompt and response are both empty");
      q.read_positions = {static_cast<int64_t>(q.tokens.size()) - 1};
      queries.push_back(std::move(q));
    }
    auto scores = evaluator_.Run(queries, setup->reducer, setup->key, setup->cache);
    if (!scores.ok()) return scores.status();
    std::vector<float> out;
    for (const auto& s : *scores) out.push_back(setup->activate(s[0]));
    return out;
  }

  absl::StatusOr<std::vector<float>> ScoreSteps(const Options& options, std::string_view prompt,
                                                std::span<const std::string> steps) override {
    auto setup = Setup(options, "sigmoid");
    if (!setup.ok()) return setup.status();
    if (options.contains("template")) {
      return absl::InvalidArgumentError("options.template: ScoreSteps always uses the raw step layout");
    }
    const std::string delimiter = StringOption(options, "delimiter", "\n\n");
    if (delimiter.empty()) return absl::InvalidArgumentError("options.delimiter: must not be empty");
    const tokenizer::Tokenizer& tok = model_->tokenizer();
    const std::vector<int32_t> delim = tok.Encode(delimiter, false, false);
    EvalQuery q;
    // The reference PRM input (RSD's, Skywork-PRM's): BOS + problem + "\n",
    // then the steps.
    q.tokens = tok.Encode(std::string(prompt) + "\n", /*add_special=*/true, false);
    for (const std::string& step : steps) {
      std::vector<int32_t> t = tok.Encode(step, false, false);
      q.tokens.insert(q.tokens.end(), t.begin(), t.end());
      q.tokens.insert(q.tokens.end(), delim.begin(), delim.end());
      q.read_positions.push_back(static_cast<int64_t>(q.tokens.size()) - 1);
    }
    auto scores = evaluator_.Run(std::span<const EvalQuery>(&q, 1), setup->reducer, setup->key, setup->cache);
    if (!scores.ok()) return scores.status();
    std::vector<float> out;
    for (float s : (*scores)[0]) out.push_back(setup->activate(s));
    return out;
  }

  // The head on one hidden row (exposed for the reference test via Score).
  double Head(std::span<const float> hidden, int64_t label) const {
    std::vector<double> x(hidden.begin(), hidden.end());
    if (dense_.present()) {
      x = dense_.Apply(x);
      for (double& v : x) v = std::tanh(v);
    }
    if (out_.present()) x = out_.Apply(x);
    return x[static_cast<size_t>(label)];
  }

 private:
  struct Setup_ {
    RowReducer reducer;
    std::string key;
    bool cache = true;
    std::function<float(float)> activate;
  };

  absl::StatusOr<Setup_> Setup(const Options& options, const std::string& default_activation) const {
    auto label = IntOption(options, "label", 0, 0, num_labels() - 1);
    if (!label.ok()) return label.status();
    static constexpr std::string_view kActivations[] = {"none", "sigmoid"};
    auto activation = EnumOption(options, "activation", default_activation, kActivations);
    if (!activation.ok()) return activation.status();
    auto cache = BoolOption(options, "cache", true);
    if (!cache.ok()) return cache.status();
    Setup_ s;
    const int64_t l = *label;
    s.reducer = [this, l](std::span<const float> row) { return static_cast<float>(Head(row, l)); };
    s.key = absl::StrCat("label:", l);  // raw head output; the activation is applied after the cache
    s.cache = *cache;
    if (*activation == "sigmoid") {
      s.activate = [](float v) { return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(v)))); };
    } else {
      s.activate = [](float v) { return v; };
    }
    return s;
  }

  absl::StatusOr<std::vector<int32_t>> ChatTokens(const std::string& prompt, const std::string& response) const {
    // Render with markers so that only the template's own text is parsed for
    // special tokens, never the caller's.
    const std::string mp = "\x01tandem-prompt\x01", mr = "\x01tandem-response\x01";
    std::vector<tokenizer::ChatMessage> messages = {{"user", mp}, {"assistant", mr}};
    auto rendered = model_->tokenizer().ApplyChatTemplate(messages, false);
    if (!rendered.ok()) return rendered.status();
    const size_t a = rendered->find(mp), b = rendered->find(mr);
    if (a == std::string::npos || b == std::string::npos || b < a) {
      return absl::InternalError("gguf reward: the chat template dropped a message");
    }
    const tokenizer::Tokenizer& tok = model_->tokenizer();
    std::vector<int32_t> out = tok.Encode(rendered->substr(0, a), true, true);
    auto add = [&](const std::vector<int32_t>& t) { out.insert(out.end(), t.begin(), t.end()); };
    add(tok.Encode(prompt, false, false));
    add(tok.Encode(rendered->substr(a + mp.size(), b - a - mp.size()), false, true));
    add(tok.Encode(response, false, false));
    add(tok.Encode(rendered->substr(b + mr.size()), false, true));
    return out;
  }

  std::unique_ptr<runtime::Model> model_;
  PrefixEvaluator evaluator_;
  Dense dense_, out_;
  bool has_template_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RewardBackend>> MakeGgufRewardBackend(const ModelBackendOptions& options) {
  auto model = LoadBackendModel(options, "gguf reward");
  if (!model.ok()) return model.status();
  auto backend = std::make_unique<GgufRewardBackend>(std::move(*model), options.prefix_cache_entries);
  if (absl::Status s = backend->Init(); !s.ok()) return s;
  return backend;
}

}  // namespace tandem::reward
