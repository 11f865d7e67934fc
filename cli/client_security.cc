#include "cli/client_security.h"

namespace tandem::cli {

void AddClientSecurityFlags(CLI::App* cmd, ClientSecurityOptions& o) {
  cmd->add_flag("--tls", o.tls, "With --server: connect with TLS (the system's CA roots unless --tls-ca)");
  cmd->add_option("--tls-ca", o.tls_ca, "With --server: PEM CA bundle that verifies the server (implies --tls)");
  cmd->add_option("--tls-cert", o.tls_cert,
                  "With --server: PEM client certificate for mutual TLS, with --tls-key (implies --tls)");
  cmd->add_option("--tls-key", o.tls_key, "With --server: PEM private key of --tls-cert");
  cmd->add_option("--token-file", o.token_file,
                  "With --server: file holding the API's bearer token (default: $TANDEM_API_TOKEN when set); "
                  "needs TLS");
}

}  // namespace tandem::cli
