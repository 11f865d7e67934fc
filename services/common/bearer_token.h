// Bearer-token auth of the public API, without any gRPC dependency so that
// every front end (the gRPC Generation service through its
// AuthMetadataProcessor, the HTTP gateway) checks tokens the same way.
// The token is read once at startup from a file or an environment variable
// named in the deployment config; it is never logged, and error messages
// never echo what the client sent.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/common/deploy_config.h"

namespace tandem::services {

// Reads the token named by `auth` (token_file: the file's content without a
// trailing newline; token_env: the variable's value). NOT_FOUND when the
// file or variable is missing; INVALID_ARGUMENT when the token is empty or
// has characters outside RFC 6750's token68 alphabet (so it can travel in an
// `authorization` header); the message names the file or variable only.
absl::StatusOr<std::string> LoadBearerToken(const AuthConfig& auth);

// Checks an `authorization` header / metadata value against `token`:
// OK for exactly "Bearer <token>" (scheme case-insensitive, RFC 6750);
// UNAUTHENTICATED otherwise (missing, other scheme, wrong token). The token
// comparison takes the same time wherever the first difference is, so a
// client cannot find the token byte by byte by timing its guesses.
absl::Status CheckBearerToken(std::string_view authorization, std::string_view token);

// Equality in time that depends only on the lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace tandem::services
