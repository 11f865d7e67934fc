// A HostChannel over an NcclCommunicator: host buffers are copied into a
// device staging buffer, the collective runs on the communicator's stream,
// the result is copied back and the stream synchronised, so the host data is
// final when a call returns. Used for the tensor-parallel step protocol
// (commands, tokens, logits rows), which is small next to a forward pass.
// Compiled only with -DTANDEM_CUDA=ON; unverified without two GPUs.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/parallel/host_channel.h"
#include "runtime/parallel/nccl_communicator.h"

namespace tandem::runtime::parallel {

// `comm` must outlive the channel.
absl::StatusOr<std::unique_ptr<HostChannel>> MakeNcclHostChannel(NcclCommunicator& comm);

}  // namespace tandem::runtime::parallel
