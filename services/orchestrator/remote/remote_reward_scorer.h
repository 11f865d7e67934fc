// RewardScorer port over the tandem.v1.Reward service: one Score / ScoreSteps
// call = one RPC (a request's candidates travel together, so the service can
// batch them). Calls register in the port's CallScope, so aborting the
// generation request cancels a reward call in flight.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "decoding/ports/reward_scorer.h"
#include "services/orchestrator/remote/remote_options.h"
#include "tandem/v1/reward.grpc.pb.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {

class RemoteRewardScorer : public RewardScorer {
 public:
  RemoteRewardScorer(std::shared_ptr<tandem::v1::Reward::StubInterface> stub, std::vector<std::string> backends,
                     RemoteOptions options = {});
  // Waits for the service (ListBackends) up to options.open_timeout.
  static absl::StatusOr<std::unique_ptr<RemoteRewardScorer>> Connect(const std::string& address,
                                                                    RemoteOptions options = {});

  absl::StatusOr<std::vector<float>> Score(const RewardSpec& spec, std::span<const RewardItem> items) override;
  absl::StatusOr<std::vector<float>> ScoreSteps(const RewardSpec& spec, std::string_view prompt,
                                                std::span<const std::string> steps) override;
  std::vector<std::string> Backends() const override { return backends_; }

  std::unique_ptr<RemoteRewardScorer> WithScope(std::shared_ptr<CallScope> scope) const;

 private:
  std::shared_ptr<tandem::v1::Reward::StubInterface> stub_;
  std::vector<std::string> backends_;
  RemoteOptions options_;
};

}  // namespace tandem::orchestrator
