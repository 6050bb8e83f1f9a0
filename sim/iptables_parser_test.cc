#include "sim/iptables_parser.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/testing/flow_table.h"

namespace sim {
namespace {

using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

const Chain& GetChain(const Ruleset& r, IpFamily f, const std::string& name) {
  const Table* t = r.FindTable(
      Syntax::kIptables,
      f == IpFamily::kV4 ? TableFamily::kIp : TableFamily::kIp6, "nat");
  EXPECT_NE(t, nullptr);
  return t->chains.at(name);
}

TEST(IptablesParserTest, FixtureRoundTripsRuleText) {
  std::string text =
      testing::ReadTestFile("sim/testdata/cni-portmap-v4.iptables-save");
  absl::StatusOr<Ruleset> r = ParseIptablesSave(text, IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->tables.size(), 1u);
  EXPECT_EQ(r->tables[0].chains.size(), 8u);
  // Each rule prints back as iptables-save wrote it (quoting included).
  std::map<std::string, size_t> seen;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "-A ")) continue;
    std::vector<std::string> parts =
        absl::StrSplit(line, absl::MaxSplits(' ', 2));
    const Chain& c = GetChain(*r, IpFamily::kV4, parts[1]);
    size_t i = seen[parts[1]]++;
    ASSERT_LT(i, c.rules.size());
    EXPECT_EQ(c.rules[i].text, parts[2]);
  }
  EXPECT_EQ(GetChain(*r, IpFamily::kV4, "CNI-HOSTPORT-DNAT").rules[0].text,
            "-p tcp -m comment --comment \"dnat name: \\\"bench\\\" id: "
            "\\\"c1\\\"\" -m multiport --dports 8080 -j "
            "CNI-DN-4cbb58d4f7a53f51ff607");
}

TEST(IptablesParserTest, FormatPrintsWhatIptablesSavePrinted) {
  std::string text =
      testing::ReadTestFile("sim/testdata/cni-portmap-v4.iptables-save");
  absl::StatusOr<Ruleset> r = ParseIptablesSave(text, IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string without_comments;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line.front() != '#') absl::StrAppend(&without_comments, line, "\n");
  }
  std::string printed = FormatIptablesSave(r->tables[0]);
  EXPECT_EQ(printed, without_comments);
  absl::StatusOr<Ruleset> again = ParseIptablesSave(printed, IpFamily::kV4);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(FormatIptablesSave(again->tables[0]), printed);
}

TEST(IptablesParserTest, EveryMatchAndTarget) {
  struct Case {
    const char* spec;
    size_t matches;
    Action::Kind action;
  };
  const std::vector<Case> cases = {
      {"-s 10.0.0.0/8 -d 10.1.2.3 -j ACCEPT", 2, Action::Kind::kAccept},
      {"! -s 10.0.0.0/8 ! -d 10.1.2.3/32 -j DROP", 2, Action::Kind::kDrop},
      {"-i eth0 ! -o veth+ -j RETURN", 2, Action::Kind::kReturn},
      {"-p udp --dport 53 -j DNAT --to-destination 10.0.0.53", 2,
       Action::Kind::kDnat},
      {"-p sctp -m sctp --sport 1000:2000 -j SNAT --to-source 192.0.2.1:5", 2,
       Action::Kind::kSnat},
      {"-p tcp -m multiport --dports 80,443,8000:8080 -j MASQUERADE", 2,
       Action::Kind::kMasquerade},
      {"-p tcp -m multiport --sports 1,2 -j MASQUERADE --random-fully", 2,
       Action::Kind::kMasquerade},
      {"-m addrtype --dst-type LOCAL -m addrtype ! --src-type LOCAL -j X", 2,
       Action::Kind::kJump},
      {"-m comment --comment plain -g X", 0, Action::Kind::kGoto},
      {"-m mark --mark 0x4000/0x4000 -j MARK --set-xmark 0x0/0x4000", 1,
       Action::Kind::kSetMark},
      {"-m mark ! --mark 0x1 -j MARK --set-mark 0x2", 1,
       Action::Kind::kSetMark},
      {"-j MARK --or-mark 0x2", 0, Action::Kind::kSetMark},
      {"-j MARK --and-mark 0x2", 0, Action::Kind::kSetMark},
      {"-j MARK --xor-mark 0x2", 0, Action::Kind::kSetMark},
      {"-m conntrack --ctstate DNAT,NEW -j ACCEPT", 1, Action::Kind::kAccept},
      {"-p tcp -m conntrack --ctorigdstport 80 --ctorigdst 10.0.0.1 -j ACCEPT",
       3, Action::Kind::kAccept},
      {"-m state --state ESTABLISHED,RELATED -j ACCEPT", 1,
       Action::Kind::kAccept},
      {"-p 6 --dport 80 -j ACCEPT", 2, Action::Kind::kAccept},
      {"-p all -j ACCEPT", 0, Action::Kind::kAccept},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Rule> rule = ParseIptablesRule(c.spec, IpFamily::kV4);
    ASSERT_TRUE(rule.ok()) << c.spec << ": " << rule.status();
    EXPECT_EQ(rule->matches.size(), c.matches) << c.spec;
    ASSERT_EQ(rule->actions.size(), 1u) << c.spec;
    EXPECT_EQ(rule->actions[0].kind, c.action) << c.spec;
  }
}

