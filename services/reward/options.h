// Typed access to a backend's string options with INVALID_ARGUMENT errors
// that name the option ("options.min: expected an integer, got 'x'").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/reward/reward_backend.h"

namespace tandem::reward {

// Every key of `options` must be one of `known`.
absl::Status CheckOptionNames(const Options& options, std::span<const std::string> known,
                              std::string_view backend);

absl::StatusOr<double> DoubleOption(const Options& options, const std::string& key, double fallback,
                                    double lo, double hi);
absl::StatusOr<int64_t> IntOption(const Options& options, const std::string& key, int64_t fallback,
                                  int64_t lo, int64_t hi);
absl::StatusOr<bool> BoolOption(const Options& options, const std::string& key, bool fallback);
std::string StringOption(const Options& options, const std::string& key, std::string fallback);
// One of `allowed`.
absl::StatusOr<std::string> EnumOption(const Options& options, const std::string& key, std::string fallback,
                                       std::span<const std::string_view> allowed);
// A comma-separated list; items are trimmed, empty ones dropped.
std::vector<std::string> ListOption(const Options& options, const std::string& key);

}  // namespace tandem::reward
