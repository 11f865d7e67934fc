// Everything a strategy needs from a deployment, behind the ports: the target
// (Verifier), the available drafters, the target's vocabulary and, for text
// prompts, its tokenizer. The in-process factory (all-in-one) and the remote
// factory (Draft/Target over gRPC) both produce this object, and the strategy
// code that consumes it is the same for both.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/tokenizer.h"
#include "decoding/ports/drafter.h"
#include "decoding/ports/retriever.h"
#include "decoding/ports/reward_scorer.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"
#include "decoding/spec/gamma_controller.h"

namespace tandem::decoding {

struct ModelDescription {
  std::string name;  // what clients put in GenerateRequest.model
  std::string arch;
  int32_t vocab_size = 0;
  int64_t context_length = 0;
  int32_t eos_token_id = -1;
  std::string role;  // "target", "draft", or "" in process
  int64_t parameters = 0;  // weights (GGUF tensor elements), for FLOPs estimates; 0 = unknown
};

// Port objects for one request. Remote ports bind every RPC of a request to a
// scope that Cancel() aborts at once (Abort RPC, client disconnect), instead
// of waiting for the call in flight to return.
class RequestPorts {
 public:
  virtual ~RequestPorts() = default;
  // Thread-safe; idempotent.
  virtual void Cancel() {}
  // The request's deadline (the client's): remote ports cap every call by
  // it, so a late request ends its service calls with DEADLINE_EXCEEDED.
  // In-process ports have no calls to bound (cancellation stops them).
  virtual void SetDeadline(std::chrono::system_clock::time_point deadline) {}
  Verifier* verifier = nullptr;
  std::map<std::string, Drafter*> drafters;
  RewardScorer* reward = nullptr;  // null: the shared GenerationPorts::reward
  Retriever* retriever = nullptr;  // null: the shared GenerationPorts::retriever
};

struct GenerationPorts {
  Verifier* verifier = nullptr;                 // the target; required
  std::map<std::string, Drafter*> drafters;     // by name: "ngram", "model"
  std::string default_drafter;                  // configured drafter, "" = none
  const Vocabulary* vocabulary = nullptr;       // the target's; required
  const tokenizer::Tokenizer* tokenizer = nullptr;  // null: text prompts are rejected
  // Reward models (services/reward's registry in process, the Reward service
  // remotely); null: reward-guided strategies answer FAILED_PRECONDITION.
  RewardScorer* reward = nullptr;
  // Retrieval over a request's long context or a stored collection
  // (services/retrieval's engine in process, the Retrieval service
  // remotely); null: retrieval-backed strategies answer FAILED_PRECONDITION.
  Retriever* retriever = nullptr;
  ModelDescription target;
  std::vector<ModelDescription> drafts;
  // Measured draft/verify costs and target load, shared by the deployment's
  // requests (adaptive gamma, spec/gamma_controller.h); null: per request.
  std::shared_ptr<spec::SpeculationCosts> speculation_costs;
  // The model drafter computes on the target's processors (all-in-one, or
  // both services on one host): adaptive gamma then counts drafting time as
  // holding up the target's whole batch (spec/gamma_controller.h).
  bool draft_shares_compute = false;
  std::string mode;  // "all-in-one" or "remote"
  int target_threads = 0;  // compute threads of an in-process target, 0 = remote

  // Optional: makes per-request port objects (replacing verifier/drafters
  // for that request). Null: the shared ones above serve every request.
  std::function<absl::StatusOr<std::unique_ptr<RequestPorts>>()> per_request;

  // Owns whatever the pointers above point into (models, adapters, clients),
  // released in reverse order of insertion.
  std::vector<std::shared_ptr<void>> owned;

  GenerationPorts() = default;
  GenerationPorts(const GenerationPorts&) = delete;
  GenerationPorts& operator=(const GenerationPorts&) = delete;
  ~GenerationPorts() {
    while (!owned.empty()) owned.pop_back();
  }

  Drafter* FindDrafter(const std::string& name) const {
    auto it = drafters.find(name);
    return it == drafters.end() ? nullptr : it->second;
  }
};

}  // namespace tandem::decoding