TEST(IptablesParserTest, MarkTargetsAsXmark) {
  struct Case {
    const char* spec;
    uint32_t mask;
    uint32_t xor_value;
  };
  for (const Case& c :
       {Case{"-j MARK --set-xmark 0x2000/0x2000", 0x2000, 0x2000},
        Case{"-j MARK --set-xmark 0x4000/0x0", 0, 0x4000},
        Case{"-j MARK --set-mark 0x1/0xf", 0xf, 0x1},
        Case{"-j MARK --set-mark 0x10", 0xffffffff, 0x10},
        Case{"-j MARK --or-mark 0x10", 0x10, 0x10},
        Case{"-j MARK --and-mark 0xff", 0xffffff00, 0},
        Case{"-j MARK --xor-mark 0x3", 0, 0x3}}) {
    absl::StatusOr<Rule> rule = ParseIptablesRule(c.spec, IpFamily::kV4);
    ASSERT_TRUE(rule.ok()) << c.spec;
    EXPECT_EQ(rule->actions[0].mark_mask, c.mask) << c.spec;
    EXPECT_EQ(rule->actions[0].mark_xor, c.xor_value) << c.spec;
  }
}

TEST(IptablesParserTest, Ipv6Rules) {
  absl::StatusOr<Rule> rule = ParseIptablesRule(
      "-s fd00:88::5/128 -p tcp -m tcp --dport 80 -j DNAT --to-destination "
      "[fd00:88::5]:80",
      IpFamily::kV6);
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(rule->actions[0].nat_address->ToString(), "fd00:88::5");
  EXPECT_EQ(rule->actions[0].nat_port, 80);
  EXPECT_EQ(rule->text,
            "-s fd00:88::5/128 -p tcp -m tcp --dport 80 -j DNAT "
            "--to-destination [fd00:88::5]:80");
  EXPECT_FALSE(ParseIptablesRule("-s 10.0.0.1 -j ACCEPT", IpFamily::kV6).ok());
}

TEST(IptablesParserTest, HeaderOptionsPrintFirstAsIptablesSaveDoes) {
  absl::StatusOr<Rule> rule = ParseIptablesRule(
      "-m comment --comment x -p tcp ! -o eth0 -d 10.0.0.1 --dport 80 -j "
      "ACCEPT",
      IpFamily::kV4);
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(rule->text,
            "-d 10.0.0.1/32 ! -o eth0 -p tcp -m comment --comment x -m tcp "
            "--dport 80 -j ACCEPT");
}

