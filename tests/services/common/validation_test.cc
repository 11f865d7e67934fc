#include "services/common/validation.h"

#include <gtest/gtest.h>

#include <string>

#include "services/common/status_convert.h"

namespace tandem::services {
namespace {

TEST(ValidationTest, Utf8) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsValidUtf8("\xC3"));                  // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));                  // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));              // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));          // overlong 3-byte
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));          // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));      // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8(std::string("a\xFF", 2)));

  auto s = ValidateUtf8Field("\xC3", "prompt", 100);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().substr(0, 7), "prompt:") << s;
  EXPECT_EQ(ValidateUtf8Field("toolong", "stop[0]", 3).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateUtf8Field("", "stop[0]", 3, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateUtf8Field("ok", "stop[0]", 3, 1).ok());
}

TEST(ValidationTest, RangesAndIds) {
  EXPECT_TRUE(ValidateRange(int64_t{5}, 1, 32, "gamma").ok());
  auto s = ValidateRange(int64_t{33}, 1, 32, "gamma");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("gamma"), std::string::npos);
  EXPECT_EQ(ValidateRange(std::nan(""), 0.0, 1.0, "top_p").code(), absl::StatusCode::kInvalidArgument);

  EXPECT_TRUE(ValidateId("", "request_id", /*allow_empty=*/true).ok());
  EXPECT_FALSE(ValidateId("", "session_id", /*allow_empty=*/false).ok());
  EXPECT_FALSE(ValidateId("has space", "request_id", true).ok());
  EXPECT_FALSE(ValidateId(std::string(129, 'a'), "request_id", true).ok());
  EXPECT_TRUE(ValidateId("req-42_x", "request_id", true).ok());
}

TEST(ValidationTest, TokensAndSampling) {
  google::protobuf::RepeatedField<int32_t> ids;
  ids.Add(1);
  ids.Add(99);
  EXPECT_TRUE(ValidateTokenIds(ids, 100, "prompt_tokens", 1, 10).ok());
  ids.Add(100);
  auto s = ValidateTokenIds(ids, 100, "prompt_tokens", 1, 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("prompt_tokens[2]"), std::string::npos) << s;
  EXPECT_FALSE(ValidateTokenIds(ids, 1000, "prompt_tokens", 4, 10).ok());

  tandem::v1::SamplingParams p;
  EXPECT_TRUE(ValidateSamplingParams(p, 100, "sampling").ok());
  p.set_temperature(0.7f);
  p.set_top_k(50);
  p.set_top_p(0.9f);
  EXPECT_TRUE(ValidateSamplingParams(p, 100, "sampling").ok());
  p.set_top_p(1.5f);
  s = ValidateSamplingParams(p, 100, "sampling");
  EXPECT_NE(s.message().find("sampling.top_p"), std::string::npos) << s;
  p.set_top_p(0.9f);
  p.set_temperature(-1);
  EXPECT_NE(ValidateSamplingParams(p, 100, "sampling").message().find("sampling.temperature"), std::string::npos);
  p.set_temperature(1);
  p.set_top_k(101);
  EXPECT_NE(ValidateSamplingParams(p, 100, "sampling").message().find("sampling.top_k"), std::string::npos);
}

TEST(ValidationTest, StatusConversionKeepsCodeAndMessage) {
  const absl::Status a = absl::InvalidArgumentError("gamma: too big");
  const grpc::Status g = ToGrpcStatus(a);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(g.error_message(), "gamma: too big");
  EXPECT_EQ(FromGrpcStatus(g), a);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_STREQ(StatusCodeName(absl::StatusCode::kResourceExhausted), "RESOURCE_EXHAUSTED");
}

}  // namespace
}  // namespace tandem::services
