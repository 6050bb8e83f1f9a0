#include "sim/ruleset_text.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sim {
namespace {

using ::testing::HasSubstr;

TEST(RulesetTextTest, DetectsSyntaxAndFamily) {
  Ruleset r;
  ASSERT_TRUE(ApplyRulesetText("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING "
                               "-d fd00::1/128 -j ACCEPT\nCOMMIT\n",
                               "v6.rules", std::nullopt, &r)
                  .ok());
  ASSERT_TRUE(
      ApplyRulesetText("table inet t {\n}\n", "t.nft", std::nullopt, &r).ok());
  ASSERT_TRUE(ApplyRulesetText("\n", "empty", std::nullopt, &r).ok());
  ASSERT_EQ(r.tables.size(), 2u);
  EXPECT_EQ(r.tables[0].family, TableFamily::kIp6);
  EXPECT_EQ(r.tables[1].syntax, Syntax::kNft);
}

TEST(RulesetTextTest, FilesStackWithNoflush) {
  Ruleset r;
  const char* first =
      "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j ACCEPT\nCOMMIT\n";
  ASSERT_TRUE(ApplyRulesetText(first, "a", IpFamily::kV4, &r).ok());
  ASSERT_TRUE(ApplyRulesetText(first, "b", IpFamily::kV4, &r).ok());
  EXPECT_EQ(r.tables[0].chains.at("PREROUTING").rules.size(), 2u);
}

TEST(RulesetTextTest, UnknownFamilyIsANoteAndUnknownSyntaxAnError) {
  Ruleset r;
  ASSERT_TRUE(
      ApplyRulesetText("*nat\nCOMMIT\n", "x.rules", std::nullopt, &r).ok());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_THAT(r.notes[0], HasSubstr("x.rules: nothing tells the family"));
  absl::Status s = ApplyRulesetText("hello\n", "y", std::nullopt, &r);
  EXPECT_THAT(std::string(s.message()), HasSubstr("y: neither"));
  s = ApplyRulesetText("*nat\n-A NOPE\nCOMMIT\n", "z", std::nullopt, &r);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(r.notes.size(), 1u);
}

}  // namespace
}  // namespace sim
