// tandem.v1.Stats <-> the decoding layer's per-request statistics, in one
// place for both sides of the wire: the Generation service encodes, clients
// (the CLI's --server path, tests) decode. A section (speculation, retrieval,
// ...) is on the wire exactly when the strategy declares it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "decoding/spec/request_stats.h"
#include "tandem/v1/common.pb.h"

namespace tandem::services {

void StatsToProto(const decoding::spec::RequestStats& stats, tandem::v1::Stats* out);
decoding::spec::RequestStats StatsFromProto(const tandem::v1::Stats& stats);

// The Stats field names of the sections in `sections`, in field order.
std::vector<std::string> StatsSectionNames(decoding::spec::StatsSections sections);

// The proto JSON mapping of `stats` with proto field names and every field of
// a present section printed (zeros included), as `tandem generate --json`
// and the HTTP gateway show it.
absl::StatusOr<std::string> StatsToJson(const tandem::v1::Stats& stats);

}  // namespace tandem::services
