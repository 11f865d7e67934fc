#include "services/common/metrics.h"

#include <exception>
#include <vector>

#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"
#include "services/common/address.h"
#include "services/common/status_convert.h"

namespace tandem::services {
namespace {

using prometheus::Histogram;

// Buckets in seconds, roughly vLLM's, extended down to the sub-millisecond
// range where loopback RPCs and small-model steps live.
const Histogram::BucketBoundaries kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                                   0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                                                   20.0, 40.0, 80.0};
const Histogram::BucketBoundaries kItlBuckets = {0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025,
                                                  0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
                                                  0.4, 0.5, 0.75, 1.0, 2.5};
const Histogram::BucketBoundaries kE2eBuckets = {0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5,
                                                  5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 60.0, 120.0};
const Histogram::BucketBoundaries kRpcBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005,
                                                  0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0};

// Rewards: the judge's P(yes) in [0, 1] finely, other scales coarsely.
const Histogram::BucketBoundaries kRewardBuckets = {-10, -5, -2, -1, 0, 0.1, 0.2, 0.3, 0.4, 0.5,
                                                     0.6, 0.7, 0.8, 0.9, 1.0, 2, 5, 10};

// RAPID retrieval: latency (an embedding pass over the context dominates)
// and the drafter context it produced, in tokens.
const Histogram::BucketBoundaries kRetrievalBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                                                        2.5, 5.0, 10.0, 30.0};
// Draft length per round: every value up to 6, then coarser to kMaxGamma = 32.
const Histogram::BucketBoundaries kGammaBuckets = {0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32};
const Histogram::BucketBoundaries kRetrievedTokenBuckets = {256, 512, 1024, 2048, 4096, 8192, 16384,
                                                            32768, 65536};

std::string Label(std::string_view v, std::string_view fallback) {
  return v.empty() ? std::string(fallback) : std::string(v);
}

}  // namespace

std::string_view FinishReasonLabel(tandem::v1::FinishReason reason) {
  switch (reason) {
    case tandem::v1::FINISH_REASON_STOP: return "stop";
    case tandem::v1::FINISH_REASON_LENGTH: return "length";
    case tandem::v1::FINISH_REASON_STOP_STRING: return "stop_string";
    case tandem::v1::FINISH_REASON_CONTEXT_LENGTH: return "context_length";
    case tandem::v1::FINISH_REASON_ABORTED: return "abort";
    case tandem::v1::FINISH_REASON_ERROR: return "error";
    default: return "unspecified";
  }
}

ServiceMetrics::ServiceMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  auto counter = [&r](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(r);
  };
  auto histogram = [&r](const char* name, const char* help) {
    return &prometheus::BuildHistogram().Name(name).Help(help).Register(r);
  };
  num_drafts_ = counter("tandem:spec_decode_num_drafts_total",
                        "Speculation rounds that drafted at least one token.");
  num_draft_tokens_ = counter("tandem:spec_decode_num_draft_tokens_total", "Tokens proposed by the drafter.");
  num_accepted_tokens_ = counter("tandem:spec_decode_num_accepted_tokens_total",
                                 "Drafted tokens accepted by the target.");
  accepted_per_pos_ = counter("tandem:spec_decode_num_accepted_tokens_per_pos_total",
                              "Accepted drafted tokens by position in the draft (0-based).");
  gamma_ = histogram("tandem:spec_decode_gamma",
                     "Draft length (gamma) the controller chose for each speculation round, by reason: "
                     "fixed (the request's), acceptance (best for the acceptance rate and measured costs), "
                     "load (smaller because the target's batch is full; 0 = plain target steps), probe.");
  draft_calls_ = counter("tandem:draft_calls_total", "Calls into the drafter.");
  target_calls_ = counter("tandem:target_calls_total", "Calls into the target model.");
  draft_time_ = counter("tandem:draft_time_seconds_total", "Time spent waiting for the drafter.");
  target_time_ = counter("tandem:target_time_seconds_total", "Time spent waiting for the target.");
  request_success_ = counter("tandem:request_success_total",
                             "Requests that completed their stream, by finish reason.");
  request_failure_ = counter("tandem:request_failure_total",
                             "Requests that ended with an error status, by gRPC code.");
  prompt_tokens_ = counter("tandem:prompt_tokens_total", "Prompt tokens of finished requests.");
  generation_tokens_ = counter("tandem:generation_tokens_total", "Tokens generated for finished requests.");
  ttft_ = histogram("tandem:time_to_first_token_seconds", "Time from request arrival to the first token.");
  itl_ = histogram("tandem:inter_token_latency_seconds", "Time between consecutive streamed tokens.");
  e2e_ = histogram("tandem:e2e_request_latency_seconds", "Time from request arrival to its final message.");
  draft_rpc_ = histogram("tandem:draft_rpc_latency_seconds", "Latency of one drafter call (RPC or in-process).");
  target_verify_ = histogram("tandem:target_verify_latency_seconds", "Latency of one target verification call.");
  retrieval_latency_ = histogram("tandem:retrieval_latency_seconds",
                                 "RAPID: retrieval time per request (chunking, embedding, search).");
  retrieved_tokens_ = histogram("tandem:retrieved_tokens", "RAPID: tokens of the retrieved chunks the drafter reads.");
  reward_calls_ = counter("tandem:reward_calls_total", "Calls into the reward scorer (cards, best_of_n, args).");
  reward_items_ = counter("tandem:reward_items_total", "Responses scored by the reward scorer.");
  reward_time_ = counter("tandem:reward_time_seconds_total", "Time spent waiting for the reward scorer.");
  segments_ = counter("tandem:cards_segments_total",
                      "CARDS candidate segments by outcome (proposed, accepted, rejected, forced).");
  final_reward_ = histogram("tandem:final_reward", "Reward of the returned response (cards, best_of_n, args).");
  rsd_steps_ = counter("tandem:rsd_steps_total",
                       "RSD steps by outcome: drafted (scored by the PRM), accepted (draft kept), target "
                       "(written by the target after a rejection).");
  rsd_draft_tokens_ = counter("tandem:rsd_draft_tokens_total",
                              "RSD draft tokens by outcome: accepted, discarded (rejected steps and tokens "
                              "drafted past a step's end).");
  rsd_step_reward_ = histogram("tandem:rsd_step_reward", "PRM reward of each scored RSD draft step.");
  flops_ = counter("tandem:estimated_flops_total",
                   "Compute estimate (2 x parameters x tokens forwarded) by strategy and model "
                   "(draft, target, prm), where the strategy reports it.");
  active_sessions_ = &prometheus::BuildGauge()
                          .Name("tandem:active_sessions")
                          .Help("Open sessions (requests on the orchestrator, KV sessions on draft/target).")
                          .Register(r)
                          .Add({});
  kv_cache_bytes_ = &prometheus::BuildGauge()
                         .Name("tandem:kv_cache_bytes")
                         .Help("KV cache memory in use, in bytes.")
                         .Register(r)
                         .Add({});
  kv_cache_budget_bytes_ = &prometheus::BuildGauge()
                                .Name("tandem:kv_cache_budget_bytes")
                                .Help("KV cache memory budget of the process (kv_budget_mb), in bytes; 0 = none.")
                                .Register(r)
                                .Add({});
}

