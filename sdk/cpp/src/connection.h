// What every copy of a Client shares: the options and one stub per service
// (the stubs share a channel when their addresses agree).
#pragma once

#include <grpcpp/client_context.h>

#include <chrono>
#include <memory>
#include <optional>

#include "channel.h"
#include "tandem/sdk/client.h"
#include "tandem/v1/generation.grpc.pb.h"
#include "tandem/v1/retrieval.grpc.pb.h"
#include "tandem/v1/reward.grpc.pb.h"

namespace tandem {

struct Client::Connection {
  ConnectionOptions options;
  std::unique_ptr<v1::Generation::Stub> generation;
  std::unique_ptr<v1::Reward::Stub> reward;
  std::unique_ptr<v1::Retrieval::Stub> retrieval;

  void Prepare(grpc::ClientContext* context, const std::optional<std::chrono::milliseconds>& timeout) const {
    sdk_internal::PrepareCall(context, options, timeout);
  }
};

}  // namespace tandem
