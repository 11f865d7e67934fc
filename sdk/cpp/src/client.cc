// Client::Connect and the Generation service's calls.
#include "tandem/sdk/client.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "connection.h"
#include "generation_call.h"
#include "request_builder.h"
#include "status_mapping.h"

namespace tandem {

using sdk_internal::FromGrpc;

absl::StatusOr<Client> Client::Connect(ConnectionOptions options) {
  if (options.address.empty()) return absl::InvalidArgumentError("address: empty (want host:port)");
  if (options.retry.max_attempts < 1 || options.retry.max_attempts > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("retry.max_attempts: must be in [1, 5] (gRPC's limit), got ", options.retry.max_attempts));
  }
  if (options.retry.initial_backoff.count() <= 0 || options.retry.max_backoff.count() <= 0 ||
      !(options.retry.backoff_multiplier > 0)) {
    return absl::InvalidArgumentError("retry: backoff times and multiplier must be > 0");
  }
  if (options.reward_address.empty()) options.reward_address = options.address;
  if (options.retrieval_address.empty()) options.retrieval_address = options.address;

  // One channel per distinct address, shared by the stubs that use it.
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  for (const std::string* address : {&options.address, &options.reward_address, &options.retrieval_address}) {
    if (channels.count(*address) != 0) continue;
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk_internal::MakeChannel(*address, options);
    if (!channel.ok()) return channel.status();
    channels[*address] = *std::move(channel);
  }
  auto connection = std::make_shared<Connection>();
  connection->generation = v1::Generation::NewStub(channels[options.address]);
  connection->reward = v1::Reward::NewStub(channels[options.reward_address]);
  connection->retrieval = v1::Retrieval::NewStub(channels[options.retrieval_address]);
  connection->options = std::move(options);
  return Client(std::move(connection));
}

std::unique_ptr<GenerationStream> Client::StartGenerate(const Prompt& prompt, const GenerateOptions& options) const {
  auto call = std::make_unique<GenerationStream::Call>();
  call->connection = connection_;
  connection_->Prepare(&call->context, options.timeout);
  call->reader = connection_->generation->Generate(&call->context, sdk_internal::BuildGenerateRequest(prompt, options));
  return std::unique_ptr<GenerationStream>(new GenerationStream(std::move(call)));
}

absl::StatusOr<GenerationResult> Client::Generate(const Prompt& prompt, const GenerateOptions& options,
                                                  const std::function<void(const Chunk&)>& on_chunk) const {
  std::unique_ptr<GenerationStream> stream = StartGenerate(prompt, options);
  for (;;) {
    absl::StatusOr<std::optional<Chunk>> next = stream->Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) break;
    if (on_chunk) on_chunk(**next);
  }
  return stream->Finish();
}

absl::StatusOr<GenerationResult> Client::Generate(const Prompt& prompt, const GenerateOptions& options) const {
  return StartGenerate(prompt, options)->Finish();
}

absl::StatusOr<bool> Client::Abort(std::string_view request_id, const CallOptions& call) const {
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::AbortRequest request;
  request.set_request_id(std::string(request_id));
  v1::AbortResponse response;
  if (grpc::Status s = connection_->generation->Abort(&context, request, &response); !s.ok()) return FromGrpc(s);
  return response.found();
}

absl::StatusOr<v1::GetInfoResponse> Client::GetInfo(const CallOptions& call) const {
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::GetInfoResponse response;
  if (grpc::Status s = connection_->generation->GetInfo(&context, v1::GetInfoRequest(), &response); !s.ok()) {
    return FromGrpc(s);
  }
  return response;
}

absl::StatusOr<v1::ListModelsResponse> Client::ListModels(const CallOptions& call) const {
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::ListModelsResponse response;
  if (grpc::Status s = connection_->generation->ListModels(&context, v1::ListModelsRequest(), &response); !s.ok()) {
    return FromGrpc(s);
  }
  return response;
}

}  // namespace tandem
