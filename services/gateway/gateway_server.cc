#include "services/gateway/gateway_server.h"

#include <chrono>
#include <csignal>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "services/common/bearer_token.h"
#include "services/gateway/completion_handler.h"
#include "services/gateway/openai_error.h"
#include "services/gateway/openai_response.h"

namespace tandem::gateway {
namespace {

using nlohmann::json;

// Bodies beyond the largest prompt plus the largest context are refused
// (413) before they are parsed.
constexpr size_t kMaxBodyBytes = size_t{16} << 20;

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

json ModelObject(const decoding::ModelDescription& model) {
  return {{"id", model.name}, {"object", "model"}, {"created", 0}, {"owned_by", "tandem"},
          {"context_length", model.context_length}};
}

}  // namespace

HttpGateway::HttpGateway(orchestrator::server::RequestRunner& runner, GatewayOptions options,
                         std::unique_ptr<httplib::Server> server)
    : runner_(runner), options_(std::move(options)), server_(std::move(server)) {}

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(orchestrator::server::RequestRunner& runner,
                                                                GatewayOptions options) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("http_port: must be in [0, 65535], got ", options.port));
  }
  // Debian's cpp-httplib writes without MSG_NOSIGNAL: a client that closed
  // its connection would raise SIGPIPE and kill the process. Ignored, the
  // write fails with EPIPE and the request is cancelled.
  std::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<httplib::Server> server;
  if (options.tls_cert.empty()) {
    server = std::make_unique<httplib::Server>();
  } else {
    auto ssl = std::make_unique<httplib::SSLServer>(
        options.tls_cert.c_str(), options.tls_key.c_str(),
        options.tls_client_ca.empty() ? nullptr : options.tls_client_ca.c_str());
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat("tls: the HTTP gateway cannot use certificate ", options.tls_cert,
                                                     " with key ", options.tls_key,
                                                     options.tls_client_ca.empty() ? "" : " and CA ",
                                                     options.tls_client_ca));
    }
    server = std::move(ssl);
  }
  std::unique_ptr<HttpGateway> g(new HttpGateway(runner, std::move(options), std::move(server)));
  g->Route();
  const std::string& host = g->options_.host;
  if (g->options_.port == 0) {
    g->port_ = g->server_->bind_to_any_port(host);
    if (g->port_ < 0) return absl::UnavailableError(absl::StrCat("http: cannot listen on ", host, ":0"));
  } else {
    if (!g->server_->bind_to_port(host, g->options_.port)) {
      return absl::UnavailableError(absl::StrCat("http: cannot listen on ", host, ":", g->options_.port,
                                                 " (in use, or not an address of this machine)"));
    }
    g->port_ = g->options_.port;
  }
  httplib::Server* listening = g->server_.get();
  g->thread_ = std::thread([listening] { listening->listen_after_bind(); });
  // httplib's stop() only stops a loop that is already running: a gateway
  // destroyed before its thread entered the loop would leave the thread
  // blocked in accept() forever. Return once the loop runs.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!listening->is_running()) {
    if (std::chrono::steady_clock::now() > give_up) {
      return absl::InternalError(absl::StrCat("http: the listener on ", host, ":", g->port_, " did not start"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return g;
}

HttpGateway::~HttpGateway() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string HttpGateway::url() const {
  return absl::StrCat(options_.tls_cert.empty() ? "http://" : "https://", options_.host, ":", port_);
}

std::string HttpGateway::description() const { return absl::StrCat("OpenAI-compatible HTTP on ", url(), "/v1"); }

void HttpGateway::Route() {
  const size_t threads = static_cast<size_t>(options_.threads > 0 ? options_.threads : 1);
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(kMaxBodyBytes);
  orchestrator::server::RequestRunner& runner = runner_;
  if (!options_.bearer_token.empty()) {
    server_->set_pre_routing_handler([token = options_.bearer_token](const httplib::Request& req,
                                                                     httplib::Response& res) {
      if (req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
      absl::Status s = services::CheckBearerToken(req.get_header_value("Authorization"), token);
      if (s.ok()) return httplib::Server::HandlerResponse::Unhandled;
      const HttpError e = MakeHttpError(401, std::string(s.message()), "authentication_error", "invalid_api_key");
      SendJson(res, e.status, e.body);
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  server_->Post("/v1/chat/completions", [&runner](const httplib::Request& req, httplib::Response& res) {
    HandleCompletion(runner, Endpoint::kChatCompletions, req, res);
  });
  server_->Post("/v1/completions", [&runner](const httplib::Request& req, httplib::Response& res) {
    HandleCompletion(runner, Endpoint::kCompletions, req, res);
  });
  server_->Get("/v1/models", [&runner](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, {{"object", "list"}, {"data", json::array({ModelObject(runner.ports().target)})}});
  });
  server_->Get(R"(/v1/models/(.+))", [&runner](const httplib::Request& req, httplib::Response& res) {
    const decoding::ModelDescription& target = runner.ports().target;
    if (req.matches[1] != target.name) {
      const HttpError e = MakeHttpError(404, absl::StrCat("model '", req.matches[1].str().substr(0, 128),
                                                          "' does not exist (available: ", target.name, ")"),
                                        "invalid_request_error", "model_not_found");
      return SendJson(res, e.status, e.body);
    }
    SendJson(res, 200, ModelObject(target));
  });
  server_->Get("/health", [&runner](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, {{"status", "ok"}, {"active_requests", runner.active_requests()}});
  });
  // Unknown routes (and errors httplib answers itself: 413, 400 on a bad
  // request line) get an OpenAI error body too.
  server_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string message = res.status == 404 ? absl::StrCat("no route ", req.method, " ", req.path.substr(0, 256))
                                                  : absl::StrCat("HTTP ", res.status);
    const HttpError e = MakeHttpError(res.status, message, res.status >= 500 ? "server_error" : "invalid_request_error",
                                      res.status == 404 ? "not_found" : "");
    res.set_content(DumpJson(e.body), "application/json");
  });
  server_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    const HttpError e = MakeHttpError(500, what, "server_error", "");
    SendJson(res, e.status, e.body);
  });
}

}  // namespace tandem::gateway
