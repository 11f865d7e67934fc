// libFuzzer target for the real Draft and Target request handlers
// (services/draft/draft_service.cc, services/target/target_service.cc) over a
// small synthetic model: each input is a script of calls, as a misbehaving
// peer could send them, run against live sessions.
//
// Input: records of [op][selector][length lo][length hi][length bytes of a
// serialized request]. `op` picks the RPC; the bytes are parsed as its
// request message. Unless the selector's top bit is set, the request's
// session_id is replaced by one of the sessions this input opened (selector
// picks which), so the fuzzer reaches the paths behind a valid session instead
// of stopping at NOT_FOUND.
//
// Invariants (a violation traps, which libFuzzer reports with the input):
// - no crash, no sanitizer report, no UNKNOWN or INTERNAL status (every
//   failure of a peer's request has a known cause and code);
// - an accepted Verify keeps at most the drafted tokens and returns a token
//   of the vocabulary; a Propose returns at most gamma tokens of the
//   vocabulary; a committed length never exceeds the context by more than
//   the pending token (committed counts the last sampled token, whose KV the
//   next call writes, so the KV itself never exceeds the context);
// - after the script, closing every session it opened leaves both services
//   with no session (nothing leaks, whatever the calls did).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "decoding/local/model_drafter.h"
#include "services/draft/draft_service.h"
#include "services/target/target_service.h"
#include "tests/decoding/fake_lm.h"

namespace {

using tandem::decoding::testing::DraftLogits;
using tandem::decoding::testing::FakeLm;
using tandem::decoding::testing::TargetLogits;

constexpr int32_t kVocab = 48;
constexpr int64_t kContext = 96;
// The pending token (see the invariants above) may be the one that follows
// a full context.
constexpr uint64_t kMaxCommitted = kContext + 1;

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

void CheckCode(const grpc::Status& s) {
  Check(s.error_code() != grpc::StatusCode::UNKNOWN && s.error_code() != grpc::StatusCode::INTERNAL);
}

tandem::v1::ModelInfo Info() {
  tandem::v1::ModelInfo info;
  info.set_name("fuzz");
  info.set_vocab_size(kVocab);
  info.set_context_length(kContext);
  return info;
}

// The services and their models live for the whole process (libFuzzer calls
// the entry point millions of times); each input leaves no session behind.
struct Services {
  FakeLm target_lm{kVocab, TargetLogits, kContext};
  FakeLm draft_lm{kVocab, DraftLogits, kContext};
  tandem::decoding::ModelDrafter drafter{draft_lm, [](int32_t t) { return t == 0; }};
  std::unique_ptr<tandem::services::TargetService> target;
  std::unique_ptr<tandem::services::DraftService> draft;

