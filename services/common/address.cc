#include "services/common/address.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace tandem::services {
namespace {

// Lower-cased host without brackets; "loopback" for every loopback name.
std::string CanonicalHost(std::string_view address) {
  std::string h = absl::AsciiStrToLower(AddressHost(address));
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h == "localhost" || h == "::1" || absl::StartsWith(h, "127.")) return "loopback";
  return h;
}

}  // namespace

std::string AddressHost(std::string_view address) {
  if (const size_t scheme = address.find(":///"); scheme != std::string_view::npos) {
    address.remove_prefix(scheme + 4);
  }
  const size_t colon = address.rfind(':');
  // A colon inside an unbracketed IPv6 literal is not a port separator.
  if (colon == std::string_view::npos || (address.front() != '[' && address.find(':') != colon)) {
    return std::string(address);
  }
  return std::string(address.substr(0, colon));
}

bool OnSameHost(std::string_view a, std::string_view b) { return CanonicalHost(a) == CanonicalHost(b); }

}  // namespace tandem::services
