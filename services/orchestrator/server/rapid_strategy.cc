#include "services/orchestrator/server/rapid_strategy.h"

#include "absl/strings/str_cat.h"
#include "services/orchestrator/server/strategy_params.h"
#include "services/orchestrator/server/strategy_runner.h"

namespace tandem::orchestrator::server {
namespace {

constexpr char kTargetIntro[] = "Please read the following text and answer the question below.";
constexpr char kDrafterIntro[] = "Please read the following retrieved text chunks and answer the question below.";

}  // namespace

StrategySpec RapidStrategySpec() {
  const RapidOptions d;
  return {"rapid",
          "Retrieval-augmented speculative decoding for long contexts (RAPID): the target reads the "
          "request's whole context, a drafter (the target model itself by default) reads only the chunks "
          "retrieved for the question and proposes gamma tokens, verified with knowledge transfer "
          "(eta > 0 leans the target toward the drafter; eta = 0 is lossless).",
          {{"gamma", "Draft length per round, 1..32 (constant).", absl::StrCat(d.gamma)},
           {"eta", "Knowledge-transfer strength, 0..100; 0 = lossless speculative sampling.",
            absl::StrCat(d.knowledge_transfer.eta)},
           {"alpha_m", "Transfer mask: only tokens with q >= alpha_m * max q are pulled, 0..1; 0 = no mask "
                       "(the paper's form).",
            absl::StrCat(d.knowledge_transfer.alpha_m)},
           {"c_conf", "Drafter confidence stop: end a draft after a token with probability below this, "
                      "0..1 (greedy: the temperature-1 probability); 0 = off.",
            absl::StrCat(d.c_conf)},
           {"chunk_tokens", "Chunk size S in target tokens, 16..8192.", absl::StrCat(d.chunk_tokens)},
           {"theta", "Drop retrieved chunks scoring below this (cosine for dense), -1..1.", absl::StrCat(d.theta)},
           {"l_min", "Minimum retrieved length L_min in tokens, 0..16777216.", absl::StrCat(d.l_min)},
           {"lambda", "Compression: retrieve about max(L_min, L / lambda) tokens of an L-token context, 1..1024.",
            absl::StrCat(d.lambda)},
           {"retrieval", "Retriever: 'dense' (sentence embeddings), 'lexical' (BM25) or 'hybrid'.", "dense"},
           {"collection", "Search this stored collection of the retrieval service instead of chunking the "
                          "request context (the target still reads the context); empty = the context.",
            ""}},
          true};
}

absl::Status ApplyRapidParam(const std::string& key, const std::string& value, StrategyChoice* choice) {
  RapidOptions& o = choice->rapid;
  double x = 0;  // the float options parse through it
  absl::Status s;
  if (key == "gamma") {
    s = ParseIntParam(key, value, 1, kMaxGamma, &o.gamma);
  } else if (key == "eta") {
    if ((s = ParseRealParam(key, value, 0, 100, &x)).ok()) o.knowledge_transfer.eta = static_cast<float>(x);
  } else if (key == "alpha_m") {
    if ((s = ParseRealParam(key, value, 0, 1, &x)).ok()) o.knowledge_transfer.alpha_m = static_cast<float>(x);
  } else if (key == "c_conf") {
    if ((s = ParseRealParam(key, value, 0, 1, &x)).ok()) o.c_conf = static_cast<float>(x);
  } else if (key == "chunk_tokens") {
    s = ParseIntParam(key, value, 16, 8192, &o.chunk_tokens);
  } else if (key == "theta") {
    if ((s = ParseRealParam(key, value, -1, 1, &x)).ok()) o.theta = static_cast<float>(x);
  } else if (key == "l_min") {
    s = ParseInt64Param(key, value, 0, int64_t{1} << 24, &o.l_min);
  } else if (key == "lambda") {
    s = ParseRealParam(key, value, 1, 1024, &o.lambda);
  } else if (key == "retrieval") {
    if (value == "dense") {
      o.mode = RetrievalMode::kDense;
    } else if (value == "lexical") {
      o.mode = RetrievalMode::kLexical;
    } else if (value == "hybrid") {
      o.mode = RetrievalMode::kHybrid;
    } else {
      s = BadParam(key, absl::StrCat("'", value, "' is not a retriever (dense, lexical, hybrid)"));
    }
  } else if (key == "collection") {
    if (value.size() > 128) s = BadParam(key, "at most 128 bytes");
    o.collection = value;
  } else {
    s = BadParam(key, "not a parameter of rapid");
  }
  return s;
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

absl::Status RunRapidStrategy(const StrategyChoice& choice, const GenerationRequest& request,
                              const GenerationPorts& ports, const Vocabulary& vocab,
                              const StreamCallback& on_chunk, GenerationResult* result) {
  if (request.long_context == nullptr) {
    return absl::InvalidArgumentError("context: rapid needs the request's long context and a text question");
  }
  Drafter* drafter = ports.FindDrafter("model");
  if (drafter == nullptr) {
    return absl::FailedPreconditionError(
        "rapid: this deployment has no model drafter (rapid drafts with a model on the retrieved "
        "context; configure a draft model, the target's own for self-speculation)");
  }
  if (ports.retriever == nullptr) {
    return absl::FailedPreconditionError("rapid: this deployment has no retriever configured");
  }
  return RunRapid(request, choice.rapid, *request.long_context, *drafter, *ports.verifier, *ports.retriever,
                  vocab, on_chunk, result);
}

}  // namespace tandem::orchestrator::server
