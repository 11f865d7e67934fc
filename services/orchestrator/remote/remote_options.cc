#include "services/orchestrator/remote/remote_options.h"
#include "services/orchestrator/decoding_names.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace tandem::orchestrator {

std::shared_ptr<grpc::Channel> MakeServiceChannel(const std::string& address,
                                                  std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  // Reconnect to a service that went away every 0.25 s, backing off to at
  // most 2 s (gRPC's default grows to 120 s): a restarted draft or target is
  // used again within seconds (docs/resilience.md). Calls made while the
  // channel is down fail fast with UNAVAILABLE either way. Not
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also takes it as the timeout of
  // one connection attempt, and 250 ms failed healthy connections on a busy
  // machine ("connection attempt timed out before receiving SETTINGS frame").
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(address, credentials != nullptr ? credentials : grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace tandem::orchestrator