TEST(IptablesParserTest, ImplicitTcpMatchIsPrinted) {
  absl::StatusOr<Rule> rule =
      ParseIptablesRule("-p tcp --dport 80 -j ACCEPT", IpFamily::kV4);
  ASSERT_TRUE(rule.ok());
  EXPECT_EQ(rule->text, "-p tcp -m tcp --dport 80 -j ACCEPT");
}

TEST(IptablesParserTest, RuleErrorsNameTheConstruct) {
  struct Case {
    const char* spec;
    const char* message;
  };
  for (const Case& c : {
           Case{"-m statistic --mode random -j X", "-m statistic"},
           Case{"-j TPROXY", "unsupported target \"-j TPROXY\""},
           Case{"-j NFLOG --nflog-group 1", "-j NFLOG"},
           Case{"--fragment -j ACCEPT", "unsupported option \"--fragment\""},
           Case{"--dport 80 -j ACCEPT", "--dport needs -p tcp, udp or sctp"},
           Case{"-m tcp --dport 80 -j ACCEPT", "-m tcp needs -p tcp"},
           Case{"-p tcp --dports 80 -j ACCEPT", "--dports needs -m multiport"},
           Case{"-p tcp --dport 99999 -j ACCEPT", "\"99999\""},
           Case{"-s 10.0.0.300 -j ACCEPT", "\"10.0.0.300\""},
           Case{"-j DNAT", "--to-destination"},
           Case{"-j DNAT --to-destination 10.0.0.0/24", "10.0.0.0/24"},
           Case{"-j MASQUERADE --to-ports 80", "--to-ports"},
           Case{"-j MARK", "--set-xmark"},
           Case{"-m addrtype --dst-type BLACKHOLE -j X", "BLACKHOLE"},
           Case{"-m mark --mark zz -j X", "\"zz\""},
           Case{"-m comment --comment \"open -j ACCEPT", "unterminated"},
           Case{"-j ACCEPT -j DROP", "more than one"},
           Case{"! -j ACCEPT", "\"!\" before -j"},
           Case{"-s", "-s needs a value"},
           Case{"-p icmp -j DNAT --to-destination 10.0.0.1:80", "with a port"},
       }) {
    absl::StatusOr<Rule> rule = ParseIptablesRule(c.spec, IpFamily::kV4);
    ASSERT_FALSE(rule.ok()) << c.spec;
    EXPECT_THAT(Msg(rule.status()), HasSubstr(c.message)) << c.spec;
  }
}

constexpr char kBase[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KEEP - [0:0]
:MINE - [0:0]
-A PREROUTING -j MINE
-A PREROUTING -j KEEP
-A KEEP -p tcp --dport 1 -j ACCEPT
-A MINE -p tcp --dport 2 -j ACCEPT
-A MINE -p tcp --dport 3 -j ACCEPT
COMMIT
)";

TEST(IptablesRestoreTest, NoflushFlushesDeclaredChainsOnly) {
  absl::StatusOr<Ruleset> r = ParseIptablesSave(kBase, IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  IptablesParseOptions o;
  o.noflush = true;
  ASSERT_TRUE(ApplyIptablesRestore(R"(*nat
:MINE - [0:0]
:NEW - [0:0]
-A MINE -p tcp --dport 4 -j NEW
-A PREROUTING -j NEW
COMMIT
)",
                                   o, &*r)
                  .ok());
  EXPECT_EQ(GetChain(*r, IpFamily::kV4, "MINE").rules.size(), 1u);
  EXPECT_EQ(GetChain(*r, IpFamily::kV4, "KEEP").rules.size(), 1u);
  EXPECT_EQ(GetChain(*r, IpFamily::kV4, "PREROUTING").rules.size(), 3u);
  EXPECT_EQ(GetChain(*r, IpFamily::kV4, "NEW").rules.size(), 0u);

  // Without --noflush the table is replaced.
  o.noflush = false;
  ASSERT_TRUE(ApplyIptablesRestore("*nat\n:X - [0:0]\nCOMMIT\n", o, &*r).ok());
  const Table* t = r->FindTable(Syntax::kIptables, TableFamily::kIp, "nat");
  EXPECT_EQ(t->chains.count("KEEP"), 0u);
  EXPECT_EQ(t->chains.count("X"), 1u);
  EXPECT_EQ(t->chains.at("PREROUTING").rules.size(), 0u);
}

