// Test certificates from scripts/make-dev-certs.sh (the script the demo and
// docs use, so the tests also keep it working): a CA, a server certificate
// (serverAuth + clientAuth, SANs for 127.0.0.1) and a client certificate.
#pragma once

#include <string>

#include "tests/common/shell.h"

namespace tandem::test_certs {

struct DevCerts {
  std::string dir;
  std::string ca() const { return dir + "/ca.crt"; }
  std::string server_cert() const { return dir + "/server.crt"; }
  std::string server_key() const { return dir + "/server.key"; }
  std::string client_cert() const { return dir + "/client.crt"; }
  std::string client_key() const { return dir + "/client.key"; }
  std::string token_file() const { return dir + "/token"; }
};

// Runs the script into `dir`; the output on failure, empty on success.
inline std::string MakeDevCerts(const std::string& dir, DevCerts* out) {
  const auto run = test_shell::RunShell(std::string(TANDEM_SOURCE_DIR) + "/scripts/make-dev-certs.sh '" + dir + "' 2>&1");
  out->dir = dir;
  return run.code == 0 ? std::string() : "make-dev-certs.sh failed: " + run.out;
}

}  // namespace tandem::test_certs
