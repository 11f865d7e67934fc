// The one place that decides how an orchestrator reaches its models: from a
// deployment config entry it builds GenerationPorts either in process
// (all-in-one: models loaded here behind BatchingLanguageModel) or remote
// (RemoteDrafter/RemoteVerifier clients of the config's draft and target
// services). Everything downstream (GenerationService, the strategies) is the
// same code in both cases.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "services/common/deploy_config.h"
#include "decoding/ports/generation_ports.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator::server {

struct RemotePortsOptions {
  std::string target_address;  // host:port of a Target service; required
  std::string draft_address;   // host:port of a Draft service; empty = no model drafter
  // GGUF (name or path) whose tokenizer turns text prompts into ids; it must
  // be the target's model. Only the tokenizer is read, no weights. Empty:
  // token-id prompts only.
  std::string tokenizer_model;
  std::string default_drafter;  // "model", "ngram" or ""
  std::string reward_address;   // host:port of a Reward service; empty = no reward scorer
  std::string retrieval_address;  // host:port of a Retrieval service; empty = no retriever
  // Credentials of every channel to those services (TLS / mutual TLS,
  // services/common/credentials.h); null = plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

// Connects to the services (UNAVAILABLE if one does not answer) and checks
// that draft and target share a vocabulary.
absl::StatusOr<std::unique_ptr<GenerationPorts>> BuildRemotePorts(const RemotePortsOptions& options);

// Ports for the orchestrator entry `orchestrator` of `deployment`.
// all_in_one = false: remote ports to its `target` / `draft` references.
// all_in_one = true: the referenced services' models loaded in this process
// (the target entry's model, threads and KV budget; the draft entry's model
// for drafter: model; the orchestrator's own model when it names no target
// entry of this config).
absl::StatusOr<std::unique_ptr<GenerationPorts>> BuildPortsFromConfig(
    const services::DeploymentConfig& deployment, const services::ServiceConfig& orchestrator,
    bool all_in_one);

}  // namespace tandem::orchestrator::server