ServiceMetrics::~ServiceMetrics() = default;

absl::StatusOr<std::unique_ptr<ServiceMetrics>> ServiceMetrics::Create(const MetricsOptions& options) {
  std::unique_ptr<ServiceMetrics> m(new ServiceMetrics());
  if (options.listen_address.empty()) return m;
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(options.listen_address, options.http_threads);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", options.listen_address, ": ", e.what()));
  }
  m->exposer_->RegisterCollectable(m->registry_);
  const std::vector<int> ports = m->exposer_->GetListeningPorts();
  if (ports.empty()) return absl::UnavailableError("metrics: exposer reports no listening port");
  m->port_ = ports.front();
  std::string host = AddressHost(options.listen_address);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  m->url_ = absl::StrCat("http://", host, ":", m->port_, "/metrics");
  return m;
}

std::string ServiceMetrics::Serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void ServiceMetrics::RecordFinishedRequest(const tandem::v1::Stats& stats,
                                           tandem::v1::FinishReason reason) {
  const std::string strategy = Label(stats.strategy(), "unknown");
  const std::string drafter = Label(stats.drafter(), kNoDrafter);
  const prometheus::Labels sd{{"strategy", strategy}, {"drafter", drafter}};
  request_success_->Add({{"strategy", strategy}, {"finished_reason", std::string(FinishReasonLabel(reason))}})
      .Increment();
  prompt_tokens_->Add({{"strategy", strategy}}).Increment(static_cast<double>(stats.prompt_tokens()));
  generation_tokens_->Add({{"strategy", strategy}}).Increment(static_cast<double>(stats.generated_tokens()));
  num_drafts_->Add(sd).Increment(static_cast<double>(stats.speculation().num_drafts()));
  num_draft_tokens_->Add(sd).Increment(static_cast<double>(stats.speculation().drafted_tokens()));
  num_accepted_tokens_->Add(sd).Increment(static_cast<double>(stats.speculation().accepted_tokens()));
  for (const tandem::v1::GammaChoice& c : stats.speculation().gamma_choices()) {
    Histogram& h = gamma_->Add({{"strategy", strategy}, {"drafter", drafter}, {"reason", Label(c.reason(), "unknown")}},
                               kGammaBuckets);
    for (uint32_t i = 0; i < c.rounds(); ++i) h.Observe(static_cast<double>(c.gamma()));
  }
  for (int i = 0; i < stats.speculation().accepted_per_position_size(); ++i) {
    accepted_per_pos_->Add({{"strategy", strategy}, {"drafter", drafter}, {"position", absl::StrCat(i)}})
        .Increment(static_cast<double>(stats.speculation().accepted_per_position(i)));
  }
  draft_calls_->Add(sd).Increment(static_cast<double>(stats.draft_calls()));
  target_calls_->Add(sd).Increment(static_cast<double>(stats.target_calls()));
  draft_time_->Add(sd).Increment(stats.draft_time_ms() / 1000.0);
  target_time_->Add(sd).Increment(stats.target_time_ms() / 1000.0);
  if (stats.generated_tokens() > 0) {
    ttft_->Add({{"strategy", strategy}}, kTtftBuckets).Observe(stats.time_to_first_token_ms() / 1000.0);
  }
  e2e_->Add({{"strategy", strategy}}, kE2eBuckets).Observe(stats.e2e_latency_ms() / 1000.0);
  if (stats.has_retrieval()) {
    retrieval_latency_->Add({{"strategy", strategy}}, kRetrievalBuckets).Observe(stats.retrieval().retrieval_ms() / 1000.0);
    retrieved_tokens_->Add({{"strategy", strategy}}, kRetrievedTokenBuckets)
        .Observe(static_cast<double>(stats.retrieval().retrieved_tokens()));
  }
  if (stats.reward().calls() > 0) {
    reward_calls_->Add({{"strategy", strategy}}).Increment(static_cast<double>(stats.reward().calls()));
    reward_items_->Add({{"strategy", strategy}}).Increment(static_cast<double>(stats.reward().items()));
    reward_time_->Add({{"strategy", strategy}}).Increment(stats.reward().time_ms() / 1000.0);
  }
  if (stats.cards().segments_proposed() > 0) {
    segments_->Add({{"outcome", "proposed"}}).Increment(static_cast<double>(stats.cards().segments_proposed()));
    segments_->Add({{"outcome", "accepted"}}).Increment(static_cast<double>(stats.cards().segments_accepted()));
    segments_->Add({{"outcome", "rejected"}}).Increment(static_cast<double>(stats.cards().segments_rejected()));
    segments_->Add({{"outcome", "forced"}}).Increment(static_cast<double>(stats.cards().segments_forced()));
  }
  if (stats.reward().has_final_reward()) {
    final_reward_->Add({{"strategy", strategy}}, kRewardBuckets).Observe(stats.reward().final_reward());
  }
  if (stats.rsd().steps() > 0) {
    rsd_steps_->Add({{"outcome", "drafted"}}).Increment(static_cast<double>(stats.rsd().steps_drafted()));
    rsd_steps_->Add({{"outcome", "accepted"}}).Increment(static_cast<double>(stats.rsd().steps_accepted()));
    rsd_steps_->Add({{"outcome", "target"}}).Increment(static_cast<double>(stats.rsd().steps_target()));
    rsd_draft_tokens_->Add({{"outcome", "accepted"}})
        .Increment(static_cast<double>(stats.rsd().draft_tokens_accepted()));
    rsd_draft_tokens_->Add({{"outcome", "discarded"}})
        .Increment(static_cast<double>(stats.rsd().draft_tokens_discarded()));
    prometheus::Histogram& step_reward = rsd_step_reward_->Add({}, kRewardBuckets);
    for (double r : stats.rsd().step_rewards()) step_reward.Observe(r);
  }
  const std::pair<const char*, double> flops[] = {
      {"draft", stats.flops().draft()}, {"target", stats.flops().target()}, {"prm", stats.flops().prm()}};
  for (const auto& [model, value] : flops) {
    if (value > 0) flops_->Add({{"strategy", strategy}, {"model", model}}).Increment(value);
  }
}