TEST(IptablesRestoreTest, Commands) {
  absl::StatusOr<Ruleset> r = ParseIptablesSave(kBase, IpFamily::kV4);
  ASSERT_TRUE(r.ok());
  IptablesParseOptions o;
  o.noflush = true;
  absl::Status s = ApplyIptablesRestore(R"(*nat
-D MINE -p tcp --dport 2 -j ACCEPT
-I MINE 1 -p tcp --dport 9 -j ACCEPT
-I MINE -p tcp --dport 8 -j ACCEPT
-R MINE 3 -p tcp --dport 7 -j ACCEPT
-N FRESH
-A FRESH -j RETURN
-F FRESH
-X FRESH
-D PREROUTING 2
-F KEEP
-X KEEP
-P OUTPUT DROP
COMMIT
)",
                                        o, &*r);
  ASSERT_TRUE(s.ok()) << s;
  const Chain& mine = GetChain(*r, IpFamily::kV4, "MINE");
  ASSERT_EQ(mine.rules.size(), 3u);
  EXPECT_EQ(mine.rules[0].text, "-p tcp -m tcp --dport 8 -j ACCEPT");
  EXPECT_EQ(mine.rules[1].text, "-p tcp -m tcp --dport 9 -j ACCEPT");
  EXPECT_EQ(mine.rules[2].text, "-p tcp -m tcp --dport 7 -j ACCEPT");
  const Table* t = r->FindTable(Syntax::kIptables, TableFamily::kIp, "nat");
  EXPECT_EQ(t->chains.count("KEEP"), 0u);
  EXPECT_EQ(t->chains.count("FRESH"), 0u);
  EXPECT_TRUE(t->chains.at("OUTPUT").policy_drop);
}

TEST(IptablesRestoreTest, ErrorsNameLineAndConstructAndChangeNothing) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"*nat\n-A NOPE -j ACCEPT\nCOMMIT\n", "x:2: no chain \"NOPE\""},
           Case{"*nat\n-A MINE -j GHOST\nCOMMIT\n", "line 2: \"-j GHOST\""},
           Case{"*nat\n-A MINE -m u32 --u32 0 -j ACCEPT\nCOMMIT\n",
                "x:2: unsupported match module \"-m u32\""},
           Case{"*nat\n-A MINE -j ACCEPT\n", "has no COMMIT"},
           Case{"-A MINE -j ACCEPT\n", "x:1: command outside a *table block"},
           Case{"*nat\n-D MINE -p tcp --dport 77 -j ACCEPT\nCOMMIT\n",
                "no rule \"-p tcp -m tcp --dport 77 -j ACCEPT\""},
           Case{"*nat\n-D MINE 9\nCOMMIT\n", "no such rule number"},
           Case{"*nat\n-X MINE\nCOMMIT\n", "not empty"},
           Case{"*nat\n-F MINE\n-X MINE\nCOMMIT\n", "still referenced"},
           Case{"*nat\n-N KEEP\nCOMMIT\n", "already exists"},
           Case{"*nat\n:MINE ACCEPT [0:0]\nCOMMIT\n", "declared with policy"},
           Case{"*nat\n:PREROUTING REJECT [0:0]\nCOMMIT\n", "\"REJECT\""},
           Case{"*nat\n-Z\nCOMMIT\n", "unsupported command \"-Z\""},
           Case{"*bogus\nCOMMIT\n", "unknown table \"bogus\""},
           Case{"*nat\n*nat\n", "before COMMIT"},
           Case{"*nat\n-I MINE 9 -j ACCEPT\nCOMMIT\n", "too big"},
       }) {
    absl::StatusOr<Ruleset> r = ParseIptablesSave(kBase, IpFamily::kV4);
    ASSERT_TRUE(r.ok());
    Ruleset before = *r;
    IptablesParseOptions o;
    o.noflush = true;
    o.source = "x";
    absl::Status s = ApplyIptablesRestore(c.text, o, &*r);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_THAT(Msg(s), HasSubstr(c.message)) << c.text;
    EXPECT_EQ(GetChain(*r, IpFamily::kV4, "MINE").rules.size(), 2u) << c.text;
  }
}

