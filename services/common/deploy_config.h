// Deployment config: one YAML file describes every service of a deployment
// (`tandem up CONFIG` starts them; each service binary reads its own entry).
//
//   name: local                      # deployment name (required)
//   model_dir: ~/.cache/tandem/models  # optional; default $TANDEM_MODEL_DIR or that
//   log_dir: /tmp/tandem-local       # optional; where `tandem up` writes logs
//   tls:                             # optional; TLS for every service (docs/security.md)
//     cert: certs/server.crt         # PEM certificate chain: served, and shown to peers under mTLS
//     key: certs/server.key          # PEM private key of cert
//     ca: certs/ca.crt               # PEM CA bundle that verifies peers
//     require_client_cert: true      # mutual TLS: servers refuse clients without a cert of ca
//   auth:                            # optional; bearer token of the public API (needs tls)
//     token_file: /etc/tandem/token  # file holding the token; or
//     token_env: TANDEM_API_TOKEN    # environment variable holding it (exactly one of the two)
//   services:
//     - name: target                 # unique, [a-z0-9_-]{1,64}
//       role: target                 # draft | target | orchestrator | reward | retrieval
//       model: smollm2-135m          # catalog name (scripts/models.tsv); or model_path
//       model_path: /path/to.gguf    # optional explicit file, wins over model
//       host: 127.0.0.1              # default 127.0.0.1
//       grpc_port: 50052             # required, 1..65535
//       metrics_port: 9102           # 0/absent = no /metrics endpoint, else 1..65535
//       threads: 2                   # compute threads, 0 = all cores (default)
//       drain_grace_s: 20            # on SIGTERM, in-flight calls get this long to finish (default 20)
//       device: cpu                  # compute backend: cpu (default) | cuda | auto (models of draft, target, reward)
//       kv_budget_mb: 512            # KV memory for all sessions, default 512
//       session_idle_timeout_s: 300  # idle sessions are closed after this, default 300
//       max_sessions: 256            # default 256
//       head_vocab: 65536            # draft only: logits for token ids below this only, a cheaper
//                                    # draft step (lossless for speculative; draft_only and RSD
//                                    # then draw from ids below it: docs/algorithms.md 6.3); 0/absent = all
//       requantize: q4_0             # draft only: q4_0 | q8_0, matrix weights re-quantized at load where
//                                    # that makes them smaller (docs/algorithms.md 6.4); absent = as stored
//       tls: {...}                   # optional; replaces the top-level tls block for this service
//       tensor_parallel:             # optional, target only: one rank of a sharded target (docs/gpu.md)
//         world_size: 2              # ranks (one per GPU), 1..1024
//         rank: 0                    # this process' rank; absent = $TANDEM_TP_RANK at start
//         rendezvous: target-0.peers:50060  # rank 0's rendezvous host:port (rank 0 listens on host:that port)
//         timeout_s: 600             # the whole group must form within this, default 600
//     - name: orchestrator
//       role: orchestrator
//       drafter: ngram               # model | ngram | none (orchestrator only, default none)
//       draft: draft                 # draft service: a name in this file or host:port (drafter: model)
//       target: target               # target service: a name in this file or host:port (required)
//       default_strategy: speculative  # default: speculative with a drafter, else target_only
//       http_port: 8000              # OpenAI-compatible HTTP API on host:http_port; 0/absent = off
//       retrieval: retrieval         # retrieval service: a name in this file or host:port (optional)
//       reward: reward               # reward service: a name in this file or host:port (optional)
//       max_running_requests: 8      # admission control (docs/resilience.md): requests running at
//                                    # once, 0 = no limit (default)
//       max_queued_requests: 32      # requests waiting for a slot beyond that (default 0: refuse)
//       queue_timeout_s: 30          # a queued request gives up after this (default 30)
//       retry_after_ms: 1000         # the retry-after-ms hint of RESOURCE_EXHAUSTED (default 1000)
//       grpc_port: 50051
//     - name: retrieval
//       role: retrieval
//       model: smollm2-135m          # the target model: its tokenizer sizes the chunks
//       embedder: all-minilm-l6-v2   # sentence embedder: bundled name or model folder (default)
//       data_dir: /var/lib/tandem/retrieval  # collections; absent = in memory only
//       grpc_port: 50054
//     - name: reward
//       role: reward
//       model: smollm2-135m          # the judge model (backend judge)
//       reward_model: /path/rm.gguf  # optional GGUF reward model with a score head (backend gguf)
//       grpc_port: 50055
//
// Unknown keys are errors (a typo must not silently fall back to a default).
// Every error names the source, line and field: "local.yaml:7: services[0].grpc_port: ...".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/cpu/ggml_types.h"
#include "runtime/backend/backend_factory.h"
#include "absl/status/statusor.h"

