#include "hostport/testing/fake_nft.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kBase[] = R"(add table ip crio-hostports
delete table ip crio-hostports
add table ip crio-hostports
add map ip crio-hostports hostports { type inet_proto . inet_service : ipv4_addr . inet_service; }
add set ip crio-hostports hairpins { type ipv4_addr . ipv4_addr; }
add chain ip crio-hostports hostports
flush chain ip crio-hostports hostports
add rule ip crio-hostports hostports dnat ip to meta l4proto . th dport map @hostports
add chain ip crio-hostports prerouting { type nat hook prerouting priority -100; policy accept; }
flush chain ip crio-hostports prerouting
add rule ip crio-hostports prerouting fib daddr type local goto hostports
add chain ip crio-hostports masquerading { type nat hook postrouting priority 100; policy accept; }
add rule ip crio-hostports masquerading ct status & dnat == dnat ip saddr . ip daddr @hairpins masquerade
)";

constexpr char kPodA[] =
    "add element ip crio-hostports hostports { tcp . 8080 comment \"A\" : "
    "10.88.0.5 . 80 }\n"
    "add element ip crio-hostports hairpins { 10.88.0.5 . 10.88.0.5 comment "
    "\"A\" }\n";

std::string MustList(FakeNft& nft, const std::string& command) {
  absl::StatusOr<std::string> out = nft.List(command);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : "";
}

TEST(FakeNftTest, ListPrintsTheRealFormat) {
  FakeNft nft;
  ASSERT_TRUE(nft.Run(kBase).ok());
  ASSERT_TRUE(nft.Run(kPodA).ok());
  ASSERT_TRUE(nft.Run("add element ip crio-hostports hostports { udp . 53 "
                      "comment \"B\" : 10.88.0.6 . 53 }")
                  .ok());
  EXPECT_EQ(MustList(nft, "list table ip crio-hostports"),
            "table ip crio-hostports {\n"
            "\tmap hostports {\n"
            "\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n"
            "\t\telements = { udp . 53 comment \"B\" : 10.88.0.6 . 53,\n"
            "\t\t\t     tcp . 8080 comment \"A\" : 10.88.0.5 . 80 }\n"
            "\t}\n"
            "\n"
            "\tset hairpins {\n"
            "\t\ttype ipv4_addr . ipv4_addr\n"
            "\t\telements = { 10.88.0.5 . 10.88.0.5 comment \"A\" }\n"
            "\t}\n"
            "\n"
            "\tchain hostports {\n"
            "\t\tdnat ip to meta l4proto . th dport map @hostports\n"
            "\t}\n"
            "\n"
            "\tchain prerouting {\n"
            "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
            "\t\tfib daddr type local goto hostports\n"
            "\t}\n"
            "\n"
            "\tchain masquerading {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            "\t\tct status & dnat == dnat ip saddr . ip daddr @hairpins "
            "masquerade\n"
            "\t}\n"
            "}\n");
}

