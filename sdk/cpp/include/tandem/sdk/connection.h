// How a tandem::Client reaches a deployment: addresses, TLS, bearer token,
// default deadline and the retry policy.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace tandem {

// TLS via grpc::SslCredentials. Files are PEM; they are read once, by
// Client::Connect (a missing file is an error there, not at the first call).
struct TlsOptions {
  // Roots that sign the server's certificate; empty = gRPC's default roots.
  std::string ca_file = {};
  // Client certificate chain and private key for mutual TLS; both or neither.
  std::string cert_file = {};
  std::string key_file = {};
  // Name to verify the server's certificate against when it differs from the
  // address's host (e.g. connecting by IP); empty = the host.
  std::string server_name = {};
};

// Retries of calls that are safe to repeat, when they fail with UNAVAILABLE,
// done by gRPC itself (the channel's service config): exponential backoff
// with jitter, the call's deadline bounding all attempts together.
//
// Safe to retry: GetInfo, ListModels, Score, ScoreSteps, ListRewardBackends,
// Search, GetCollectionStats, ListCollections (reads), and Generate: gRPC
// retries a streaming call only until the server's first response arrives,
// so a generation is never repeated once it has streamed anything, and a
// generation that produced nothing changed nothing on the server. Never
// retried: Abort, CreateCollection, DeleteCollection, AddDocuments (writes).
struct RetryPolicy {
  // Attempts in all, [1, 5] (gRPC caps it at 5); 1 disables retries.
  int max_attempts = 4;
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  double backoff_multiplier = 2.0;
};

struct ConnectionOptions {
  // host:port of the orchestrator (the Generation service).
  std::string address = {};
  // host:port of the Reward and Retrieval services when they listen apart
  // from the orchestrator (a `tandem up` deployment gives each its own
  // port); empty = `address`.
  std::string reward_address = {};
  std::string retrieval_address = {};
  // Unset: plaintext.
  std::optional<TlsOptions> tls = {};
  // Sent as `authorization: Bearer <token>` on every call; empty = none.
  std::string bearer_token = {};
  // Default deadline of every call (a Generate's covers the whole stream);
  // unset = none. Each call's own timeout wins.
  std::optional<std::chrono::milliseconds> timeout = {};
  RetryPolicy retry = {};
  // Largest response accepted (search results and collection listings can
  // exceed gRPC's 4 MiB default).
  int max_receive_bytes = 64 << 20;
};

// Per-call settings of the non-generation calls.
struct CallOptions {
  // Overrides ConnectionOptions::timeout for this call.
  std::optional<std::chrono::milliseconds> timeout = {};
};

}  // namespace tandem
