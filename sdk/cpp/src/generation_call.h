// The gRPC call behind a GenerationStream.
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include <memory>

#include "tandem/sdk/generation_stream.h"
#include "tandem/v1/generation.grpc.pb.h"  // the message's gRPC serialization traits

namespace tandem {

struct GenerationStream::Call {
  // Keeps the client's channels alive while the stream is, even if every
  // Client copy is gone.
  std::shared_ptr<const void> connection;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader;
};

}  // namespace tandem
