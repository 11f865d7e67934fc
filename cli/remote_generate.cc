#include "cli/remote_generate.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "cli/client_credentials.h"
#include "cli/generate_result.h"
#include "cli/run_context.h"
#include "services/common/runtime_convert.h"
#include "services/common/status_convert.h"
#include "services/orchestrator/remote/remote_options.h"
#include "services/common/stats_convert.h"
#include "tandem/v1/generation.grpc.pb.h"

namespace tandem::cli {
namespace {

// The server's alternative lists appended to *out, INTERNAL ("server
// answer: ...") when one is malformed. The ids' range is the server's
// vocabulary, which this client does not know: checked against int32 only;
// lengths and signs as usual.
absl::Status ReadAlternatives(const google::protobuf::RepeatedPtrField<tandem::v1::TopLogprobs>& lists,
                              const char* field, std::vector<std::vector<runtime::TokenLogprob>>* out) {
  for (const tandem::v1::TopLogprobs& top : lists) {
    if (absl::Status s =
            services::TopLogprobsFromProto(top, std::numeric_limits<int32_t>::max(), &out->emplace_back(), field);
        !s.ok()) {
      return absl::InternalError(absl::StrCat("server answer: ", s.message()));
    }
  }
  return absl::OkStatus();
}

const char* FinishName(tandem::v1::FinishReason r) {
  switch (r) {
    case tandem::v1::FINISH_REASON_STOP: return "stop";
    case tandem::v1::FINISH_REASON_LENGTH: return "length";
    case tandem::v1::FINISH_REASON_STOP_STRING: return "stop_string";
    case tandem::v1::FINISH_REASON_CONTEXT_LENGTH: return "context_length";
    case tandem::v1::FINISH_REASON_ABORTED: return "aborted";
    case tandem::v1::FINISH_REASON_ERROR: return "error";
    default: return "unspecified";
  }
}

}  // namespace

int RunRemoteGenerate(const GenerateOptions& o) {
  auto params = ParseParams(o.params);
  if (!params.ok()) return ReportError(params.status());
  tandem::v1::GenerateRequest req;
  req.set_request_id(o.request_id);
  if (o.chat) {
    auto* m = req.mutable_messages()->add_messages();
    m->set_role("user");
    m->set_content(o.prompt);
  } else {
    req.set_prompt(o.prompt);
  }
  if (o.suffix.has_value()) req.set_suffix(*o.suffix);
  req.set_model(o.model);  // empty = the server's default
  req.set_strategy(o.strategy);
  for (const auto& [k, v] : *params) (*req.mutable_params())[k] = v;
  if (o.gamma > 0) req.set_gamma(o.gamma);
  if (o.adaptive_gamma.has_value()) req.set_adaptive_gamma(*o.adaptive_gamma);
  req.set_max_tokens(o.max_tokens);
  for (const std::string& s : o.stop) req.add_stop(s);
  auto* sp = req.mutable_sampling();
  // The seed is the server's choice unless given.
  services::SamplingToProto(o.sampling, sp);
  if (o.seed.has_value()) {
    sp->set_seed(*o.seed);
  } else {
    sp->clear_seed();
  }
  if (!o.context_file.empty()) {
    std::ifstream in(o.context_file, std::ios::binary);
    if (!in) return ReportError(absl::NotFoundError(absl::StrCat("--context-file: cannot read '", o.context_file, "'")));
    std::ostringstream ss;
    ss << in.rdbuf();
    req.set_context(ss.str());
  }
  req.set_ignore_eos(o.ignore_eos);
  req.set_logprobs(o.logprobs);
  req.set_top_logprobs(static_cast<uint32_t>(o.top_logprobs));
  req.set_prompt_logprobs(o.prompt_logprobs);

  auto credentials = ClientChannelCredentials(o.security);
  if (!credentials.ok()) return ReportError(credentials.status());
  auto stub = tandem::v1::Generation::NewStub(orchestrator::MakeServiceChannel(o.server, *credentials));
  grpc::ClientContext ctx;
  if (o.timeout_s > 0) {
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000)));
  }
  GenerateOutcome outcome;
  outcome.model = o.model;
  outcome.logprobs_requested = o.logprobs;
  outcome.prompt_logprobs_requested = o.prompt_logprobs;
  if (outcome.model.empty()) {  // name the model the server's default resolved to
    grpc::ClientContext info_ctx;
    info_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    tandem::v1::GetInfoResponse info;
    if (stub->GetInfo(&info_ctx, {}, &info).ok()) outcome.model = info.default_model();
  }
  auto reader = stub->Generate(&ctx, req);
  tandem::v1::GenerateResponse resp;
  bool complete = false;
  absl::Status bad_answer;  // a malformed chunk: reported after the stream is finished
  while (reader->Read(&resp)) {
    if (resp.has_chunk()) {
      outcome.token_ids.insert(outcome.token_ids.end(), resp.chunk().token_ids().begin(), resp.chunk().token_ids().end());
      outcome.text += resp.chunk().text();
      outcome.logprobs.insert(outcome.logprobs.end(), resp.chunk().logprobs().begin(), resp.chunk().logprobs().end());
      absl::Status read = ReadAlternatives(resp.chunk().top_logprobs(), "top_logprobs", &outcome.top_logprobs);
      if (read.ok() && resp.chunk().prompt_token_ids_size() > 0) {
        const auto& c = resp.chunk();
        outcome.prompt_token_ids.assign(c.prompt_token_ids().begin(), c.prompt_token_ids().end());
        outcome.prompt_logprobs.assign(c.prompt_logprobs().begin(), c.prompt_logprobs().end());
        read = ReadAlternatives(c.prompt_top_logprobs(), "prompt_top_logprobs", &outcome.prompt_top_logprobs);
      }
      if (!read.ok() && bad_answer.ok()) {
        bad_answer = read;
        ctx.TryCancel();  // the stream then ends; Finish below still runs
      }
      if (!o.json) {
        std::fwrite(resp.chunk().text().data(), 1, resp.chunk().text().size(), stdout);
        std::fflush(stdout);
      }
    } else if (resp.has_complete()) {
      complete = true;
      outcome.text += resp.complete().text_tail();
      if (!o.json) std::fwrite(resp.complete().text_tail().data(), 1, resp.complete().text_tail().size(), stdout);
      outcome.finish_reason = FinishName(resp.complete().finish_reason());
      outcome.stats = services::StatsFromProto(resp.complete().stats());
    }
  }
  grpc::Status status = reader->Finish();
  if (!bad_answer.ok()) return ReportError(bad_answer);
  if (!status.ok()) {
    if (!o.json) std::printf("\n");
    absl::Status s = services::FromPeerStatus(status);
    if (s.code() == absl::StatusCode::kUnavailable) {
      s = absl::UnavailableError(absl::StrCat("--server ", o.server, ": ", status.error_message()));
    }
    return ReportError(s);
  }
  if (!complete) return ReportError(absl::InternalError("stream ended without a final message"));
  if (absl::Status s = CheckLogprobCounts(outcome, o.top_logprobs); !s.ok()) return ReportError(s);
  if (o.json) {
    std::printf("%s\n", OutcomeJson(outcome).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
    std::fflush(stdout);
    Progress(OutcomeSummary(outcome));
    if (o.logprobs) Progress(LogprobsSummary(outcome));
  }
  return kExitOk;
}

}  // namespace tandem::cli
