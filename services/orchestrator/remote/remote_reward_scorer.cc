#include "services/orchestrator/remote/remote_reward_scorer.h"

#include "absl/strings/str_cat.h"
#include "services/common/validation.h"
#include "services/orchestrator/remote/remote_call.h"
#include "services/orchestrator/decoding_names.h"

namespace tandem::orchestrator {
namespace {

constexpr RemoteService kReward("reward service");

// proto3 strings must be UTF-8: the client library would refuse to send the
// request (INTERNAL), so say which field is wrong instead.
absl::Status CheckUtf8(std::string_view text, const std::string& field) {
  if (services::IsValidUtf8(text)) return absl::OkStatus();
  return absl::InvalidArgumentError(field + ": invalid UTF-8");
}

void SpecToProto(const RewardSpec& spec, tandem::v1::RewardSpec* out) {
  out->set_backend(spec.backend);
  for (const auto& [k, v] : spec.options) (*out->mutable_options())[k] = v;
}

}  // namespace

RemoteRewardScorer::RemoteRewardScorer(std::shared_ptr<tandem::v1::Reward::StubInterface> stub,
                                       std::vector<std::string> backends, RemoteOptions options)
    : stub_(std::move(stub)), backends_(std::move(backends)), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<RemoteRewardScorer>> RemoteRewardScorer::Connect(const std::string& address,
                                                                               RemoteOptions options) {
  std::shared_ptr<tandem::v1::Reward::StubInterface> stub = tandem::v1::Reward::NewStub(MakeServiceChannel(address, options.credentials));
  ScopedCall call(nullptr, options.open_timeout);
  call.context()->set_wait_for_ready(true);
  tandem::v1::ListBackendsResponse resp;
  grpc::Status status = stub->ListBackends(call.context(), tandem::v1::ListBackendsRequest(), &resp);
  if (!status.ok()) return kReward.Error("ListBackends", status);
  std::vector<std::string> names;
  for (const auto& b : resp.backends()) names.push_back(b.name());
  return std::make_unique<RemoteRewardScorer>(std::move(stub), std::move(names), std::move(options));
}

std::unique_ptr<RemoteRewardScorer> RemoteRewardScorer::WithScope(std::shared_ptr<CallScope> scope) const {
  RemoteOptions options = options_;
  options.scope = std::move(scope);
  return std::make_unique<RemoteRewardScorer>(stub_, backends_, std::move(options));
}

absl::StatusOr<std::vector<float>> RemoteRewardScorer::Score(const RewardSpec& spec,
                                                             std::span<const RewardItem> items) {
  tandem::v1::ScoreRequest req;
  SpecToProto(spec, req.mutable_spec());
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string f = absl::StrCat("items[", i, "].");
    for (auto [text, name] : {std::pair{&items[i].prompt, "prompt"}, {&items[i].response, "response"},
                              {&items[i].reference, "reference"}}) {
      if (absl::Status st = CheckUtf8(*text, f + name); !st.ok()) return st;
    }
  }
  for (const auto& [k, v] : spec.options) {
    if (absl::Status st = CheckUtf8(v, "options." + k); !st.ok()) return st;
  }
  for (const RewardItem& it : items) {
    auto* p = req.add_items();
    p->set_prompt(it.prompt);
    p->set_response(it.response);
    p->set_reference(it.reference);
  }
  tandem::v1::ScoreResponse resp;
  absl::Status rpc = kReward.Call("Score", options_.scope.get(), options_.call_timeout,
                                  [&](grpc::ClientContext* ctx) { return stub_->Score(ctx, req, &resp); });
  if (!rpc.ok()) return rpc;
  if (static_cast<size_t>(resp.scores_size()) != items.size()) {
    return absl::InternalError(absl::StrCat("reward service Score: ", resp.scores_size(), " scores for ",
                                            items.size(), " items"));
  }
  return std::vector<float>(resp.scores().begin(), resp.scores().end());
}

absl::StatusOr<std::vector<float>> RemoteRewardScorer::ScoreSteps(const RewardSpec& spec, std::string_view prompt,
                                                                  std::span<const std::string> steps) {
  if (absl::Status st = CheckUtf8(prompt, "prompt"); !st.ok()) return st;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (absl::Status st = CheckUtf8(steps[i], absl::StrCat("steps[", i, "]")); !st.ok()) return st;
  }
  for (const auto& [k, v] : spec.options) {
    if (absl::Status st = CheckUtf8(v, "options." + k); !st.ok()) return st;
  }
  tandem::v1::ScoreStepsRequest req;
  SpecToProto(spec, req.mutable_spec());
  req.set_prompt(std::string(prompt));
  for (const std::string& s : steps) req.add_steps(s);
  tandem::v1::ScoreStepsResponse resp;
  absl::Status rpc = kReward.Call("ScoreSteps", options_.scope.get(), options_.call_timeout,
                                  [&](grpc::ClientContext* ctx) { return stub_->ScoreSteps(ctx, req, &resp); });
  if (!rpc.ok()) return rpc;
  if (static_cast<size_t>(resp.scores_size()) != steps.size()) {
    return absl::InternalError(absl::StrCat("reward service ScoreSteps: ", resp.scores_size(), " scores for ",
                                            steps.size(), " steps"));
  }
  return std::vector<float>(resp.scores().begin(), resp.scores().end());
}

}  // namespace tandem::orchestrator
