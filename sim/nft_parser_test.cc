#include "sim/nft_parser.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sim {
namespace {

using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// `nft list ruleset` output captured after loading a script that uses every
// construct the simulator models (nft 1.0.6).
constexpr char kListing[] = R"(table ip t {
	map m {
		type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
		elements = { 192.0.2.10 . tcp . 8080 comment "abc" : 10.88.0.5 . 80 }
	}

	map m2 {
		type inet_proto . inet_service : ipv4_addr . inet_service
	}

	set h {
		type ipv4_addr . ipv4_addr
		elements = { 10.88.0.5 . 10.88.0.5 comment "x" }
	}

	set nets {
		type ipv4_addr
		flags interval
		elements = { 10.0.0.0/8, 192.168.1.1-192.168.1.9 }
	}

	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local goto hp
	}

	chain hp {
		dnat ip to ip daddr . meta l4proto . th dport map @m
		dnat ip to meta l4proto . th dport map @m2
		meta mark set meta mark | 0x00004000 counter packets 0 bytes 0
		ct state established,related accept
		tcp dport { 80, 443 } iifname "eth*" ip saddr != 10.0.0.0/8 dnat to 10.0.0.5:80
		ip daddr vmap { 10.0.0.1 : jump hp2, 10.0.0.2 : drop }
		meta mark & 0x00004000 == 0x00004000 return
		ip saddr @nets ip saddr != @nets accept
	}

	chain hp2 {
		udp dport 53 dnat to 10.0.0.1
	}

	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ct status & dnat == dnat ip saddr . ip daddr @h masquerade
		ct status dnat masquerade
		meta mark set 0x00000010
		meta mark set meta mark & 0xffffbfff
		oifname "eth0" snat to 192.0.2.10
	}
}
table ip6 t6 {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 80 dnat to [fd00::5]:80
		ip6 daddr fd00::1 meta l4proto tcp dnat to fd00::6
	}
}
table inet ti {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		meta nfproto ipv4 tcp dport 80 dnat ip to 10.0.0.5:80
		tcp dport 81 dnat ip6 to [fd00::5]:80
	}
}
)";

TEST(NftParserTest, ParsesTheListing) {
  absl::StatusOr<Ruleset> r = ParseNftRuleset(kListing, "listing");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->tables.size(), 3u);
  const Table& t = r->tables[0];
  EXPECT_TRUE(t.unsupported.ok()) << t.unsupported;
  EXPECT_EQ(t.Label(), "ip t");
  EXPECT_EQ(t.sets.at("m").size(), 1u);
  EXPECT_EQ(t.sets.at("m").key_types().size(), 3u);
  EXPECT_EQ(t.sets.at("m").data_types().size(), 2u);
  EXPECT_EQ(t.sets.at("m").elements()[0]->comment, "abc");
  EXPECT_EQ(t.sets.at("m2").size(), 0u);
  EXPECT_EQ(t.sets.at("nets").size(), 2u);
  const Chain& pre = t.chains.at("pre");
  EXPECT_TRUE(pre.is_base);
  EXPECT_EQ(pre.type, "nat");
  EXPECT_EQ(pre.hook, Hook::kPrerouting);
  EXPECT_EQ(pre.priority, -100);
  EXPECT_EQ(t.chains.at("post").priority, 100);
  EXPECT_EQ(t.chains.at("hp").rules.size(), 8u);
  EXPECT_EQ(t.chains.at("post").rules.size(), 5u);
  EXPECT_EQ(t.chains.at("hp").rules[0].text,
            "dnat ip to ip daddr . meta l4proto . th dport map @m");
  const Action& mark = t.chains.at("hp").rules[2].actions[0];
  EXPECT_EQ(mark.kind, Action::Kind::kSetMark);
  EXPECT_EQ(mark.mark_mask, 0x4000u);
  EXPECT_EQ(mark.mark_xor, 0x4000u);
  const Action& clear = t.chains.at("post").rules[2].actions[0];
  EXPECT_EQ(clear.mark_mask, 0xffffffffu);
  EXPECT_EQ(clear.mark_xor, 0x10u);
  const Action& and_mark = t.chains.at("post").rules[3].actions[0];
  EXPECT_EQ(and_mark.mark_mask, 0x4000u);
  EXPECT_EQ(and_mark.mark_xor, 0u);
  EXPECT_TRUE(r->tables[1].unsupported.ok()) << r->tables[1].unsupported;
  EXPECT_TRUE(r->tables[2].unsupported.ok()) << r->tables[2].unsupported;
}

