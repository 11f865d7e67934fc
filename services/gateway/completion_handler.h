// POST /v1/chat/completions and /v1/completions: body -> DecodeRequest ->
// the shared PrepareRequest (bad input answers with an OpenAI error and its
// HTTP status before anything runs) -> the orchestrator's RequestRunner,
// answered as one JSON object or as server-sent events. `n` choices run as
// n concurrent requests (seed + index each) under one response id.
#pragma once

#include "services/gateway/openai_request.h"
#include "services/orchestrator/server/request_runner.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace tandem::gateway {

void HandleCompletion(orchestrator::server::RequestRunner& runner, Endpoint endpoint,
                      const httplib::Request& request, httplib::Response& response);

}  // namespace tandem::gateway
