// All-in-one wiring: the target (and optionally a draft model) loaded in this
// process, behind the same ports the remote wiring implements over gRPC.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/cpu/ggml_types.h"
#include "runtime/backend/backend_factory.h"
#include "decoding/ports/generation_ports.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {

struct InProcessPortsOptions {
  // Bundled model name or GGUF path of the target (runtime::ResolveModelPath).
  std::string target_model = "smollm2-135m";
  // Draft model for the "model" drafter: empty = no model drafter; equal to
  // target_model = share the target's weights and batcher (a valid drafter
  // with ~100 % acceptance, the easiest correctness check).
  std::string draft_model;
  // The draft model's output head covers token ids [0, draft_head_vocab)
  // only (runtime::ModelOptions::head_vocab; 0 = all). Ignored when the
  // draft shares the target's weights.
  int64_t draft_head_vocab = 0;
  // Set: the draft model's matrix weights are re-quantized to this type at
  // load where that makes them smaller (runtime::ModelOptions::requantize).
  // Ignored when the draft shares the target's weights.
  std::optional<kernels::GgmlType> draft_requantize;
  // The deployment's drafter: "ngram", "model" or "" (none). The n-gram
  // drafter is always available to requests that ask for it.
  std::string default_drafter;
  int threads = 0;  // 0 = all cores
  runtime::DeviceKind device = runtime::DeviceKind::kCpu;  // compute backend of the loaded models
  size_t kv_budget_bytes = 512u << 20;
  int64_t max_context = 0;  // 0 = the model's trained length
  // Reward scorer (services/reward's registry; backends load on first use):
  // the judge model (bundled name or GGUF path; empty = target_model) and an
  // optional GGUF reward model with a score head (the `gguf` backend).
  std::string reward_judge_model;
  std::string reward_model;
  // Retriever (services/retrieval's engine over the target's tokenizer,
  // loaded on the first search): the sentence embedder, a bundled name or a
  // model folder (empty = all-minilm-l6-v2), and optionally a retrieval
  // service's data_dir whose collections are then searchable read-only
  // (empty = inline contexts only).
  std::string retrieval_embedder;
  std::string retrieval_data_dir;
  // Display names (ListModels); default: target_model / draft_model.
  std::string target_name, draft_name;
};

absl::StatusOr<std::unique_ptr<GenerationPorts>> BuildInProcessPorts(const InProcessPortsOptions& options);

}  // namespace tandem::orchestrator::server
