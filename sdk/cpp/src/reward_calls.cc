// Client's calls of the Reward service.
#include <utility>

#include "connection.h"
#include "status_mapping.h"
#include "tandem/sdk/client.h"

namespace tandem {
namespace {

void SetSpec(const RewardSpec& spec, v1::RewardSpec* out) {
  out->set_backend(spec.backend);
  for (const auto& [key, value] : spec.options) (*out->mutable_options())[key] = value;
}

template <typename Response>
ScoreResult ToResult(Response& response) {
  ScoreResult result;
  result.scores.assign(response.scores().begin(), response.scores().end());
  result.backend = std::move(*response.mutable_backend());
  return result;
}

}  // namespace

absl::StatusOr<ScoreResult> Client::Score(const std::vector<RewardItem>& items, const RewardSpec& spec,
                                          const CallOptions& call) const {
  v1::ScoreRequest request;
  SetSpec(spec, request.mutable_spec());
  for (const RewardItem& item : items) {
    v1::RewardItem* out = request.add_items();
    out->set_prompt(item.prompt);
    out->set_response(item.response);
    out->set_reference(item.reference);
  }
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::ScoreResponse response;
  if (grpc::Status s = connection_->reward->Score(&context, request, &response); !s.ok()) {
    return sdk_internal::FromGrpc(s);
  }
  return ToResult(response);
}

absl::StatusOr<ScoreResult> Client::ScoreSteps(std::string_view prompt, const std::vector<std::string>& steps,
                                               const RewardSpec& spec, const CallOptions& call) const {
  v1::ScoreStepsRequest request;
  SetSpec(spec, request.mutable_spec());
  request.set_prompt(std::string(prompt));
  for (const std::string& step : steps) request.add_steps(step);
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::ScoreStepsResponse response;
  if (grpc::Status s = connection_->reward->ScoreSteps(&context, request, &response); !s.ok()) {
    return sdk_internal::FromGrpc(s);
  }
  return ToResult(response);
}

absl::StatusOr<v1::ListBackendsResponse> Client::ListRewardBackends(const CallOptions& call) const {
  grpc::ClientContext context;
  connection_->Prepare(&context, call.timeout);
  v1::ListBackendsResponse response;
  if (grpc::Status s = connection_->reward->ListBackends(&context, v1::ListBackendsRequest(), &response); !s.ok()) {
    return sdk_internal::FromGrpc(s);
  }
  return response;
}

}  // namespace tandem