TEST(NftParserTest, ScriptCommands) {
  Ruleset r;
  absl::Status s = ApplyNftScript(R"(add table ip crio-hostports
add map ip crio-hostports hostports { type inet_proto . inet_service : ipv4_addr . inet_service ; }
add chain ip crio-hostports prerouting { type nat hook prerouting priority -100 ; policy accept ; }
add chain ip crio-hostports hostports
add rule ip crio-hostports prerouting fib daddr type local goto hostports
add rule ip crio-hostports hostports dnat ip to meta l4proto . th dport map @hostports
insert rule ip crio-hostports hostports counter
add element ip crio-hostports hostports { tcp . 8080 comment "a" : 10.88.0.5 . 80, udp . 53 : 10.88.0.5 . 53 }
delete element ip crio-hostports hostports { udp . 53 }
)",
                                  "script", &r);
  ASSERT_TRUE(s.ok()) << s;
  Table* t = r.FindTable(Syntax::kNft, TableFamily::kIp, "crio-hostports");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->sets.at("hostports").size(), 1u);
  ASSERT_EQ(t->chains.at("hostports").rules.size(), 2u);
  EXPECT_EQ(t->chains.at("hostports").rules[0].text, "counter");
  uint64_t handle = t->chains.at("hostports").rules[0].handle;

  s = ApplyNftScript(
      absl::StrCat("delete rule ip crio-hostports hostports handle ", handle,
                   "\nflush chain ip crio-hostports prerouting\n"),
      "script2", &r);
  ASSERT_TRUE(s.ok()) << s;
  t = r.FindTable(Syntax::kNft, TableFamily::kIp, "crio-hostports");
  EXPECT_EQ(t->chains.at("hostports").rules.size(), 1u);
  EXPECT_EQ(t->chains.at("prerouting").rules.size(), 0u);

  ASSERT_TRUE(ApplyNftScript("flush table ip crio-hostports\n", "s", &r).ok());
  t = r.FindTable(Syntax::kNft, TableFamily::kIp, "crio-hostports");
  EXPECT_EQ(t->sets.at("hostports").size(), 0u);
  ASSERT_TRUE(ApplyNftScript("delete table ip crio-hostports\n", "s", &r).ok());
  EXPECT_TRUE(r.tables.empty());
}

TEST(NftParserTest, TableBlocksMergeLikeNftF) {
  Ruleset r;
  ASSERT_TRUE(
      ApplyNftScript("table inet x {\n chain c {\n accept\n }\n}\n", "a", &r)
          .ok());
  ASSERT_TRUE(
      ApplyNftScript("table inet x {\n chain c {\n drop\n }\n}\n", "b", &r)
          .ok());
  EXPECT_EQ(r.tables.size(), 1u);
  EXPECT_EQ(r.tables[0].chains.at("c").rules.size(), 2u);
}

