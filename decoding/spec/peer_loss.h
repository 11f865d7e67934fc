// Which failures of an accelerating peer (the drafter, the retriever) a
// speculative request survives by finishing target-only. A drafter only
// speeds the target up; losing it must not lose the request. UNAVAILABLE is
// the one code that means "the peer is gone" (a remote service that crashed,
// was stopped or cannot be reached; services/common/status_convert maps
// gRPC's transport errors onto it). Every other code keeps its meaning: a
// cancelled or timed-out request, a misbehaving peer (INTERNAL) or a bad
// request fails as before.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tandem::decoding::spec {

inline bool IsPeerLoss(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable;
}

// The RequestStats::fallback text: "<peer> unavailable: <message>", e.g.
// "draft unavailable: draft service Propose: Socket closed".
inline std::string FallbackReason(std::string_view peer, const absl::Status& status) {
  return absl::StrCat(absl::string_view(peer.data(), peer.size()), " unavailable: ", status.message());
}

}  // namespace tandem::decoding::spec
