#include "services/gateway/gateway_probe.h"

#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace tandem::gateway {

absl::Status CheckGatewayHealth(const std::string& host, int port, absl::Duration timeout,
                                const services::TlsConfig* tls) {
  const std::string url = absl::StrCat(tls == nullptr ? "http://" : "https://", host, ":", port);
  httplib::Client client = tls == nullptr ? httplib::Client(url) : httplib::Client(url, tls->cert, tls->key);
  if (tls != nullptr) client.set_ca_cert_path(tls->ca);
  const auto usec = absl::ToInt64Microseconds(timeout);
  client.set_connection_timeout(usec / 1000000, usec % 1000000);
  client.set_read_timeout(usec / 1000000, usec % 1000000);
  auto res = client.Get("/health");
  if (!res) {
    return absl::UnavailableError(absl::StrCat(url, "/health: ", httplib::to_string(res.error())));
  }
  if (res->status != 200) {
    return absl::UnavailableError(absl::StrCat(url, "/health: HTTP ", res->status));
  }
  return absl::OkStatus();
}

}  // namespace tandem::gateway
