#include "decoding/strategies/rapid/rapid_strategy.h"

#include "absl/strings/str_cat.h"
#include "decoding/registry/strategy_params.h"
#include "decoding/request/prompt_encoding.h"

namespace tandem::decoding {
namespace {

constexpr char kTargetIntro[] = "Please read the following text and answer the question below.";
constexpr char kDrafterIntro[] = "Please read the following retrieved text chunks and answer the question below.";

}  // namespace

const StrategyDefinition& RapidStrategy() {
  using O = RapidOptions;
  static const StrategyDefinition& definition = DefineStrategy<O>({
      .name = "rapid",
      .description =
          "Retrieval-augmented speculative decoding for long contexts (RAPID): the target reads the "
          "request's whole context, a drafter (the target model itself by default) reads only the chunks "
          "retrieved for the question and proposes gamma tokens, verified with knowledge transfer "
          "(eta > 0 leans the target toward the drafter; eta = 0 is lossless).",
      .params =
          ParamTable<O>()
              .Int("gamma", 1, spec::kMaxGamma, [](O& o) -> int& { return o.gamma; },
                   "Draft length per round (constant).")
              .Real("eta", 0, 100, [](O& o) -> float& { return o.knowledge_transfer.eta; },
                    "Knowledge-transfer strength; 0 = lossless speculative sampling.")
              .Real("alpha_m", 0, 1, [](O& o) -> float& { return o.knowledge_transfer.alpha_m; },
                    "Transfer mask: only tokens with q >= alpha_m * max q are pulled; 0 = no mask (the paper's "
                    "form).")
              .Real("c_conf", 0, 1, [](O& o) -> float& { return o.c_conf; },
                    "Drafter confidence stop: end a draft after a token with probability below this (greedy: "
                    "the temperature-1 probability); 0 = off.")
              .Int("chunk_tokens", 16, 8192, [](O& o) -> int& { return o.chunk_tokens; },
                   "Chunk size S in target tokens.")
              .Real("theta", -1, 1, [](O& o) -> float& { return o.theta; },
                    "Drop retrieved chunks scoring below this (cosine for dense).")
              .Int("l_min", 0, int64_t{1} << 24, [](O& o) -> int64_t& { return o.l_min; },
                   "Minimum retrieved length L_min in tokens.")
              .Real("lambda", 1, 1024, [](O& o) -> double& { return o.lambda; },
                    "Compression: retrieve about max(L_min, L / lambda) tokens of an L-token context.")
              .Choice("retrieval", {"dense", "lexical", "hybrid"}, "dense",
                      [](const std::string& v, O& o) {
                        o.mode = v == "dense"     ? RetrievalMode::kDense
                                 : v == "lexical" ? RetrievalMode::kLexical
                                                  : RetrievalMode::kHybrid;
                      },
                      "Retriever: 'dense' (sentence embeddings), 'lexical' (BM25) or 'hybrid'.")
              .Text("collection", "",
                    [](const std::string& key, const std::string& value, O& o) -> absl::Status {
                      if (value.size() > 128) return BadParam(key, "at most 128 bytes");
                      o.collection = value;
                      return absl::OkStatus();
                    },
                    "Search this stored collection of the retrieval service instead of chunking the request "
                    "context (the target still reads the context); empty = the context."),
      .finish = nullptr,
      .needs = [](const O&) { return PortNeeds{.draft_model = true, .retriever = true, .long_context = true}; },
      .stats = spec::kStatsSpeculation | spec::kStatsRetrieval,
      .run = [](const O& o, const StrategyCall& c) -> absl::Status {
        if (c.request.long_context == nullptr) {
          return absl::InvalidArgumentError("context: rapid needs the request's long context and a text question");
        }
        Drafter* drafter = c.ports.FindDrafter("model");
        if (drafter == nullptr) {
          return absl::FailedPreconditionError(
              "rapid: this deployment has no model drafter (rapid drafts with a model on the retrieved "
              "context; configure a draft model, the target's own for self-speculation)");
        }
        if (c.ports.retriever == nullptr) {
          return absl::FailedPreconditionError("rapid: this deployment has no retriever configured");
        }
        return RunRapid(c.request, o, *c.request.long_context, *drafter, *c.ports.verifier, *c.ports.retriever,
                        c.vocab, c.on_chunk, c.result);
      },
  });
  return definition;
}

std::string RenderRapidTemplate(std::string_view context, std::string_view question, bool retrieved) {
  return absl::StrCat(retrieved ? kDrafterIntro : kTargetIntro, "\n\n<text>\n",
                      absl::string_view(context.data(), context.size()), "\n</text>\n\n",
                      absl::string_view(question.data(), question.size()));
}

absl::StatusOr<std::shared_ptr<const LongContextInput>> MakeLongContextInput(
    const tokenizer::Tokenizer& tokenizer, QuestionInput question, std::string context, int64_t context_window) {
  auto in = std::make_shared<LongContextInput>();
  const bool chat = !question.messages.empty();
  int user = -1;
  if (chat) {
    for (int i = static_cast<int>(question.messages.size()) - 1; i >= 0 && user < 0; --i) {
      if (question.messages[i].role == "user") user = i;
    }
    if (user < 0) return absl::InvalidArgumentError("messages: rapid needs a user message (the question)");
    in->question = question.messages[user].content;
  } else {
    in->question = question.prompt;
  }
  if (in->question.empty()) return absl::InvalidArgumentError("prompt: rapid needs a non-empty question");
  if (context.empty()) {
    return absl::InvalidArgumentError("context: rapid needs the long context the target reads (empty)");
  }
  in->context = std::move(context);
  in->context_window = context_window;
  // The renderer keeps what it needs by value: the request may outlive the
  // translation step that built it.
  const std::string q = in->question;
  const tokenizer::Tokenizer* tok = &tokenizer;
  if (chat) {
    auto messages = std::make_shared<std::vector<tokenizer::ChatMessage>>(std::move(question.messages));
    in->render = [tok, messages, user, q](std::string_view ctx, bool retrieved) {
      std::vector<tokenizer::ChatMessage> m = *messages;
      m[user].content = RenderRapidTemplate(ctx, q, retrieved);
      return EncodeChat(*tok, m, "messages");
    };
  } else {
    in->render = [tok, q](std::string_view ctx, bool retrieved) {
      return EncodePrompt(*tok, RenderRapidTemplate(ctx, q, retrieved), "prompt");
    };
  }
  in->count_tokens = [tok](std::string_view text) {
    return static_cast<int64_t>(tok->Encode(text, /*add_special=*/false, /*parse_special=*/false).size());
  };
  return std::shared_ptr<const LongContextInput>(std::move(in));
}

}  // namespace tandem::decoding
