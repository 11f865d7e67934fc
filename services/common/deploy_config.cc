#include "services/common/deploy_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/cpu/quantize.h"
#include "runtime/util/absl_compat.h"

namespace tandem::services {
namespace {

constexpr absl::string_view kStrategies[] = {"target_only", "speculative", "draft_only", "rapid",
                                            "rsd",         "cards",       "best_of_n",  "args"};

// yaml-cpp throws; this parser catches everything at the boundary and turns
// it into absl::Status with the line of the offending node.
class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  absl::Status Error(const YAML::Node& node, std::string_view field, std::string_view what) const {
    const YAML::Mark mark = node.Mark();
    const std::string where =
        mark.line >= 0 ? absl::StrCat(source_, ":", mark.line + 1) : std::string(source_);
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", AbslView(field), ": ", AbslView(what)));
  }

  absl::Status CheckKeys(const YAML::Node& map, std::string_view field,
                         std::initializer_list<std::string_view> allowed) const {
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) return Error(kv.first, field, "keys must be plain strings");
      const std::string key = kv.first.Scalar();
      bool ok = false;
      for (std::string_view a : allowed) ok = ok || key == a;
      std::vector<absl::string_view> names;
      for (std::string_view a : allowed) names.push_back(AbslView(a));
      if (!ok) {
        return Error(kv.first, absl::StrCat(AbslView(field), field.empty() ? "" : ".", key),
                     absl::StrCat("unknown key (allowed: ", absl::StrJoin(names, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  // Optional string; leaves `out` unchanged when absent.
  absl::Status String(const YAML::Node& map, const char* key, const std::string& field,
                      std::string* out) const {
    const YAML::Node n = map[key];
    if (!n) return absl::OkStatus();
    if (!n.IsScalar()) return Error(n, field, "must be a string");
    *out = n.Scalar();
    return absl::OkStatus();
  }

  // Optional boolean; leaves `out` unchanged when absent.
  absl::Status Bool(const YAML::Node& map, const char* key, const std::string& field, bool* out) const {
    const YAML::Node n = map[key];
    if (!n) return absl::OkStatus();
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) return Error(n, field, "must be true or false");
    *out = v;
    return absl::OkStatus();
  }

  // Optional integer in [lo, hi]; leaves `out` unchanged when absent.
  template <typename Int>
  absl::Status Integer(const YAML::Node& map, const char* key, const std::string& field, int64_t lo,
                       int64_t hi, Int* out) const {
    const YAML::Node n = map[key];
    if (!n) return absl::OkStatus();
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) {
      return Error(n, field, absl::StrCat("must be an integer, got '", n.IsScalar() ? n.Scalar() : "<non-scalar>", "'"));
    }
    if (v < lo || v > hi) {
      return Error(n, field, absl::StrCat("must be in [", lo, ", ", hi, "], got ", v));
    }
    *out = static_cast<Int>(v);
    return absl::OkStatus();
  }

 private:
  std::string source_;
};

std::string ExpandHome(std::string path) {
  if (!path.empty() && path[0] == '~' && (path.size() == 1 || path[1] == '/')) {
    const char* home = std::getenv("HOME");
    if (home != nullptr) path = absl::StrCat(home, path.substr(1));
  }
  return path;
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

#define TANDEM_RETURN_IF_ERROR(expr)   \
  do {                                 \
    absl::Status _s = (expr);          \
    if (!_s.ok()) return _s;           \
  } while (0)

// A tls block: cert, key and ca are all required, because every service is
// both a server (cert, key) and a client of its peers (ca; cert and key
// again under mutual TLS).
absl::StatusOr<TlsConfig> ParseTls(const Parser& p, const YAML::Node& node, const std::string& f) {
  if (!node.IsMap()) return p.Error(node, f, "must be a mapping with cert, key and ca");
  TANDEM_RETURN_IF_ERROR(p.CheckKeys(node, f, {"cert", "key", "ca", "require_client_cert"}));
  TlsConfig tls;
  for (auto [key, out] : {std::pair<const char*, std::string*>{"cert", &tls.cert}, {"key", &tls.key}, {"ca", &tls.ca}}) {
    const std::string field = absl::StrCat(f, ".", key);
    if (!node[key]) return p.Error(node, field, "is required");
    TANDEM_RETURN_IF_ERROR(p.String(node, key, field, out));
    if (out->empty()) return p.Error(node[key], field, "must be a file path");
    *out = ExpandHome(*out);
  }
  TANDEM_RETURN_IF_ERROR(p.Bool(node, "require_client_cert", f + ".require_client_cert", &tls.require_client_cert));
  return tls;
}

// A target's tensor_parallel block. The rendezvous address must carry a port
// because rank 0 listens on it and the other ranks dial it.
absl::StatusOr<TensorParallelConfig> ParseTensorParallel(const Parser& p, const YAML::Node& node,
                                                         const std::string& f) {
  if (!node.IsMap()) return p.Error(node, f, "must be a mapping with world_size and rendezvous");
  TANDEM_RETURN_IF_ERROR(p.CheckKeys(node, f, {"world_size", "rank", "rendezvous", "timeout_s"}));
  TensorParallelConfig tp;
  tp.line = node.Mark().line + 1;
  if (!node["world_size"]) return p.Error(node, f + ".world_size", "is required");
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "world_size", f + ".world_size", 1, 1024, &tp.world_size));
  if (node["rank"]) {
    TANDEM_RETURN_IF_ERROR(p.Integer(node, "rank", f + ".rank", 0, tp.world_size - 1, &tp.rank));
  }
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "timeout_s", f + ".timeout_s", 1, 86400, &tp.timeout_s));
  TANDEM_RETURN_IF_ERROR(p.String(node, "rendezvous", f + ".rendezvous", &tp.rendezvous));
  if (tp.world_size > 1) {
    const size_t colon = tp.rendezvous.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(AbslView(std::string_view(tp.rendezvous).substr(colon + 1)), &port) || port < 1 || port > 65535) {
      return p.Error(node["rendezvous"] ? node["rendezvous"] : node, f + ".rendezvous",
                     "must be host:port of rank 0's rendezvous when world_size > 1");
    }
  }
  return tp;
}