void ServiceMetrics::RecordFailedRequest(std::string_view strategy, absl::StatusCode code) {
  request_failure_->Add({{"strategy", Label(strategy, "unknown")}, {"code", StatusCodeName(code)}})
      .Increment();
}

void ServiceMetrics::ObserveInterTokenLatency(std::string_view strategy, double seconds) {
  itl_->Add({{"strategy", Label(strategy, "unknown")}}, kItlBuckets).Observe(seconds);
}

void ServiceMetrics::ObserveDraftRpcLatency(std::string_view drafter, double seconds) {
  draft_rpc_->Add({{"drafter", Label(drafter, kNoDrafter)}}, kRpcBuckets).Observe(seconds);
}

void ServiceMetrics::ObserveTargetVerifyLatency(double seconds) {
  target_verify_->Add({}, kRpcBuckets).Observe(seconds);
}

void ServiceMetrics::SetActiveSessions(int64_t sessions) {
  active_sessions_->Set(static_cast<double>(sessions));
}

void ServiceMetrics::SetKvCacheBytes(int64_t bytes) { kv_cache_bytes_->Set(static_cast<double>(bytes)); }

void ServiceMetrics::SetKvCacheBudgetBytes(int64_t bytes) {
  kv_cache_budget_bytes_->Set(static_cast<double>(bytes));
}

}  // namespace tandem::services
