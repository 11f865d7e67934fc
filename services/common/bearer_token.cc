#include "services/common/bearer_token.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "runtime/util/absl_compat.h"
#include "absl/strings/str_cat.h"

namespace tandem::services {
namespace {

// RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "=" padding.
bool ValidToken(std::string_view t) {
  if (t.empty()) return false;
  size_t end = t.size();
  while (end > 0 && t[end - 1] == '=') --end;
  if (end == 0) return false;
  for (size_t i = 0; i < end; ++i) {
    const unsigned char c = static_cast<unsigned char>(t[i]);
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/')) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> LoadBearerToken(const AuthConfig& auth) {
  std::string token;
  std::string source;
  if (!auth.token_file.empty()) {
    source = absl::StrCat("auth.token_file ", auth.token_file);
    std::ifstream in(auth.token_file, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(source, ": cannot read the file"));
    std::ostringstream text;
    text << in.rdbuf();
    token = text.str();
  } else if (!auth.token_env.empty()) {
    source = absl::StrCat("auth.token_env ", auth.token_env);
    const char* value = std::getenv(auth.token_env.c_str());
    if (value == nullptr) return absl::NotFoundError(absl::StrCat(source, ": the variable is not set"));
    token = value;
  } else {
    return absl::InvalidArgumentError("auth: needs token_file or token_env");
  }
  // Files written by `echo` or editors end with a newline that is not part of the token.
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": the token is empty"));
  if (!ValidToken(token)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the token must be letters, digits and - . _ ~ + / (then = padding)"));
  }
  return token;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // volatile keeps the compiler from turning the loop into an early-exit memcmp.
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]));
  return diff == 0;
}

absl::Status CheckBearerToken(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.empty()) {
    return absl::UnauthenticatedError("missing bearer token (send 'authorization: Bearer <token>')");
  }
  if (authorization.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(AbslView(authorization.substr(0, kScheme.size())), AbslView(kScheme))) {
    return absl::UnauthenticatedError("the authorization header must be 'Bearer <token>'");
  }
  std::string_view presented = authorization.substr(kScheme.size());
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  // An empty configured token would accept "Bearer " followed by nothing.
  if (token.empty() || !ConstantTimeEquals(presented, token)) {
    return absl::UnauthenticatedError("invalid bearer token");
  }
  return absl::OkStatus();
}

}  // namespace tandem::services
