// Options shared by the remote ports.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/time/time.h"
#include "services/orchestrator/remote/call_scope.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {

struct RemoteOptions {
  // OpenSession prefills the prompt: allow for long prompts.
  absl::Duration open_timeout = absl::Seconds(120);
  // Propose / Verify.
  absl::Duration call_timeout = absl::Seconds(30);
  // CloseSession (also sent from destructors, so keep it short).
  absl::Duration close_timeout = absl::Seconds(5);
  // OpenSession.model; empty = the server's default model.
  std::string model;
  // Calls of sessions opened through this port object register here (null =
  // not cancellable beyond their deadline).
  std::shared_ptr<CallScope> scope;
  // Channel credentials of Connect (services/common/credentials.h: TLS,
  // mutual TLS); null = plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

// A channel with tandem's message size limits (dense q rows of a 152k
// vocabulary are ~600 KB each) and `credentials` (null = plaintext).
std::shared_ptr<grpc::Channel> MakeServiceChannel(const std::string& address,
                                                  std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

}  // namespace tandem::orchestrator
