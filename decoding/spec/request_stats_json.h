// RequestStats as JSON, in exactly the layout of tandem.v1.Stats' proto JSON
// mapping (proto field names; the common core always, a section only when
// the strategy declares it; unset optional values omitted), so
// `tandem generate --json` shows the same object in process, through
// --server and in the HTTP gateway. A services test checks the two stay
// identical for every section.
#pragma once

#include "decoding/spec/request_stats.h"
#include "nlohmann/json.hpp"

namespace tandem::decoding::spec {

nlohmann::json StatsJson(const RequestStats& stats);

}  // namespace tandem::decoding::spec