absl::Status ParseService(const Parser& p, const YAML::Node& node, const std::string& f,
                          ServiceConfig* s) {
  if (!node.IsMap()) return p.Error(node, f, "must be a mapping");
  TANDEM_RETURN_IF_ERROR(p.CheckKeys(node, f,
                                     {"name", "role", "model", "model_path", "host", "grpc_port",
                                      "metrics_port", "threads", "device", "kv_budget_mb",
                                      "session_idle_timeout_s", "max_sessions", "drafter", "draft",
                                      "target", "default_strategy", "retrieval", "embedder", "data_dir", "http_port",
                                      "reward", "reward_model", "tls", "max_running_requests",
                                      "max_queued_requests", "queue_timeout_s", "retry_after_ms", "tensor_parallel",
                                      "drain_grace_s", "head_vocab", "requantize"}));
  s->line = node.Mark().line + 1;
  if (!node["name"]) return p.Error(node, f + ".name", "is required");
  TANDEM_RETURN_IF_ERROR(p.String(node, "name", f + ".name", &s->name));
  if (!ValidName(s->name)) {
    return p.Error(node["name"], f + ".name", "must be 1..64 characters of [a-z0-9_-]");
  }
  if (!node["role"]) return p.Error(node, f + ".role", "is required");
  std::string role;
  TANDEM_RETURN_IF_ERROR(p.String(node, "role", f + ".role", &role));
  if (role == "draft") s->role = ServiceRole::kDraft;
  else if (role == "target") s->role = ServiceRole::kTarget;
  else if (role == "orchestrator") s->role = ServiceRole::kOrchestrator;
  else if (role == "reward") s->role = ServiceRole::kReward;
  else if (role == "retrieval") s->role = ServiceRole::kRetrieval;
  else {
    return p.Error(node["role"], f + ".role",
                   absl::StrCat("unknown role '", role, "' (draft, target, orchestrator, reward, retrieval)"));
  }
  TANDEM_RETURN_IF_ERROR(p.String(node, "model", f + ".model", &s->model));
  TANDEM_RETURN_IF_ERROR(p.String(node, "model_path", f + ".model_path", &s->model_path));
  s->model_path = ExpandHome(s->model_path);
  TANDEM_RETURN_IF_ERROR(p.String(node, "host", f + ".host", &s->host));
  if (s->host.empty() || s->host.find_first_of(" \t/") != std::string::npos) {
    return p.Error(node["host"], f + ".host", "must be a host name or IP address");
  }
  if (!node["grpc_port"]) return p.Error(node, f + ".grpc_port", "is required");
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "grpc_port", f + ".grpc_port", 1, 65535, &s->grpc_port));
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "metrics_port", f + ".metrics_port", 0, 65535, &s->metrics_port));
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "threads", f + ".threads", 0, 1024, &s->threads));
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "drain_grace_s", f + ".drain_grace_s", 0, 3600, &s->drain_grace_s));
  if (node["device"]) {
    std::string device;
    TANDEM_RETURN_IF_ERROR(p.String(node, "device", f + ".device", &device));
    auto kind = runtime::ParseDeviceKind(device);
    if (!kind.ok()) return p.Error(node["device"], f + ".device", std::string(kind.status().message()));
    s->device = *kind;
  }
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "kv_budget_mb", f + ".kv_budget_mb", 1, int64_t{1} << 20, &s->kv_budget_mb));
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "session_idle_timeout_s", f + ".session_idle_timeout_s", 1, 86400,
                                   &s->session_idle_timeout_s));
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "max_sessions", f + ".max_sessions", 1, 1000000, &s->max_sessions));
  // A truncated vocabulary or coarser weights would change what a target (or
  // judge) generates; a drafter's only change what it proposes.
  for (const char* key : {"head_vocab", "requantize"}) {
    if (s->role != ServiceRole::kDraft && node[key]) {
      return p.Error(node[key], absl::StrCat(f, ".", key), "is only valid for role: draft");
    }
  }
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "head_vocab", f + ".head_vocab", 0, int64_t{1} << 31, &s->head_vocab));
  if (node["requantize"]) {
    std::string name;
    TANDEM_RETURN_IF_ERROR(p.String(node, "requantize", f + ".requantize", &name));
    kernels::GgmlType type;
    if (!kernels::QuantizeTypeFromName(name, &type)) {
      return p.Error(node["requantize"], f + ".requantize", absl::StrCat("must be ", kernels::kQuantizeTypeNames));
    }
    s->requantize = type;
  }
  if (node["tls"]) {
    auto tls = ParseTls(p, node["tls"], f + ".tls");
    if (!tls.ok()) return tls.status();
    s->tls = *std::move(tls);
  }

  if (node["tensor_parallel"]) {
    if (s->role != ServiceRole::kTarget) {
      return p.Error(node["tensor_parallel"], f + ".tensor_parallel", "is only valid for role: target");
    }
    auto tp = ParseTensorParallel(p, node["tensor_parallel"], f + ".tensor_parallel");
    if (!tp.ok()) return tp.status();
    s->tensor_parallel = *std::move(tp);
  }

  const bool retrieval = s->role == ServiceRole::kRetrieval;
  for (const char* key : {"embedder", "data_dir"}) {
    if (!retrieval && node[key]) {
      return p.Error(node[key], absl::StrCat(f, ".", key), "is only valid for role: retrieval");
    }
  }
  TANDEM_RETURN_IF_ERROR(p.String(node, "embedder", f + ".embedder", &s->embedder));
  s->embedder = ExpandHome(s->embedder);
  TANDEM_RETURN_IF_ERROR(p.String(node, "data_dir", f + ".data_dir", &s->data_dir));
  s->data_dir = ExpandHome(s->data_dir);

  if (s->role != ServiceRole::kReward && node["reward_model"]) {
    return p.Error(node["reward_model"], f + ".reward_model", "is only valid for role: reward");
  }
  TANDEM_RETURN_IF_ERROR(p.String(node, "reward_model", f + ".reward_model", &s->reward_model));
  s->reward_model = ExpandHome(s->reward_model);

  const bool orchestrator = s->role == ServiceRole::kOrchestrator;
  for (const char* key : {"drafter", "draft", "target", "default_strategy", "retrieval", "reward", "http_port",
                          "max_running_requests", "max_queued_requests", "queue_timeout_s", "retry_after_ms"}) {
    if (!orchestrator && node[key]) {
      return p.Error(node[key], absl::StrCat(f, ".", key), "is only valid for role: orchestrator");
    }
  }
  if (!orchestrator) {
    if (s->model.empty() && s->model_path.empty()) {
      return p.Error(node, f + ".model", absl::StrCat("role ", role, " needs model or model_path"));
    }
    return absl::OkStatus();
  }

  std::string drafter = "none";
  TANDEM_RETURN_IF_ERROR(p.String(node, "drafter", f + ".drafter", &drafter));
  if (drafter == "none") s->drafter = DrafterKind::kNone;
  else if (drafter == "model") s->drafter = DrafterKind::kModel;
  else if (drafter == "ngram") s->drafter = DrafterKind::kNgram;
  else {
    return p.Error(node["drafter"], f + ".drafter",
                   absl::StrCat("unknown drafter '", drafter, "' (model, ngram, none)"));
  }
  TANDEM_RETURN_IF_ERROR(p.String(node, "draft", f + ".draft", &s->draft));
  TANDEM_RETURN_IF_ERROR(p.String(node, "target", f + ".target", &s->target));
  TANDEM_RETURN_IF_ERROR(p.String(node, "retrieval", f + ".retrieval", &s->retrieval));
  TANDEM_RETURN_IF_ERROR(p.String(node, "reward", f + ".reward", &s->reward));
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "http_port", f + ".http_port", 0, 65535, &s->http_port));
  if (s->target.empty()) return p.Error(node, f + ".target", "is required for role: orchestrator");
  if (s->drafter == DrafterKind::kModel && s->draft.empty()) {
    return p.Error(node, f + ".draft", "is required with drafter: model");
  }
  if (s->drafter != DrafterKind::kModel && !s->draft.empty()) {
    return p.Error(node["draft"], f + ".draft", "is only used with drafter: model");
  }
  // Admission control (docs/resilience.md).
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "max_running_requests", f + ".max_running_requests", 0, 100000,
                                   &s->max_running_requests));
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "max_queued_requests", f + ".max_queued_requests", 0, 1000000,
                                   &s->max_queued_requests));
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "queue_timeout_s", f + ".queue_timeout_s", 1, 3600, &s->queue_timeout_s));
  TANDEM_RETURN_IF_ERROR(p.Integer(node, "retry_after_ms", f + ".retry_after_ms", 1, 3600000, &s->retry_after_ms));
  TANDEM_RETURN_IF_ERROR(p.String(node, "default_strategy", f + ".default_strategy", &s->default_strategy));
  if (s->default_strategy.empty()) {
    s->default_strategy = s->drafter == DrafterKind::kNone ? "target_only" : "speculative";
  }
  bool known = false;
  for (absl::string_view k : kStrategies) known = known || s->default_strategy == k;
  if (!known) {
    return p.Error(node["default_strategy"], f + ".default_strategy",
                   absl::StrCat("unknown strategy '", s->default_strategy, "' (",
                                absl::StrJoin(kStrategies, ", "), ")"));
  }
  if (s->drafter == DrafterKind::kNone &&
      (s->default_strategy == "speculative" || s->default_strategy == "draft_only")) {
    return p.Error(node["default_strategy"], f + ".default_strategy",
                   absl::StrCat("'", s->default_strategy, "' needs a drafter (set drafter: model or ngram)"));
  }
  return absl::OkStatus();
}