TEST(NftParserTest, SyntaxErrorsNameLineAndChangeNothing) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"table ip x {\n chain c {\n comment \"open\n }\n}\n",
                "s:3: unterminated string"},
           Case{"table ip x {\n chain c {\n", "unterminated chain"},
           Case{"list ruleset\n", "s:1: unsupported command at \"list\""},
           Case{"add rule ip nope c accept\n", "no table ip nope"},
           Case{"add table ip x\nadd rule ip x c accept\n", "no chain c"},
           Case{"add table ip x\nadd element ip x s { 1 }\n",
                "no set or map s"},
           Case{"add table ip x\nadd set ip x s { type ipv4_addr ; }\n"
                "delete element ip x s { 10.0.0.1 }\n",
                "no element \"10.0.0.1\""},
           Case{"add table ip x\nadd set ip x s { type ipv4_addr ; }\n"
                "add element ip x s { 10.0.0.1, 10.0.0.1 }\n",
                "duplicate element \"10.0.0.1\""},
           Case{"add table ip x\nadd map ip x m { type ipv4_addr ; }\n",
                "map m needs a data type"},
           Case{"table ip x {\n chain c {\n type nat hook prerouting priority "
                "high;\n }\n}\n",
                "invalid priority"},
           Case{
               "table ip x {\n chain c {\n type nat hook prerouting priority 0;"
               " policy maybe;\n }\n}\n",
               "invalid policy"},
           Case{"create table ip x\ncreate table ip x\n", "already exists"},
       }) {
    Ruleset r;
    r.notes.push_back("before");
    absl::Status s = ApplyNftScript(c.text, "s", &r);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_THAT(Msg(s), HasSubstr(c.message)) << c.text;
    EXPECT_TRUE(r.tables.empty()) << c.text;
  }
}

// A set of a type the simulator lacks is no parse error: it is recorded, and
// only a rule that uses it is kept unmodelled.
TEST(NftParserTest, UnmodelledSetsAreRecordedNotFatal) {
  Ruleset r;
  absl::Status s = ApplyNftScript(
      "add table ip x\nadd set ip x s { type ether_addr ; }\n"
      "add element ip x s { 02:00:00:00:00:01 }\n"
      "add chain ip x c\nadd rule ip x c ip saddr @s accept\n",
      "s", &r);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(r.tables[0].sets.count("s"), 0u);
  EXPECT_THAT(r.tables[0].unsupported_sets["s"], HasSubstr("\"ether_addr\""));
  EXPECT_THAT(r.tables[0].unsupported_sets["s"], HasSubstr("line 2"));
  EXPECT_THAT(r.tables[0].chains["c"].rules[0].unsupported,
              HasSubstr("set \"s\" is not modelled"));
}

TEST(NftParserTest, UnsupportedConstructsAreKeptOnTheirRule) {
  struct Case {
    const char* rule;
    const char* message;
  };
  for (const Case& c : {
           Case{"tcp dport 80 meta cpu 0 accept", "\"meta cpu\""},
           Case{"tcp dport 80 tproxy to :8080", "\"tproxy\""},
           Case{"tcp dport 80 ip dscp cs1 accept", "\"ip dscp\""},
           Case{"tcp dport > 1024 accept", "comparison"},
           Case{"ip dscp 1 accept", "\"ip dscp\""},
           Case{"ct helper \"ftp\" accept", "\"ct helper\""},
           Case{"ip6 saddr ::1 accept", "ip6 expression in a ip table"},
           Case{"ip saddr @missing accept", "no set or map \"missing\""},
           Case{"masquerade to :1000", "needs a transport protocol match"},
           Case{"tcp dport 99999 accept", "99999"},
           Case{"xt target \"DNAT\"", "xt target \"DNAT\""},
       }) {
    Ruleset r;
    absl::Status s = ApplyNftScript(
        absl::StrCat("table ip x {\n\tchain c {\n\t\t", c.rule, "\n\t}\n}\n"),
        "s", &r);
    ASSERT_TRUE(s.ok()) << c.rule << ": " << s;
    ASSERT_EQ(r.tables.size(), 1u);
    EXPECT_TRUE(r.tables[0].unsupported.ok()) << c.rule;
    const std::vector<Rule>& rules = r.tables[0].chains["c"].rules;
    ASSERT_EQ(rules.size(), 1u) << c.rule;
    EXPECT_EQ(rules[0].text, c.rule);
    EXPECT_TRUE(rules[0].matches.empty() && rules[0].actions.empty());
    EXPECT_THAT(rules[0].unsupported, HasSubstr("line 3")) << c.rule;
    EXPECT_THAT(rules[0].unsupported, HasSubstr(c.message)) << c.rule;
  }
}