TEST(IptablesRestoreTest, FilterIsParsedOtherTablesAreSkippedWithANote) {
  absl::StatusOr<Ruleset> r = ParseIptablesSave(R"(*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -j MARK --set-xmark 0x1/0x1
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
-A INPUT -m u32 --u32 0x0=0x1 -j ACCEPT
-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
COMMIT
)",
                                                IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->tables.size(), 2u);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_THAT(r->notes[0], HasSubstr("table mangle (family 4) ignored"));
  const Table* filter =
      r->FindTable(Syntax::kIptables, TableFamily::kIp, "filter");
  ASSERT_NE(filter, nullptr);
  EXPECT_EQ(filter->chains.count("PREROUTING"), 0u);
  const Chain& forward = filter->chains.at("FORWARD");
  EXPECT_TRUE(forward.policy_drop);
  EXPECT_EQ(forward.hook, Hook::kForward);
  EXPECT_EQ(forward.type, "filter");
  ASSERT_EQ(forward.rules.size(), 1u);
  EXPECT_TRUE(forward.rules[0].unsupported.empty());
  // Unmodelled filter rules are kept as placeholders, refused when reached.
  const Chain& input = filter->chains.at("INPUT");
  ASSERT_EQ(input.rules.size(), 1u);
  EXPECT_THAT(input.rules[0].unsupported, HasSubstr("u32"));
  EXPECT_EQ(input.rules[0].text, "-m u32 --u32 0x0=0x1 -j ACCEPT");
}

TEST(IptablesRestoreTest, FamilyMarkersAndCounters) {
  absl::StatusOr<Ruleset> r = ParseIptablesSave(R"(# family 4
*nat
:PREROUTING ACCEPT [0:0]
[5:300] -A PREROUTING -d 192.0.2.10/32 -j ACCEPT
COMMIT
# family 6
*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -d 2001:db8::10/128 -j ACCEPT
COMMIT
)",
                                                IpFamily::kV4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tables.size(), 2u);
  EXPECT_EQ(GetChain(*r, IpFamily::kV6, "PREROUTING").rules.size(), 1u);
}

TEST(IptablesParserTest, GuessesFamily) {
  EXPECT_EQ(GuessIptablesFamily("*nat\n-A X -j DNAT --to-destination "
                                "[fd00::5]:80\n"),
            IpFamily::kV6);
  EXPECT_EQ(GuessIptablesFamily("*nat\n-A X -s 10.0.0.0/8 -j RETURN\n"),
            IpFamily::kV4);
  EXPECT_EQ(GuessIptablesFamily("# Generated by ip6tables-save v1.8.9\n*nat\n"),
            IpFamily::kV6);
  EXPECT_EQ(GuessIptablesFamily("*nat\n-A X -j RETURN\n"), std::nullopt);
}

TEST(IptablesParserTest, QuotesAsIptablesSave) {
  EXPECT_EQ(IptablesQuote("plain-word_1"), "plain-word_1");
  EXPECT_EQ(IptablesQuote("two words"), "\"two words\"");
  EXPECT_EQ(IptablesQuote("a \"b\" \\ 'c'"), "\"a \\\"b\\\" \\\\ \\'c\\'\"");
  EXPECT_EQ(IptablesQuote(""), "\"\"");
  absl::StatusOr<std::vector<std::string>> tokens =
      SplitIptablesLine("-m comment --comment \"a \\\"b\\\"\" -j X");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ((*tokens)[3], "a \"b\"");
  EXPECT_TRUE(LooksLikeIptablesText("# x\n\n*nat\n"));
  EXPECT_FALSE(LooksLikeIptablesText("table ip x {}\n"));
}

}  // namespace
}  // namespace sim
