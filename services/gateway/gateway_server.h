// The OpenAI-compatible HTTP gateway of an orchestrator:
//   POST /v1/chat/completions, POST /v1/completions (JSON, or server-sent
//        events with "stream": true)
//   GET  /v1/models, /v1/models/{id}, /health
// over cpp-httplib. A request body becomes a decoding::DecodeRequest
// (openai_request.h), goes through the shared PrepareRequest and runs on the
// orchestrator's RequestRunner, the same path as the gRPC Generation service
// (so Abort, metrics and request ids cover both). A streaming client that
// disconnects is noticed at the next chunk that cannot be written; the
// request is then cancelled and its sessions closed.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "services/orchestrator/server/front_end.h"
#include "services/orchestrator/server/request_runner.h"

namespace httplib {
class Server;
}

namespace tandem::gateway {

struct GatewayOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port
  // Connections served at once; a streaming request holds one for its whole
  // generation, more wait for a free one.
  int threads = 32;
  // Non-empty: /v1/ routes require "Authorization: Bearer <token>" (the
  // deployment's auth block, as the gRPC API); /health stays open.
  std::string bearer_token;
  // Non-empty: HTTPS with this PEM certificate chain and key (the
  // orchestrator's tls block); with tls_client_ca, clients must show a
  // certificate signed by it (mutual TLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
};

class HttpGateway final : public orchestrator::server::FrontEnd {
 public:
  // Listening when this returns. `runner` must outlive the gateway.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(orchestrator::server::RequestRunner& runner,
                                                           GatewayOptions options);
  // Stops accepting connections and waits for the requests in flight.
  ~HttpGateway() override;

  int port() const { return port_; }
  // "http://HOST:PORT" or "https://HOST:PORT".
  std::string url() const;
  std::string description() const override;

 private:
  HttpGateway(orchestrator::server::RequestRunner& runner, GatewayOptions options,
              std::unique_ptr<httplib::Server> server);
  void Route();

  orchestrator::server::RequestRunner& runner_;
  GatewayOptions options_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace tandem::gateway
