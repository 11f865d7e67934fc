// The statistics have one layout everywhere: the C++ JSON writer
// (decoding/spec/request_stats_json) must print exactly what the proto's JSON
// mapping prints, and the converter must carry every proto field. These
// tests fail when a counter is added to one place and forgotten in another.
#include "services/common/stats_convert.h"

#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "decoding/spec/request_stats_json.h"

namespace tandem::services {
namespace {

namespace spec = decoding::spec;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Every field set to a distinct non-default value, every section declared.
spec::RequestStats FullStats() {
  spec::RequestStats s;
  s.strategy = "rsd";
  s.drafter = "model";
  s.prompt_tokens = 11;
  s.generated_tokens = 12;
  s.target_calls = 13;
  s.draft_calls = 14;
  s.time_to_first_token_ms = 1.5;
  s.e2e_latency_ms = 20.25;
  s.draft_time_ms = 3.5;
  s.target_time_ms = 4.5;
  s.decode_tokens_per_s = 99.5;
  s.fallback = "draft unavailable: gone";
  s.flops = {1e6, 2e6, 3e6};
  s.sections = spec::kStatsSpeculation | spec::kStatsRetrieval | spec::kStatsReward | spec::kStatsCards |
               spec::kStatsRsd;
  s.speculation.RecordRound(3, 2);
  s.speculation.RecordRound(2, 1);
  s.speculation.final_gamma = 3;
  s.speculation.RecordGamma(3, "acceptance");
  s.speculation.RecordGamma(0, "load");
  s.speculation.RecordGamma(3, "acceptance");
  s.retrieval = {1000, 3, 300, 350, 7.5};
  s.reward.calls = 5;
  s.reward.items = 6;
  s.reward.time_ms = 8.5;
  s.reward.final_reward = 0.75;
  s.cards.segments_proposed = 9;
  s.cards.segments_accepted = 4;
  s.cards.segments_rejected = 5;
  s.cards.segments_forced = 1;
  s.cards.rejections_per_segment = {0, 2, 3};
  s.cards.r_star = 0.6;
  s.rsd.steps = 4;
  s.rsd.steps_drafted = 3;
  s.rsd.steps_accepted = 2;
  s.rsd.steps_target = 2;
  s.rsd.draft_tokens_accepted = 10;
  s.rsd.draft_tokens_discarded = 5;
  s.rsd.target_tokens = 7;
  s.rsd.step_rewards = {0.25, 0.5, 0.75};
  s.rsd.target_step_fraction = 0.5;
  return s;
}

nlohmann::json ProtoJson(const tandem::v1::Stats& p) {
  absl::StatusOr<std::string> json = StatsToJson(p);
  EXPECT_TRUE(json.ok()) << json.status();
  return nlohmann::json::parse(json.ok() ? *json : "{}");
}

// Every field of `m` (recursively) holds a non-default value.
void ExpectEveryFieldSet(const Message& m, const std::string& path) {
  const auto* reflection = m.GetReflection();
  for (int i = 0; i < m.GetDescriptor()->field_count(); ++i) {
    const FieldDescriptor* f = m.GetDescriptor()->field(i);
    const std::string name = path + f->name();
    if (f->is_repeated()) {
      EXPECT_GT(reflection->FieldSize(m, f), 0) << name << " is empty: the converter does not carry it";
      continue;
    }
    if (f->has_presence()) {
      EXPECT_TRUE(reflection->HasField(m, f)) << name << " is unset: the converter does not carry it";
    }
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE:
        ExpectEveryFieldSet(reflection->GetMessage(m, f), name + ".");
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        EXPECT_FALSE(reflection->GetString(m, f).empty()) << name;
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        EXPECT_NE(reflection->GetUInt32(m, f), 0u) << name;
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        EXPECT_NE(reflection->GetDouble(m, f), 0.0) << name;
        break;
      default:
        ADD_FAILURE() << name << ": field type not covered by this test";
    }
  }
}

TEST(StatsConvert, EveryProtoFieldIsCarried) {
  tandem::v1::Stats p;
  StatsToProto(FullStats(), &p);
  ExpectEveryFieldSet(p, "");
}

TEST(StatsConvert, CppJsonEqualsProtoJson) {
  const spec::RequestStats s = FullStats();
  tandem::v1::Stats p;
  StatsToProto(s, &p);
  EXPECT_EQ(spec::StatsJson(s), ProtoJson(p));
}

TEST(StatsConvert, RoundTripThroughTheProtoKeepsEverything) {
  const spec::RequestStats s = FullStats();
  tandem::v1::Stats p;
  StatsToProto(s, &p);
  EXPECT_EQ(spec::StatsJson(StatsFromProto(p)), spec::StatsJson(s));
}

TEST(StatsConvert, OnlyDeclaredSectionsAreSent) {
  spec::RequestStats s = FullStats();
  s.sections = spec::kStatsReward;
  s.decode_tokens_per_s.reset();
  s.reward.final_reward.reset();
  tandem::v1::Stats p;
  StatsToProto(s, &p);
  EXPECT_TRUE(p.has_reward());
  EXPECT_FALSE(p.has_speculation() || p.has_retrieval() || p.has_cards() || p.has_rsd());
  EXPECT_FALSE(p.has_decode_tokens_per_s());
  EXPECT_FALSE(p.reward().has_final_reward());
  const nlohmann::json j = spec::StatsJson(s);
  EXPECT_EQ(j, ProtoJson(p));
  EXPECT_TRUE(j.contains("reward"));
  EXPECT_FALSE(j.contains("speculation"));
  EXPECT_FALSE(j.contains("decode_tokens_per_s"));
  EXPECT_FALSE(j["reward"].contains("final_reward"));
  EXPECT_EQ(j["flops"]["total"], 6e6);
}

TEST(StatsConvert, DerivedSpeculationRates) {
  tandem::v1::Stats p;
  StatsToProto(FullStats(), &p);
  // Rounds (3 drafted, 2 accepted) and (2, 1).
  EXPECT_EQ(p.speculation().num_drafts(), 2u);
  EXPECT_DOUBLE_EQ(p.speculation().acceptance_rate(), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(p.speculation().mean_acceptance_length(), 1.0 + 3.0 / 2.0);
  ASSERT_EQ(p.speculation().acceptance_per_position_size(), 3);
  EXPECT_DOUBLE_EQ(p.speculation().acceptance_per_position(0), 1.0);
  EXPECT_DOUBLE_EQ(p.speculation().acceptance_per_position(1), 0.5);
  EXPECT_DOUBLE_EQ(p.speculation().acceptance_per_position(2), 0.0);
}

TEST(StatsConvert, SectionNamesAreStatsMessageFields) {
  const auto* descriptor = tandem::v1::Stats::descriptor();
  const std::vector<std::string> names = StatsSectionNames(~0u);
  EXPECT_EQ(names.size(), 5u);
  for (const std::string& name : names) {
    const FieldDescriptor* f = descriptor->FindFieldByName(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->cpp_type(), FieldDescriptor::CPPTYPE_MESSAGE) << name;
  }
  EXPECT_EQ(StatsSectionNames(spec::kStatsSpeculation | spec::kStatsRetrieval),
            (std::vector<std::string>{"speculation", "retrieval"}));
  EXPECT_TRUE(StatsSectionNames(0).empty());
}

TEST(StatsConvert, CountersClampInsteadOfWrapping) {
  spec::RequestStats s;
  s.generated_tokens = int64_t{1} << 40;
  s.prompt_tokens = -1;
  tandem::v1::Stats p;
  StatsToProto(s, &p);
  EXPECT_EQ(p.generated_tokens(), UINT32_MAX);
  EXPECT_EQ(p.prompt_tokens(), 0u);
}

}  // namespace
}  // namespace tandem::services
