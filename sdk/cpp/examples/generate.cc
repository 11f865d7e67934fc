// Streams one speculative-decoding generation from a tandem deployment and
// prints the text as it arrives, then the request's statistics.
//   generate [HOST:PORT] [PROMPT]
// A deployment with TLS and a bearer token (its config's tls and auth blocks): set
// TANDEM_TLS_CA (the CA file) and TANDEM_API_TOKEN.
#include <cstdlib>
#include <iostream>
#include <string>

#include "tandem/sdk/client.h"

int main(int argc, char** argv) {
  const std::string address = argc > 1 ? argv[1] : "127.0.0.1:50051";
  const std::string prompt = argc > 2 ? argv[2] : "Why is the sky blue?";

  tandem::ConnectionOptions connection{.address = address};
  if (const char* ca = std::getenv("TANDEM_TLS_CA")) connection.tls = tandem::TlsOptions{.ca_file = ca};
  if (const char* token = std::getenv("TANDEM_API_TOKEN")) connection.bearer_token = token;
  absl::StatusOr<tandem::Client> client = tandem::Client::Connect(connection);
  if (!client.ok()) {
    std::cerr << "connect: " << client.status() << "\n";
    return 1;
  }
  tandem::GenerateOptions options;
  options.Use(tandem::strategy::Speculative{.gamma = 4});  // typed options, generated from the registry
  options.max_tokens = 48;

  std::unique_ptr<tandem::GenerationStream> stream =
      client->StartGenerate(tandem::Prompt::Chat({{"user", prompt}}), options);
  for (const tandem::Chunk& chunk : *stream) std::cout << chunk.text << std::flush;
  absl::StatusOr<tandem::GenerationResult> result = stream->Finish();
  if (!result.ok()) {
    std::cerr << "\ngenerate: " << result.status() << "\n";  // e.g. INVALID_ARGUMENT: params.gamma: ...
    return 1;
  }
  std::cout << "\n\nfinish: " << tandem::v1::FinishReason_Name(result->finish_reason) << "\n"
            << "stats: " << result->stats.ShortDebugString() << "\n";
  return 0;
}
