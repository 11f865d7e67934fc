// tandem.v1.Stats <-> the decoding layer's per-request statistics, in one
// place for both sides of the wire: the Generation service encodes, clients
// (the CLI's --server path, tests) decode.
#pragma once

#include "decoding/spec/request_stats.h"
#include "tandem/v1/common.pb.h"

namespace tandem::services {

void StatsToProto(const decoding::spec::RequestStats& stats, tandem::v1::Stats* out);
decoding::spec::RequestStats StatsFromProto(const tandem::v1::Stats& stats);

}  // namespace tandem::services