TEST(NftParserTest, OtherFamiliesAreSkippedWithANote) {
  absl::StatusOr<Ruleset> r = ParseNftRuleset(
      "table bridge b {\n\tchain c {\n\t\ttype filter hook forward priority "
      "0;\n\t\tether type arp accept\n\t}\n}\n",
      "s");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->tables.empty());
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_THAT(r->notes[0], HasSubstr("table bridge b ignored"));
}

TEST(NftParserTest, TypeofAndVerdictMaps) {
  absl::StatusOr<Ruleset> r = ParseNftRuleset(R"(table ip x {
	map vm {
		typeof ip daddr . tcp dport : verdict
		elements = { 10.0.0.1 . 80 : goto c }
	}
	chain c {
		ip daddr . tcp dport vmap @vm
	}
}
)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->tables[0].unsupported.ok()) << r->tables[0].unsupported;
  const ElementSet& vm = r->tables[0].sets.at("vm");
  EXPECT_TRUE(vm.is_verdict_map());
  EXPECT_EQ(vm.elements()[0]->verdict.kind, VerdictSpec::Kind::kGoto);
}

TEST(NftParserTest, DetectsSyntax) {
  EXPECT_TRUE(LooksLikeNftText("# x\ntable ip t {\n}\n"));
  EXPECT_TRUE(LooksLikeNftText("add element ip t m { 1 }\n"));
  EXPECT_FALSE(LooksLikeNftText("*nat\n"));
}

}  // namespace
}  // namespace sim

namespace sim {
namespace {

// Found by the token-soup property: a form feed made the lexer emit empty
// words forever.
TEST(NftParserTest, AnyAsciiWhitespaceSeparates) {
  absl::StatusOr<Ruleset> r = ParseNftRuleset("table\fip\vx\t{\r\n}\n", "ws");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tables.size(), 1u);
  EXPECT_FALSE(ParseNftRuleset("k\fH\x7f\t").ok());
}

}  // namespace
}  // namespace sim

namespace sim {
namespace {

// What the parser prints for a rule parses back to the same rule.
TEST(NftParserTest, RuleTextRoundTrips) {
  absl::StatusOr<Ruleset> listing = ParseNftRuleset(kListing, "listing");
  ASSERT_TRUE(listing.ok()) << listing.status();
  for (const Table& t : listing->tables) {
    for (const auto& [name, chain] : t.chains) {
      for (const Rule& rule : chain.rules) {
        Ruleset copy = *listing;
        Table* ct = copy.FindTable(Syntax::kNft, t.family, t.name);
        ct->chains[name].rules.clear();
        absl::Status s = ApplyNftScript(
            absl::StrCat("add rule ", TableFamilyName(t.family), " ", t.name,
                         " ", name, " ", rule.text, "\n"),
            "again", &copy);
        ASSERT_TRUE(s.ok()) << rule.text << ": " << s;
        ct = copy.FindTable(Syntax::kNft, t.family, t.name);
        ASSERT_TRUE(ct->unsupported.ok()) << rule.text;
        ASSERT_EQ(ct->chains[name].rules.size(), 1u) << rule.text;
        const Rule& again = ct->chains[name].rules[0];
        EXPECT_EQ(again.text, rule.text);
        EXPECT_EQ(again.matches.size(), rule.matches.size()) << rule.text;
        EXPECT_EQ(again.actions.size(), rule.actions.size()) << rule.text;
      }
    }
  }
}

}  // namespace
}  // namespace sim

namespace sim {
namespace {

TEST(NftParserTest, TableCommentIsHarmlessAndFlagsAreKept) {
  absl::StatusOr<Ruleset> r = ParseNftRuleset(
      "table ip x {\n\tflags dormant\n\tcomment \"c\"\n}\n", "s");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Msg(r->tables[0].unsupported), HasSubstr("line 2: table flags"));
  r = ParseNftRuleset("table ip x {\n\tcomment \"c\"\n}\n", "s");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->tables[0].unsupported.ok());
}

}  // namespace
}  // namespace sim
