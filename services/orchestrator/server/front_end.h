#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/orchestrator/server/request_runner.h"

namespace tandem::orchestrator::server {

// Another front end this process serves beside the gRPC API (the
// OpenAI-compatible HTTP gateway, services/gateway/), over the same runner.
// The orchestrator does not depend on it: the process entry point passes a
// factory. Destroying it stops it.
class FrontEnd {
 public:
  virtual ~FrontEnd() = default;
  // For the SERVING line, e.g. "OpenAI-compatible HTTP on http://127.0.0.1:8000".
  virtual std::string description() const = 0;
};
// May return nullptr (nothing to serve, e.g. no http_port configured).
using FrontEndFactory = std::function<absl::StatusOr<std::unique_ptr<FrontEnd>>(RequestRunner& runner)>;

}  // namespace tandem::orchestrator::server
