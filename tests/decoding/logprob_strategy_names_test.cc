// The strategies named in the errors that refuse logprobs-based requests
// come from the registry (StrategyDefinition::logprobs), not from a list
// kept by hand beside each error.
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "decoding/registry/strategy_registry.h"

namespace tandem::decoding {
namespace {

TEST(LogprobStrategyNames, NamesExactlyTheStrategiesThatReportLogprobs) {
  std::vector<std::string> expected;
  for (const StrategyDefinition* s : Strategies()) {
    if (s->logprobs()) expected.emplace_back(s->name());
  }
  ASSERT_GE(expected.size(), 2u) << "target_only and speculative report logprobs";
  // "a, b and c": the last name after " and ", the others before it
  // separated by ", ".
  const std::string names = LogprobStrategyNames();
  const size_t and_at = names.rfind(" and ");
  ASSERT_NE(and_at, std::string::npos) << names;
  std::vector<std::string> got = absl::StrSplit(names.substr(0, and_at), ", ");
  got.push_back(names.substr(and_at + 5));
  EXPECT_EQ(got, expected) << LogprobStrategyNames();
}

TEST(LogprobStrategyNames, TargetOnlyAndSpeculativeButNotDraftOnly) {
  const std::string names = LogprobStrategyNames();
  EXPECT_NE(names.find("target_only"), std::string::npos) << names;
  EXPECT_NE(names.find("speculative"), std::string::npos) << names;
  EXPECT_EQ(names.find("draft_only"), std::string::npos) << names;
}

}  // namespace
}  // namespace tandem::decoding
