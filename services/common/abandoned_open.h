// A session a client will never close: it gave up (its deadline passed, it
// cancelled) while the service was opening it, during the prefill. The id
// only travels in the answer the client no longer reads, so the session
// would hold its KV until the idle timeout (300 s by default) and count
// against max_sessions and the KV budget; a client retrying with a longer
// deadline, as the docs advise, leaked one prompt's KV per try.
#pragma once

#include <string>

#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace tandem::services {

// `opened`: the open's answer, `id` the session it created. When the call is
// already cancelled, removes the session (its KV is freed once no call
// holds it) and answers CANCELLED; else returns `opened` unchanged. A client
// cancelling after this check still gets the answer's id, which its port's
// "opened, but the request is gone" path closes.
template <class Registry>
grpc::Status DropIfAbandoned(const grpc::ServerContext* ctx, Registry& sessions, const std::string& id,
                             grpc::Status opened) {
  if (!opened.ok() || ctx == nullptr || !ctx->IsCancelled()) return opened;
  sessions.Remove(id);
  return grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled while the session was opened; closed it");
}

}  // namespace tandem::services