// Orders and wrapping checked against nft 1.0 in a network namespace.
TEST(FakeNftTest, ElementsListInKernelOrderAndWrapping) {
  FakeNft nft;
  ASSERT_TRUE(nft.Run(R"(add table ip t
add set ip t s { type ipv4_addr . inet_proto . inet_service; }
add element ip t s { 10.0.0.1 . tcp . 80, 10.0.0.2 . udp . 80, 10.0.0.3 . sctp . 80, 9.0.0.1 . tcp . 1, 10.0.0.1 . udp . 5, 10.0.0.1 . sctp . 5, 10.0.0.1 . tcp . 7000 }
add set ip t a { type ipv4_addr; }
add element ip t a { 1.1.1.3, 1.1.1.1, 1.1.1.2 }
add set ip t p { type inet_service; }
add element ip t p { 7, 6, 5, 4, 3, 2, 1 }
add chain ip t c { type nat hook output priority -100; policy accept; }
)")
                  .ok());
  EXPECT_EQ(MustList(nft, "list table ip t"),
            "table ip t {\n"
            "\tset s {\n"
            "\t\ttype ipv4_addr . inet_proto . inet_service\n"
            "\t\telements = { 9.0.0.1 . tcp . 1,\n"
            "\t\t\t     10.0.0.1 . udp . 5,\n"
            "\t\t\t     10.0.0.1 . sctp . 5,\n"
            "\t\t\t     10.0.0.1 . tcp . 80,\n"
            "\t\t\t     10.0.0.2 . udp . 80,\n"
            "\t\t\t     10.0.0.3 . sctp . 80,\n"
            "\t\t\t     10.0.0.1 . tcp . 7000 }\n"
            "\t}\n"
            "\n"
            "\tset a {\n"
            "\t\ttype ipv4_addr\n"
            "\t\telements = { 1.1.1.1, 1.1.1.2,\n"
            "\t\t\t     1.1.1.3 }\n"
            "\t}\n"
            "\n"
            "\tset p {\n"
            "\t\ttype inet_service\n"
            "\t\telements = { 1, 2, 3, 4, 5,\n"
            "\t\t\t     6, 7 }\n"
            "\t}\n"
            "\n"
            "\tchain c {\n"
            "\t\ttype nat hook output priority -100; policy accept;\n"
            "\t}\n"
            "}\n");
  EXPECT_EQ(MustList(nft, "list set ip t a"),
            "table ip t {\n\tset a {\n\t\ttype ipv4_addr\n"
            "\t\telements = { 1.1.1.1, 1.1.1.2,\n\t\t\t     1.1.1.3 }\n"
            "\t}\n}\n");
}

