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
  return grpc::CreateCustomChannel(address, credentials != nullptr ? credentials : grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace tandem::orchestrator