// Cross-service checks: unique names and ports, references resolve to
// services of the right role.
absl::Status CheckDeployment(const Parser& p, const YAML::Node& services, const DeploymentConfig& c) {
  absl::flat_hash_set<std::string> names;
  std::set<std::pair<std::string, int>> ports;
  for (size_t i = 0; i < c.services.size(); ++i) {
    const ServiceConfig& s = c.services[i];
    const YAML::Node node = services[i];
    const std::string f = absl::StrCat("services[", i, "]");
    if (!names.insert(s.name).second) {
      return p.Error(node["name"], f + ".name", absl::StrCat("duplicate service name '", s.name, "'"));
    }
    if (!ports.insert({s.host, s.grpc_port}).second) {
      return p.Error(node["grpc_port"], f + ".grpc_port",
                     absl::StrCat("port ", s.grpc_port, " on ", s.host, " is already used by another service"));
    }
    if (s.metrics_port != 0 && !ports.insert({s.host, s.metrics_port}).second) {
      return p.Error(node["metrics_port"], f + ".metrics_port",
                     absl::StrCat("port ", s.metrics_port, " on ", s.host, " is already used"));
    }
    if (s.http_port != 0 && !ports.insert({s.host, s.http_port}).second) {
      return p.Error(node["http_port"], f + ".http_port",
                     absl::StrCat("port ", s.http_port, " on ", s.host, " is already used"));
    }
  }
  for (size_t i = 0; i < c.services.size(); ++i) {
    const ServiceConfig& s = c.services[i];
    if (s.role != ServiceRole::kOrchestrator) continue;
    const YAML::Node node = services[i];
    const std::string f = absl::StrCat("services[", i, "]");
    struct Reference {
      const char* key;
      std::string ServiceConfig::*field;
      ServiceRole role;
    };
    const Reference refs[] = {{"target", &ServiceConfig::target, ServiceRole::kTarget},
                              {"draft", &ServiceConfig::draft, ServiceRole::kDraft},
                              {"retrieval", &ServiceConfig::retrieval, ServiceRole::kRetrieval},
                              {"reward", &ServiceConfig::reward, ServiceRole::kReward}};
    for (const auto& [key, field, role] : refs) {
      const std::string& ref = s.*field;
      if (ref.empty() || absl::StrContains(ref, ':')) continue;  // explicit address
      const ServiceConfig* other = c.Find(ref);
      if (other == nullptr) {
        return p.Error(node[key], absl::StrCat(f, ".", key),
                       absl::StrCat("no service named '", ref, "' (use a service name or host:port)"));
      }
      if (other->role != role) {
        return p.Error(node[key], absl::StrCat(f, ".", key),
                       absl::StrCat("service '", ref, "' has role ", AbslView(ServiceRoleName(other->role)),
                                    ", expected ", AbslView(ServiceRoleName(role))));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DeploymentConfig> ParseRoot(const Parser& p, const YAML::Node& root) {
  if (!root || root.IsNull()) return p.Error(root, "<root>", "the config is empty");
  if (!root.IsMap()) return p.Error(root, "<root>", "must be a mapping with name and services");
  TANDEM_RETURN_IF_ERROR(p.CheckKeys(root, "", {"name", "model_dir", "log_dir", "tls", "auth", "services"}));
  DeploymentConfig c;
  if (!root["name"]) return p.Error(root, "name", "is required");
  TANDEM_RETURN_IF_ERROR(p.String(root, "name", "name", &c.name));
  if (!ValidName(c.name)) return p.Error(root["name"], "name", "must be 1..64 characters of [a-z0-9_-]");
  TANDEM_RETURN_IF_ERROR(p.String(root, "model_dir", "model_dir", &c.model_dir));
  TANDEM_RETURN_IF_ERROR(p.String(root, "log_dir", "log_dir", &c.log_dir));
  c.model_dir = ExpandHome(c.model_dir);
  c.log_dir = ExpandHome(c.log_dir);
  if (root["tls"]) {
    auto tls = ParseTls(p, root["tls"], "tls");
    if (!tls.ok()) return tls.status();
    c.tls = *std::move(tls);
  }
  if (const YAML::Node auth = root["auth"]) {
    if (!auth.IsMap()) return p.Error(auth, "auth", "must be a mapping with token_file or token_env");
    TANDEM_RETURN_IF_ERROR(p.CheckKeys(auth, "auth", {"token_file", "token_env"}));
    TANDEM_RETURN_IF_ERROR(p.String(auth, "token_file", "auth.token_file", &c.auth.token_file));
    TANDEM_RETURN_IF_ERROR(p.String(auth, "token_env", "auth.token_env", &c.auth.token_env));
    c.auth.token_file = ExpandHome(c.auth.token_file);
    if (c.auth.token_file.empty() == c.auth.token_env.empty()) {
      return p.Error(auth, "auth", "needs exactly one of token_file and token_env");
    }
  }
  const YAML::Node services = root["services"];
  if (!services) return p.Error(root, "services", "is required");
  if (!services.IsSequence() || services.size() == 0) {
    return p.Error(services, "services", "must be a non-empty list");
  }
  c.services.resize(services.size());
  for (size_t i = 0; i < services.size(); ++i) {
    TANDEM_RETURN_IF_ERROR(ParseService(p, services[i], absl::StrCat("services[", i, "]"), &c.services[i]));
  }
  TANDEM_RETURN_IF_ERROR(CheckDeployment(p, services, c));
  // gRPC runs token checks only on authenticated transports, and a bearer
  // token sent in plaintext can be read off the wire: auth needs TLS on
  // every service that serves the public API.
  if (c.auth.enabled()) {
    for (size_t i = 0; i < c.services.size(); ++i) {
      if (c.services[i].role == ServiceRole::kOrchestrator && c.TlsFor(c.services[i]) == nullptr) {
        return p.Error(root["auth"], "auth",
                       absl::StrCat("bearer tokens need TLS, but service '", c.services[i].name,
                                    "' (the public API) has no tls block"));
      }
    }
  }
  return c;
}

}  // namespace

std::string_view ServiceRoleName(ServiceRole role) {
  switch (role) {
    case ServiceRole::kDraft: return "draft";
    case ServiceRole::kTarget: return "target";
    case ServiceRole::kOrchestrator: return "orchestrator";
    case ServiceRole::kReward: return "reward";
    case ServiceRole::kRetrieval: return "retrieval";
  }
  return "unknown";
}

std::string_view DrafterKindName(DrafterKind kind) {
  switch (kind) {
    case DrafterKind::kNone: return "none";
    case DrafterKind::kModel: return "model";
    case DrafterKind::kNgram: return "ngram";
  }
  return "unknown";
}

std::string ServiceConfig::grpc_address() const { return absl::StrCat(host, ":", grpc_port); }

std::string ServiceConfig::metrics_address() const {
  return metrics_port == 0 ? std::string() : absl::StrCat(host, ":", metrics_port);
}

std::string ServiceConfig::http_address() const {
  return http_port == 0 ? std::string() : absl::StrCat(host, ":", http_port);
}

const TlsConfig* DeploymentConfig::TlsFor(const ServiceConfig& service) const {
  if (service.tls.has_value()) return &*service.tls;
  return tls.has_value() ? &*tls : nullptr;
}

const ServiceConfig* DeploymentConfig::Find(std::string_view service_name) const {
  for (const ServiceConfig& s : services) {
    if (s.name == service_name) return &s;
  }
  return nullptr;
}

absl::StatusOr<std::string> DeploymentConfig::ResolveAddress(std::string_view reference) const {
  if (reference.find(':') != std::string_view::npos) return std::string(reference);
  const ServiceConfig* s = Find(reference);
  if (s == nullptr) return absl::NotFoundError(absl::StrCat("no service named '", AbslView(reference), "'"));
  return s->grpc_address();
}

absl::StatusOr<DeploymentConfig> ParseDeploymentConfig(std::string_view yaml_text, std::string_view source) {
  const Parser parser(source);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    return ParseRoot(parser, root);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(source), ":", e.mark.line + 1, ": YAML syntax error: ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(source), ": ", e.what()));
  }
}

absl::StatusOr<DeploymentConfig> LoadDeploymentConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read deployment config ", path));
  std::ostringstream text;
  text << in.rdbuf();
  auto config = ParseDeploymentConfig(text.str(), path);
  if (!config.ok()) return config;
  // Credential files are found next to the config wherever it is started from.
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  auto anchor = [&folder](std::string& file) {
    if (!file.empty() && std::filesystem::path(file).is_relative()) file = (folder / file).lexically_normal().string();
  };
  auto anchor_tls = [&anchor](std::optional<TlsConfig>& tls) {
    if (!tls.has_value()) return;
    anchor(tls->cert);
    anchor(tls->key);
    anchor(tls->ca);
  };
  anchor_tls(config->tls);
  for (ServiceConfig& s : config->services) anchor_tls(s.tls);
  anchor(config->auth.token_file);
  return config;
}

}  // namespace tandem::services
