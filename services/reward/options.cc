#include "services/reward/options.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/util/absl_compat.h"

namespace tandem::reward {


absl::Status CheckOptionNames(const Options& options, std::span<const std::string> known,
                              std::string_view backend) {
  for (const auto& [key, value] : options) {
    bool found = false;
    for (const std::string& k : known) found = found || k == key;
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat("options.", key, ": unknown option of backend '", AbslView(backend),
                                                     "' (known: ",
                                                     known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> DoubleOption(const Options& options, const std::string& key, double fallback,
                                    double lo, double hi) {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  double v = 0;
  if (!absl::SimpleAtod(it->second, &v) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat("options.", key, ": expected a number, got '", it->second, "'"));
  }
  if (v < lo || v > hi) {
    return absl::InvalidArgumentError(absl::StrCat("options.", key, ": ", v, " is outside [", lo, ", ", hi, "]"));
  }
  return v;
}

absl::StatusOr<int64_t> IntOption(const Options& options, const std::string& key, int64_t fallback, int64_t lo,
                                  int64_t hi) {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(it->second, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("options.", key, ": expected an integer, got '", it->second, "'"));
  }
  if (v < lo || v > hi) {
    return absl::InvalidArgumentError(absl::StrCat("options.", key, ": ", v, " is outside [", lo, ", ", hi, "]"));
  }
  return v;
}

absl::StatusOr<bool> BoolOption(const Options& options, const std::string& key, bool fallback) {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  const std::string v = absl::AsciiStrToLower(it->second);
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return absl::InvalidArgumentError(absl::StrCat("options.", key, ": expected true or false, got '", it->second, "'"));
}

std::string StringOption(const Options& options, const std::string& key, std::string fallback) {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

absl::StatusOr<std::string> EnumOption(const Options& options, const std::string& key, std::string fallback,
                                       std::span<const std::string_view> allowed) {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  for (std::string_view a : allowed) {
    if (a == it->second) return it->second;
  }
  std::vector<std::string> names(allowed.begin(), allowed.end());
  return absl::InvalidArgumentError(absl::StrCat("options.", key, ": '", it->second, "' is not one of ",
                                                 absl::StrJoin(names, ", ")));
}

std::vector<std::string> ListOption(const Options& options, const std::string& key) {
  std::vector<std::string> out;
  auto it = options.find(key);
  if (it == options.end()) return out;
  for (absl::string_view part : absl::StrSplit(it->second, ',')) {
    absl::string_view t = absl::StripAsciiWhitespace(part);
    if (!t.empty()) out.emplace_back(t);
  }
  return out;
}

}  // namespace tandem::reward