  Services() {
    tandem::services::TargetServiceOptions t;
    t.info = Info();
    t.is_end_of_generation = [](int32_t id) { return id == 0; };
    target = std::make_unique<tandem::services::TargetService>(target_lm, t);
    tandem::services::DraftServiceOptions d;
    d.info = Info();
    draft = std::make_unique<tandem::services::DraftService>(drafter, d);
  }
};

Services& Get() {
  static Services* services = new Services();  // never destroyed: outlives every input
  return *services;
}

// Points a request at a live session unless the selector keeps the fuzzed id.
template <typename Request>
void Aim(Request& req, uint8_t selector, const std::vector<std::string>& live) {
  if ((selector & 0x80) != 0 || live.empty()) return;
  req.set_session_id(live[selector % live.size()]);
}

template <typename Message>
bool Parse(Message& m, const uint8_t* data, size_t size) {
  return m.ParseFromArray(data, static_cast<int>(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Services& s = Get();
  std::vector<std::string> targets, drafts;  // sessions this input opened
  size_t pos = 0;
  int calls = 0;
  while (pos + 4 <= size && calls < 32) {
    const uint8_t op = data[pos] % 10;
    const uint8_t selector = data[pos + 1];
    size_t len = static_cast<size_t>(data[pos + 2]) | (static_cast<size_t>(data[pos + 3]) << 8);
    pos += 4;
    len = std::min(len, size - pos);
    const uint8_t* body = data + pos;
    pos += len;
    ++calls;
    grpc::ServerContext ctx;
    grpc::Status st;
    switch (op) {
      case 0: {
        tandem::v1::TargetOpenSessionRequest req;
        tandem::v1::TargetOpenSessionResponse resp;
        if (!Parse(req, body, len)) continue;
        st = s.target->OpenSession(&ctx, &req, &resp);
        if (st.ok()) {
          Check(resp.prompt_tokens() <= static_cast<uint64_t>(kContext));
          targets.push_back(resp.session_id());
        }
        break;
      }
      case 1: {
        tandem::v1::VerifyRequest req;
        tandem::v1::VerifyResponse resp;
        if (!Parse(req, body, len)) continue;
        Aim(req, selector, targets);
        st = s.target->Verify(&ctx, &req, &resp);
        if (st.ok()) {
          Check(resp.accepted_count() <= static_cast<uint32_t>(req.draft_tokens_size()));
          Check(resp.next_token() >= 0 && resp.next_token() < kVocab);
          Check(resp.committed_length() <= kMaxCommitted);
        }
        break;
      }
      case 2: {
        tandem::v1::StepRequest req;
        tandem::v1::StepResponse resp;
        if (!Parse(req, body, len)) continue;
        Aim(req, selector, targets);
        st = s.target->Step(&ctx, &req, &resp);
        if (st.ok()) {
          for (int32_t t : resp.token_ids()) Check(t >= 0 && t < kVocab);
          Check(resp.committed_length() <= kMaxCommitted);
        }
        break;
      }
      case 3: {
        tandem::v1::AppendRequest req;
        tandem::v1::AppendResponse resp;
        if (!Parse(req, body, len)) continue;
        Aim(req, selector, targets);
        st = s.target->Append(&ctx, &req, &resp);
        if (st.ok()) Check(resp.committed_length() <= kMaxCommitted);
        break;
      }
      case 4: {
        tandem::v1::TruncateRequest req;
        tandem::v1::TruncateResponse resp;
        if (!Parse(req, body, len)) continue;
        Aim(req, selector, targets);
        st = s.target->Truncate(&ctx, &req, &resp);
        if (st.ok()) Check(resp.committed_length() <= req.length());
        break;
      }
      case 5: {
        tandem::v1::ForkRequest req;
        tandem::v1::ForkResponse resp;
        if (!Parse(req, body, len)) continue;
        Aim(req, selector, targets);
        st = s.target->Fork(&ctx, &req, &resp);
        if (st.ok()) targets.push_back(resp.session_id());
        break;
      }
      case 6: {
        tandem::v1::CloseSessionRequest req;
        tandem::v1::CloseSessionResponse resp;
        if (!Parse(req, body, len)) continue;
        Aim(req, selector, targets);
        st = s.target->CloseSession(&ctx, &req, &resp);
        break;
      }
      case 7: {
        tandem::v1::DraftOpenSessionRequest req;
        tandem::v1::DraftOpenSessionResponse resp;
        if (!Parse(req, body, len)) continue;
        st = s.draft->OpenSession(&ctx, &req, &resp);
        if (st.ok()) drafts.push_back(resp.session_id());
        break;
      }
      case 8: {
        tandem::v1::ProposeRequest req;
        tandem::v1::ProposeResponse resp;
        if (!Parse(req, body, len)) continue;
        Aim(req, selector, drafts);
        st = s.draft->Propose(&ctx, &req, &resp);
        if (st.ok()) {
          Check(req.gamma() == 0 || resp.token_ids_size() <= static_cast<int>(req.gamma()));
          for (int32_t t : resp.token_ids()) Check(t >= 0 && t < kVocab);
          Check(resp.committed_length() <= kMaxCommitted);
        }
        break;
      }
      default: {
        tandem::v1::CloseSessionRequest req;
        tandem::v1::CloseSessionResponse resp;
        if (!Parse(req, body, len)) continue;
        Aim(req, selector, drafts);
        st = s.draft->CloseSession(&ctx, &req, &resp);
        break;
      }
    }
    CheckCode(st);
  }

  // Close everything this input opened (sessions already closed answer
  // found = false); nothing may remain.
  for (const std::string& id : targets) {
    grpc::ServerContext ctx;
    tandem::v1::CloseSessionRequest req;
    tandem::v1::CloseSessionResponse resp;
    req.set_session_id(id);
    CheckCode(s.target->CloseSession(&ctx, &req, &resp));
  }
  for (const std::string& id : drafts) {
    grpc::ServerContext ctx;
    tandem::v1::CloseSessionRequest req;
    tandem::v1::CloseSessionResponse resp;
    req.set_session_id(id);
    CheckCode(s.draft->CloseSession(&ctx, &req, &resp));
  }
  Check(s.target->active_sessions() == 0);
  Check(s.draft->active_sessions() == 0);
  return 0;
}
