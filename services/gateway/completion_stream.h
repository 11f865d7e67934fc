// Server-sent events of a completion request: each choice's first, delta
// and finish chunks (several choices run at once, their events written by
// the connection's thread), then the error or usage chunk and [DONE].
#pragma once

#include <vector>

#include "services/gateway/completion_choices.h"
#include "services/gateway/openai_response.h"
#include "services/orchestrator/server/request_runner.h"

namespace httplib {
class DataSink;
}  // namespace httplib

namespace tandem::gateway {

// What a streamed request needs after the handler returned (the content
// provider runs later, on the same connection's thread).
struct StreamState {
  orchestrator::server::RequestRunner* runner = nullptr;
  std::vector<ChoiceRun> choices;
  int n = 1;  // choices per prompt
  ResponseHeader header;
  bool include_usage = false;
  orchestrator::server::RequestRunner::Clock::time_point arrival;
};

// Runs the request's choices, writing each text delta as an event. Returns
// false when the client is gone (httplib then closes the connection).
bool StreamCompletion(StreamState& st, httplib::DataSink& sink);

}  // namespace tandem::gateway