TEST(FakeNftTest, MissingTableIsNotFound) {
  FakeNft nft;
  absl::StatusOr<std::string> out = nft.List("list table ip crio-hostports");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(nft.Run("delete table ip crio-hostports").code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(nft.Run("destroy table ip crio-hostports").ok());
}

TEST(FakeNftTest, SameKeyWithAnotherValueFailsAndChangesNothing) {
  FakeNft nft;
  ASSERT_TRUE(nft.Run(kBase).ok());
  ASSERT_TRUE(nft.Run(kPodA).ok());
  const std::string before = MustList(nft, "list table ip crio-hostports");
  absl::Status s = nft.Run(absl::StrCat(
      "add element ip crio-hostports hairpins { 10.88.0.6 . 10.88.0.6 }\n"
      "add element ip crio-hostports hostports { tcp . 8080 comment \"B\" : "
      "10.88.0.6 . 80 }\n"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("File exists"));
  EXPECT_THAT(s.message(), HasSubstr("tcp . 8080 comment \"B\""));
  // The hairpin added earlier in the same script did not stay either.
  EXPECT_EQ(MustList(nft, "list table ip crio-hostports"), before);
}

TEST(FakeNftTest, IdenticalElementAgainIsANoOp) {
  FakeNft nft;
  ASSERT_TRUE(nft.Run(kBase).ok());
  ASSERT_TRUE(nft.Run(kPodA).ok());
  const std::string before = MustList(nft, "list table ip crio-hostports");
  EXPECT_TRUE(nft.Run(kPodA).ok());
  EXPECT_EQ(MustList(nft, "list table ip crio-hostports"), before);
  // "create" insists on a new element.
  EXPECT_EQ(nft.Run("create element ip crio-hostports hairpins { 10.88.0.5 . "
                    "10.88.0.5 }")
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(FakeNftTest, DeleteOfMissingElementIsNotFound) {
  FakeNft nft;
  ASSERT_TRUE(nft.Run(kBase).ok());
  ASSERT_TRUE(nft.Run(kPodA).ok());
  absl::Status s = nft.Run(
      "delete element ip crio-hostports hairpins { 10.88.0.5 . 10.88.0.5 }\n"
      "delete element ip crio-hostports hostports { tcp . 9999 }\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("No such file or directory"));
  EXPECT_THAT(nft.Elements("ip", "crio-hostports", "hairpins"),
              ElementsAre("10.88.0.5 . 10.88.0.5 comment \"A\""));
  EXPECT_TRUE(nft.Run("delete element ip crio-hostports hostports { tcp . "
                      "8080 }")
                  .ok());
  EXPECT_THAT(nft.Elements("ip", "crio-hostports", "hostports"), IsEmpty());
}

TEST(FakeNftTest, ObjectsBehaveLikeTheKernel) {
  FakeNft nft;
  ASSERT_TRUE(nft.Run(kBase).ok());
  struct Case {
    std::string name;
    std::string script;
    absl::StatusCode code;
  };
  for (const Case& c : std::vector<Case>{
           {"same map again",
            "add map ip crio-hostports hostports { type "
            "inet_proto . inet_service : ipv4_addr . inet_service; }",
            absl::StatusCode::kOk},
           {"same map with other flags",
            "add map ip crio-hostports hostports { type inet_proto . "
            "inet_service : ipv4_addr . inet_service; flags interval; }",
            absl::StatusCode::kFailedPrecondition},
           {"name taken by another type",
            "add set ip crio-hostports hostports { type ipv4_addr; }",
            absl::StatusCode::kFailedPrecondition},
           {"same chain again",
            "add chain ip crio-hostports prerouting { type nat hook "
            "prerouting priority dstnat; policy accept; }",
            absl::StatusCode::kOk},
           {"hook on a regular chain",
            "add chain ip crio-hostports hostports { type nat hook output "
            "priority -100; policy accept; }",
            absl::StatusCode::kFailedPrecondition},
           {"rule in missing chain", "add rule ip crio-hostports nope accept",
            absl::StatusCode::kNotFound},
           {"rule with missing set",
            "add rule ip crio-hostports hostports ip daddr @nope accept",
            absl::StatusCode::kNotFound},
           {"goto missing chain",
            "add rule ip crio-hostports hostports goto nope",
            absl::StatusCode::kNotFound},
           {"element in missing set",
            "add element ip crio-hostports nope { 1.2.3.4 }",
            absl::StatusCode::kNotFound},
           {"element of the wrong family",
            "add element ip crio-hostports hairpins { fd00::1 . fd00::1 }",
            absl::StatusCode::kFailedPrecondition},
           {"value in a set",
            "add element ip crio-hostports hairpins { 10.0.0.1 . 10.0.0.1 : "
            "10.0.0.1 }",
            absl::StatusCode::kFailedPrecondition},
           {"map element without value",
            "add element ip crio-hostports hostports { tcp . 1 }",
            absl::StatusCode::kFailedPrecondition},
           {"port out of range",
            "add element ip crio-hostports hostports { tcp . 70000 : "
            "10.0.0.1 . 1 }",
            absl::StatusCode::kFailedPrecondition},
           {"delete a set in use", "delete map ip crio-hostports hostports",
            absl::StatusCode::kFailedPrecondition},
           {"unknown command", "frobnicate table ip crio-hostports",
            absl::StatusCode::kFailedPrecondition},
       }) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(nft.Run(c.script).code(), c.code);
  }
}

TEST(FakeNftTest, ScriptsMaySeparateCommandsWithSemicolons) {
  FakeNft nft;
  EXPECT_TRUE(nft.Run("add table ip6 t; add set ip6 t s { type ipv6_addr; }; "
                      "add element ip6 t s { fd00:0::1 } # comment")
                  .ok());
  EXPECT_THAT(nft.Elements("ip6", "t", "s"), ElementsAre("fd00::1"));
  EXPECT_TRUE(nft.HasTable("ip6", "t"));
  EXPECT_FALSE(nft.HasTable("ip", "t"));
}

TEST(FakeNftTest, FailNextInjectsOneFailure) {
  FakeNft nft;
  nft.FailNext(absl::UnavailableError("netlink is down"));
  EXPECT_EQ(nft.Run("add table ip t").code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(nft.HasTable("ip", "t"));
  EXPECT_TRUE(nft.Run("add table ip t").ok());
  nft.FailNextList(absl::InternalError("boom"));
  EXPECT_EQ(nft.List("list table ip t").status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(MustList(nft, "list table ip t"), "table ip t {\n}\n");
  EXPECT_THAT(nft.scripts(), ElementsAre("add table ip t", "add table ip t"));
  EXPECT_THAT(nft.list_commands(),
              ElementsAre("list table ip t", "list table ip t"));
}

TEST(FakeNftTest, OperatorChangesUnderneath) {
  FakeNft nft;
  ASSERT_TRUE(nft.Run(kBase).ok());
  ASSERT_TRUE(nft.Run(kPodA).ok());
  EXPECT_TRUE(
      nft.DeleteElement("ip", "crio-hostports", "hostports", "tcp . 8080")
          .ok());
  // The library's own delete now fails as on the kernel.
  EXPECT_EQ(nft.Run("delete element ip crio-hostports hostports { tcp . 8080 "
                    "}")
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(nft.DeleteTable("ip", "crio-hostports").ok());
  EXPECT_FALSE(nft.HasTable("ip", "crio-hostports"));
  EXPECT_EQ(nft.DeleteTable("ip", "crio-hostports").code(),
            absl::StatusCode::kNotFound);
  // Operator changes are not logged; the library's three scripts are.
  EXPECT_EQ(nft.scripts().size(), 3u);
}

// A listing parses back: as a script of add commands it rebuilds the state.
TEST(FakeNftTest, ListingParsesBack) {
  FakeNft nft;
  ASSERT_TRUE(nft.Run(kBase).ok());
  ASSERT_TRUE(nft.Run(kPodA).ok());
  const std::string listed = MustList(nft, "list table ip crio-hostports");
  // Turn the listing into commands: each set/map block's type and elements,
  // each chain's header and rules.
  std::string script = "add table ip crio-hostports\n";
  std::string kind;
  std::string name;
  std::string elements;
  for (absl::string_view line : absl::StrSplit(listed, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!elements.empty()) {  // A wrapped element list continues.
      absl::StrAppend(&elements, " ", line);
    } else if (absl::StartsWith(line, "elements = ")) {
      elements = std::string(line.substr(strlen("elements = ")));
    } else {
      std::vector<std::string> w = absl::StrSplit(line, ' ');
      if (w[0] == "set" || w[0] == "map" || w[0] == "chain") {
        kind = w[0];
        name = w[1];
        if (kind == "chain") {
          absl::StrAppend(&script, "add chain ip crio-hostports ", name, "\n");
        }
      } else if (w[0] == "type") {
        if (kind != "chain") {
          absl::StrAppend(&script, "add ", kind, " ip crio-hostports ", name,
                          " { ", line, "; }\n");
        }
      } else if (kind == "chain" && !line.empty() && line != "}") {
        absl::StrAppend(&script, "add rule ip crio-hostports ", name, " ", line,
                        "\n");
      }
      continue;
    }
    if (absl::EndsWith(elements, "}")) {
      absl::StrAppend(&script, "add element ip crio-hostports ", name, " ",
                      elements, "\n");
      elements.clear();
    }
  }
  FakeNft rebuilt;
  ASSERT_TRUE(rebuilt.Run(script).ok()) << script;
  for (const char* set : {"hostports", "hairpins"}) {
    EXPECT_EQ(rebuilt.Elements("ip", "crio-hostports", set),
              nft.Elements("ip", "crio-hostports", set));
  }
  EXPECT_EQ(rebuilt.Rules("ip", "crio-hostports", "masquerading"),
            nft.Rules("ip", "crio-hostports", "masquerading"));
}

}  // namespace
}  // namespace hostport::testing
