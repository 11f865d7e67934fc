#include "tandem/sdk/param_text.h"

#include <charconv>
#include <system_error>

namespace tandem::strategy::internal {

std::string IntParam(int64_t value) { return std::to_string(value); }

std::string RealParam(double value) {
  char buffer[64];
  const std::to_chars_result r = std::to_chars(buffer, buffer + sizeof(buffer), value);
  // 64 bytes hold any double's shortest form; errc is only possible for a
  // smaller buffer.
  return r.ec == std::errc() ? std::string(buffer, r.ptr) : std::to_string(value);
}

std::string BoolParam(bool value) { return value ? "true" : "false"; }

}  // namespace tandem::strategy::internal