namespace tandem::services {

enum class ServiceRole { kDraft, kTarget, kOrchestrator, kReward, kRetrieval };
enum class DrafterKind { kNone, kModel, kNgram };

std::string_view ServiceRoleName(ServiceRole role);
std::string_view DrafterKindName(DrafterKind kind);

// TLS of a service: its server certificate, and the client certificate it
// shows other services under mutual TLS. Relative paths are relative to the
// config file's folder.
struct TlsConfig {
  std::string cert;  // PEM certificate chain
  std::string key;   // PEM private key of cert
  std::string ca;    // PEM CA bundle that verifies peers
  bool require_client_cert = false;  // servers refuse clients without a cert signed by ca
};

// Bearer-token auth of the public API (the Generation service). The token
// itself is never stored in the config: it is read at startup from a file
// or an environment variable (services/common/bearer_token.h).
struct AuthConfig {
  std::string token_file;
  std::string token_env;
  bool enabled() const { return !token_file.empty() || !token_env.empty(); }
};

// Tensor parallelism of a target (services/parallel/bootstrap.h).
struct TensorParallelConfig {
  int world_size = 1;
  int rank = -1;           // -1 = read $TANDEM_TP_RANK when the service starts
  std::string rendezvous;  // host:port of rank 0's rendezvous
  int64_t timeout_s = 600;
  int line = 0;
};

struct ServiceConfig {
  std::string name;
  ServiceRole role = ServiceRole::kTarget;
  std::string model;       // catalog name; empty for the orchestrator
  std::string model_path;  // explicit GGUF path; empty = resolve `model` in model_dir
  std::string host = "127.0.0.1";
  int grpc_port = 0;
  int metrics_port = 0;  // 0 = no metrics endpoint
  int threads = 0;       // 0 = all cores
  // On SIGTERM: seconds in-flight calls may take to finish before they are
  // cancelled (below Kubernetes' terminationGracePeriodSeconds, 30 by default).
  int64_t drain_grace_s = 20;
  runtime::DeviceKind device = runtime::DeviceKind::kCpu;  // backend of the service's models
  int64_t kv_budget_mb = 512;
  int64_t session_idle_timeout_s = 300;
  int64_t max_sessions = 256;
  // Draft only: the model's output head covers token ids [0, head_vocab)
  // (runtime::ModelOptions::head_vocab); 0 = the whole vocabulary.
  int64_t head_vocab = 0;
  // Draft only: the model's matrix weights re-quantized to this type at load
  // where that makes them smaller (runtime::ModelOptions::requantize).
  std::optional<kernels::GgmlType> requantize;
  // Orchestrator only.
  DrafterKind drafter = DrafterKind::kNone;
  std::string draft;   // as written: service name or host:port
  std::string target;  // as written: service name or host:port
  std::string default_strategy;
  std::string retrieval;  // as written: service name or host:port; empty = none
  std::string reward;     // as written: service name or host:port; empty = none
  int64_t max_running_requests = 0;  // admission control; 0 = no limit
  int64_t max_queued_requests = 0;   // waiting for a slot; 0 = refuse when all run
  int64_t queue_timeout_s = 30;
  int64_t retry_after_ms = 1000;     // hint sent with RESOURCE_EXHAUSTED
  int http_port = 0;      // OpenAI-compatible HTTP gateway (services/gateway/); 0 = off
  // Retrieval only.
  std::string embedder;   // bundled embedder name or folder; empty = the default
  std::string data_dir;   // empty = collections in memory only
  // Reward only.
  std::string reward_model;  // GGUF reward model path; empty = no gguf backend
  std::optional<TlsConfig> tls;  // this service's own tls block, if any
  // Target only; absent = one process holds the whole model.
  std::optional<TensorParallelConfig> tensor_parallel;
  int line = 0;  // 1-based line of this entry in the file

  std::string grpc_address() const;     // host:grpc_port
  std::string metrics_address() const;  // host:metrics_port, empty when disabled
  std::string http_address() const;     // host:http_port, empty when disabled
};

struct DeploymentConfig {
  std::string name;
  std::string model_dir;
  std::string log_dir;
  std::optional<TlsConfig> tls;  // top-level tls block; absent = plaintext
  AuthConfig auth;
  std::vector<ServiceConfig> services;

  // The TLS settings of `service`: its own block, else the top-level one;
  // nullptr = plaintext.
  const TlsConfig* TlsFor(const ServiceConfig& service) const;
  // nullptr if absent.
  const ServiceConfig* Find(std::string_view service_name) const;
  // A `draft`/`target` reference: a service name of this config becomes its
  // host:grpc_port; anything with a ':' is already an address.
  absl::StatusOr<std::string> ResolveAddress(std::string_view reference) const;
};

// Parses and validates. `source` names the file in error messages.
absl::StatusOr<DeploymentConfig> ParseDeploymentConfig(std::string_view yaml_text,
                                                       std::string_view source = "<config>");
// Reads `path` and parses it (NOT_FOUND if unreadable).
absl::StatusOr<DeploymentConfig> LoadDeploymentConfig(const std::string& path);

}  // namespace tandem::services
