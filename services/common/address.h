// Host parts of gRPC addresses ("host:port", "[v6]:port", "dns:///host:port"),
// the one parser the servers, the metrics endpoint and the orchestrator's
// placement check share.
#pragma once

#include <string>
#include <string_view>

namespace tandem::services {

// The host as written, brackets of an IPv6 literal kept (so that
// AddressHost(a) + ":" + port is an address again); a scheme prefix
// ("dns:///") is dropped; no port: the whole address.
std::string AddressHost(std::string_view address);

// Whether two addresses name the same machine as far as their text says:
// hosts compared without brackets and case, every loopback name
// (localhost, 127.x.y.z, ::1) the same machine. Different names may still
// be one machine (DNS); this errs towards "different".
bool OnSameHost(std::string_view a, std::string_view b);

}  // namespace tandem::services
