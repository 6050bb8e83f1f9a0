#include "hostport/testing/fake_iptables.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr IPFamily kV4 = IPFamily::kIPv4;
constexpr IPFamily kV6 = IPFamily::kIPv6;

CommandResult MustRun(FakeIptables& fake, const std::vector<std::string>& argv,
                      const std::string& input = "") {
  absl::StatusOr<CommandResult> result = fake.Run(argv, input);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : CommandResult{-1, "", "run failed"};
}

constexpr char kBase[] =
    "*nat\n"
    "-N KUBE-HOSTPORTS\n"
    "-A PREROUTING -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS\n"
    ":KUBE-HP-A - [0:0]\n"
    "-A KUBE-HOSTPORTS -p tcp -m tcp --dport 80 -j KUBE-HP-A\n"
    "-A KUBE-HP-A -p tcp -j DNAT --to-destination 10.0.0.5:80\n"
    "COMMIT\n";

TEST(FakeIptablesTest, RestoreAppliesAndRulesReadBack) {
  FakeIptables fake;
  CommandResult r =
      MustRun(fake, {"iptables-restore", "-w", "--noflush"}, kBase);
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_TRUE(fake.HasChain(kV4, "nat", "KUBE-HOSTPORTS"));
  EXPECT_TRUE(fake.HasChain(kV4, "nat", "KUBE-HP-A"));
  EXPECT_FALSE(fake.HasChain(kV6, "nat", "KUBE-HOSTPORTS"));
  EXPECT_THAT(fake.Rules(kV4, "nat", "PREROUTING"),
              ElementsAre("-m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS"));
  EXPECT_THAT(fake.Chains(kV4, "nat"),
              ElementsAre("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING",
                          "KUBE-HOSTPORTS", "KUBE-HP-A"));
}

TEST(FakeIptablesTest, InsertGoesToTheTop) {
  FakeIptables fake;
  ASSERT_TRUE(fake.Restore(kV4, kBase).ok());
  ASSERT_TRUE(fake.Restore(kV4,
                           "*nat\n:KUBE-HP-B - [0:0]\n"
                           "-I KUBE-HOSTPORTS -p tcp -m tcp --dport 81 -j "
                           "KUBE-HP-B\nCOMMIT\n")
                  .ok());
  EXPECT_THAT(fake.Rules(kV4, "nat", "KUBE-HOSTPORTS"),
              ElementsAre("-p tcp -m tcp --dport 81 -j KUBE-HP-B",
                          "-p tcp -m tcp --dport 80 -j KUBE-HP-A"));
}

TEST(FakeIptablesTest, DeleteOfMissingRuleFailsLikeTheTool) {
  FakeIptables fake;
  ASSERT_TRUE(fake.Restore(kV4, kBase).ok());
  const std::string input =
      "*nat\n-D KUBE-HOSTPORTS -p tcp -m tcp --dport 99 -j KUBE-HP-A\n"
      "COMMIT\n";
  CommandResult legacy =
      MustRun(fake, {"iptables-legacy-restore", "--noflush"}, input);
  EXPECT_EQ(legacy.exit_code, 1);
  EXPECT_EQ(legacy.stderr_text, "iptables-restore: line 2 failed\n");
  CommandResult nft =
      MustRun(fake, {"iptables-nft-restore", "--noflush"}, input);
  EXPECT_EQ(nft.exit_code, 1);
  EXPECT_THAT(nft.stderr_text,
              HasSubstr("iptables-nft-restore: line 2 failed: Bad rule"));
  EXPECT_THAT(fake.Rules(kV4, "nat", "KUBE-HOSTPORTS"),
              ElementsAre("-p tcp -m tcp --dport 80 -j KUBE-HP-A"));
}

TEST(FakeIptablesTest, DeleteMatchesExactTextOnly) {
  FakeIptables fake;
  ASSERT_TRUE(fake.Restore(kV4, kBase).ok());
  // The same rule with options in another order is another rule's text.
  EXPECT_FALSE(fake.Restore(kV4,
                            "*nat\n-D KUBE-HOSTPORTS -m tcp -p tcp --dport 80 "
                            "-j KUBE-HP-A\nCOMMIT\n")
                   .ok());
  EXPECT_TRUE(fake.Restore(kV4,
                           "*nat\n-D KUBE-HOSTPORTS -p tcp -m tcp --dport 80 "
                           "-j KUBE-HP-A\nCOMMIT\n")
                  .ok());
  EXPECT_THAT(fake.Rules(kV4, "nat", "KUBE-HOSTPORTS"), IsEmpty());
}

// What each variant reports, as iptables 1.8.9 does.
struct Outcome {
  int exit_code;
  std::string stderr_text;  // A substring.
};

struct RefusalCase {
  std::string name;
  std::string input;
  Outcome legacy;
  Outcome nft;
};

void ExpectRefusals(const std::vector<RefusalCase>& cases) {
  for (const RefusalCase& c : cases) {
    for (const bool legacy : {true, false}) {
      SCOPED_TRACE(absl::StrCat(c.name, legacy ? " (legacy)" : " (nft)"));
      FakeIptables fake;
      ASSERT_TRUE(fake.Restore(kV4, kBase).ok());
      const std::string before = fake.Save(kV4);
      CommandResult r =
          MustRun(fake,
                  {legacy ? "iptables-legacy-restore" : "iptables-nft-restore",
                   "--noflush"},
                  c.input);
      const Outcome& want = legacy ? c.legacy : c.nft;
      EXPECT_EQ(r.exit_code, want.exit_code) << r.stderr_text;
      EXPECT_THAT(r.stderr_text, HasSubstr(want.stderr_text));
      EXPECT_EQ(fake.Save(kV4), before);
    }
  }
}

TEST(FakeIptablesTest, DeleteChainChecksLikeTheKernel) {
  ExpectRefusals({
      {"referenced",
       "*nat\n-F KUBE-HP-A\n-X KUBE-HP-A\nCOMMIT\n",
       {1, "iptables-restore: line 3 failed\n"},
       {4,
        "iptables-nft-restore v1.8.9 (nf_tables): \nline 3: CHAIN_DEL "
        "failed (Device or resource busy): chain KUBE-HP-A\n"}},
      {"non-empty",
       "*nat\n-X KUBE-HP-A\nCOMMIT\n",
       {1, "iptables-restore: line 2 failed\n"},
       {4, "line 2: CHAIN_DEL failed (Device or resource busy)"}},
      {"missing",
       "*nat\n-X NOPE\nCOMMIT\n",
       {1, "iptables-restore: line 2 failed\n"},
       {1,
        "iptables-nft-restore: line 2 failed: No chain/target/match by "
        "that name.\n"}},
      {"empty built-in",
       "*nat\n-X INPUT\nCOMMIT\n",
       {1, "line 2 failed"},
       {1, "line 2 failed: No chain/target/match by that name."}},
      {"built-in with rules",
       "*nat\n-X PREROUTING\nCOMMIT\n",
       {1, "line 2 failed"},
       {4,
        "line 2: CHAIN_DEL failed (Device or resource busy): chain "
        "PREROUTING"}},
  });
  // Unreferenced and empty: deleted.
  FakeIptables fake;
  ASSERT_TRUE(fake.Restore(kV4, kBase).ok());
  CommandResult ok =
      MustRun(fake, {"iptables-restore", "--noflush"},
              "*nat\n-D KUBE-HOSTPORTS -p tcp -m tcp --dport 80 -j KUBE-HP-A\n"
              "-F KUBE-HP-A\n-X KUBE-HP-A\nCOMMIT\n");
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
  EXPECT_FALSE(fake.HasChain(kV4, "nat", "KUBE-HP-A"));
}

TEST(FakeIptablesTest, RefusesWhatTheKernelRefuses) {
  ExpectRefusals({
      {"jump to missing chain",
       "*nat\n-A OUTPUT -j NOPE\nCOMMIT\n",
       {2,
        "iptables-restore v1.8.9 (legacy): Couldn't load target "
        "`NOPE':No such file or directory\n\nError occurred at line: 2\n"},
       // iptables-nft leaves the lookup to the kernel, at COMMIT.
       {2,
        "iptables-nft-restore v1.8.9 (nf_tables): Chain 'NOPE' does not "
        "exist\nError occurred at line: 3\n"}},
      {"goto missing chain",
       "*nat\n-A OUTPUT -g NOPE\nCOMMIT\n",
       {2, "goto 'NOPE' is not a chain\nError occurred at line: 2"},
       {2, "Chain 'NOPE' does not exist\nError occurred at line: 3"}},
      {"jump to a built-in chain",
       "*nat\n-A OUTPUT -j PREROUTING\nCOMMIT\n",
       {1, "line 2 failed"},
       {4,
        "line 2: RULE_APPEND failed (No such file or directory): rule in "
        "chain OUTPUT"}},
      {"DROP in nat",
       "*nat\n-A OUTPUT -j DROP\nCOMMIT\n",
       {2,
        "(legacy): \nThe \"nat\" table is not intended for filtering, the "
        "use of DROP is therefore inhibited.\n\n\nError occurred at line: "
        "2\n"},
       {2, "(nf_tables): \nThe \"nat\" table is not intended for filtering"}},
      {"new chain that exists",
       "*nat\n-N KUBE-HOSTPORTS\nCOMMIT\n",
       {1, "line 2 failed"},
       {1, "line 2 failed: Chain already exists."}},
      {"append to missing chain",
       "*nat\n-A NOPE -j ACCEPT\nCOMMIT\n",
       {1, "line 2 failed"},
       {1, "line 2 failed: No chain/target/match by that name."}},
      {"delete of a missing rule",
       "*nat\n-D KUBE-HOSTPORTS -p tcp -m tcp --dport 99 -j KUBE-HP-A\n"
       "COMMIT\n",
       {1, "iptables-restore: line 2 failed\n"},
       {1,
        "line 2 failed: Bad rule (does a matching rule exist in that "
        "chain?)."}},
      // The kernel checks targets against the table: legacy at COMMIT.
      {"DNAT outside nat",
       "*raw\n-A OUTPUT -j DNAT --to-destination 1.2.3.4\nCOMMIT\n",
       {1, "iptables-restore: line 3 failed\n"},
       {4,
        "line 2: RULE_APPEND failed (Invalid argument): rule in chain "
        "OUTPUT"}},
      {"unknown table",
       "*nope\nCOMMIT\n",
       {2, "Table does not exist"},
       {2, "Table does not exist"}},
      {"missing COMMIT",
       "*nat\n-A OUTPUT -j ACCEPT\n",
       {1, "iptables-restore: COMMIT expected at line 3\n"},
       {1, "iptables-nft-restore: COMMIT expected at line 3\n"}},
      {"table inside table",
       "*nat\n-A OUTPUT -j ACCEPT\n*raw\nCOMMIT\n",
       {2, "Bad argument `*raw'\nError occurred at line: 3"},
       {2, "Bad argument `*raw'\nError occurred at line: 3"}},
  });
  // DROP is fine in raw.
  FakeIptables fake;
  EXPECT_TRUE(fake.Restore(kV4, "*raw\n-A PREROUTING -j DROP\nCOMMIT\n").ok());
}

// iptables-nft's --test only parses; legacy's checks the table as well.
TEST(FakeIptablesTest, TestFlagValidatesWithoutChanging) {
  for (const bool legacy : {true, false}) {
    SCOPED_TRACE(legacy ? "legacy" : "nft");
    const std::string restore =
        legacy ? "iptables-legacy-restore" : "iptables-nft-restore";
    FakeIptables fake;
    CommandResult ok = MustRun(fake, {restore, "--test", "--noflush"}, kBase);
    EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
    EXPECT_FALSE(fake.HasChain(kV4, "nat", "KUBE-HOSTPORTS"));
    CommandResult missing_chain = MustRun(fake, {restore, "-t", "--noflush"},
                                          "*nat\n-A OUTPUT -j NOPE\nCOMMIT\n");
    EXPECT_EQ(missing_chain.exit_code, legacy ? 2 : 0);
    CommandResult missing_rule = MustRun(fake, {restore, "-t", "--noflush"},
                                         "*nat\n-D OUTPUT -j ACCEPT\nCOMMIT\n");
    EXPECT_EQ(missing_rule.exit_code, legacy ? 1 : 0);
    CommandResult drop = MustRun(fake, {restore, "-t", "--noflush"},
                                 "*nat\n-A OUTPUT -j DROP\nCOMMIT\n");
    EXPECT_EQ(drop.exit_code, 2);
    EXPECT_EQ(fake.Save(kV4), "");
  }
}

TEST(FakeIptablesTest, WithoutNoflushTablesInTheInputAreReplaced) {
  FakeIptables fake;
  ASSERT_TRUE(fake.Restore(kV4, kBase).ok());
  ASSERT_TRUE(fake.Restore(kV4, "*raw\n-A OUTPUT -j ACCEPT\nCOMMIT\n").ok());
  CommandResult r = MustRun(fake, {"iptables-restore", "-w"},
                            "*nat\n-A OUTPUT -j ACCEPT\nCOMMIT\n");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_FALSE(fake.HasChain(kV4, "nat", "KUBE-HOSTPORTS"));
  EXPECT_THAT(fake.Rules(kV4, "nat", "PREROUTING"), IsEmpty());
  EXPECT_THAT(fake.Rules(kV4, "nat", "OUTPUT"), ElementsAre("-j ACCEPT"));
  // raw was not in the input: untouched.
  EXPECT_THAT(fake.Rules(kV4, "raw", "OUTPUT"), ElementsAre("-j ACCEPT"));
}

// The second table fails. iptables 1.8.9 commits table by table, legacy and
// nft alike (measured in a network namespace): the first table stays.
constexpr char kTwoTablesSecondFails[] =
    "*raw\n-A PREROUTING -j ACCEPT\nCOMMIT\n"
    "*nat\n-D OUTPUT -j ACCEPT\nCOMMIT\n";

TEST(FakeIptablesTest, EachTableCommitsOnItsOwn) {
  for (const char* program : {"iptables-legacy-restore", "iptables-nft-restore",
                              "iptables-restore"}) {
    SCOPED_TRACE(program);
    FakeIptables fake;
    CommandResult r =
        MustRun(fake, {program, "--noflush"}, kTwoTablesSecondFails);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.stderr_text, HasSubstr("line 5 failed"));
    EXPECT_THAT(fake.Rules(kV4, "raw", "PREROUTING"), ElementsAre("-j ACCEPT"));
  }
}

TEST(FakeIptablesTest, WholeInputAtomicityIsOptIn) {
  for (const char* program :
       {"iptables-legacy-restore", "iptables-nft-restore"}) {
    SCOPED_TRACE(program);
    FakeIptables fake;
    fake.SetAtomicity(FakeIptables::Atomicity::kWholeInput);
    CommandResult r =
        MustRun(fake, {program, "--noflush"}, kTwoTablesSecondFails);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(fake.Rules(kV4, "raw", "PREROUTING"), IsEmpty());
  }
}

// Within a table nothing of a failed input applies, with either variant.
TEST(FakeIptablesTest, FailedTableChangesNothing) {
  for (const char* program :
       {"iptables-legacy-restore", "iptables-nft-restore"}) {
    SCOPED_TRACE(program);
    FakeIptables fake;
    ASSERT_TRUE(fake.Restore(kV4, kBase).ok());
    const std::string before = fake.Save(kV4);
    CommandResult r = MustRun(fake, {program, "--noflush"},
                              "*nat\n-A OUTPUT -j ACCEPT\n-F KUBE-HP-A\n"
                              "-N KUBE-HOSTPORTS\nCOMMIT\n");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(fake.Save(kV4), before);
  }
}

TEST(FakeIptablesTest, PlainNamesAreNftUnlessSetToLegacy) {
  const std::string input = "*nat\n-N X\n-N X\nCOMMIT\n";
  FakeIptables fake;
  EXPECT_EQ(MustRun(fake, {"ip6tables-restore"}, input).stderr_text,
            "ip6tables-restore: line 3 failed: Chain already exists.\n");
  EXPECT_THAT(MustRun(fake, {"ip6tables-save", "-t", "nat"}, "").stdout_text,
              HasSubstr("# Generated by ip6tables-save v1.8.9 (nf_tables) on"));
  fake.SetPlainVariant(FakeIptables::Variant::kLegacy);
  EXPECT_EQ(MustRun(fake, {"ip6tables-restore"}, input).stderr_text,
            "ip6tables-restore: line 3 failed\n");
  EXPECT_EQ(MustRun(fake, {"iptables-nft-restore"}, input).stderr_text,
            "iptables-nft-restore: line 3 failed: Chain already exists.\n");
  EXPECT_EQ(MustRun(fake, {"iptables-save", "-t", "raw"}).stdout_text,
            "# Generated by iptables-save v1.8.9 on Thu Jan  1 00:00:00 1970\n"
            "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
            "# Completed on Thu Jan  1 00:00:00 1970\n");
}

TEST(FakeIptablesTest, FamiliesAreSeparate) {
  FakeIptables fake;
  CommandResult r = MustRun(
      fake, {"/usr/sbin/ip6tables-legacy-restore", "-w", "--noflush"}, kBase);
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_TRUE(fake.HasChain(kV6, "nat", "KUBE-HOSTPORTS"));
  EXPECT_FALSE(fake.HasChain(kV4, "nat", "KUBE-HOSTPORTS"));
  CommandResult saved = MustRun(fake, {"iptables-save", "-t", "nat"});
  EXPECT_THAT(saved.stdout_text, ::testing::Not(HasSubstr("KUBE")));
}

TEST(FakeIptablesTest, SavePrintsTheRealLayout) {
  FakeIptables fake;
  ASSERT_TRUE(fake.Restore(kV4, kBase).ok());
  ASSERT_TRUE(fake.Restore(kV4,
                           "*nat\n:AAA - [0:0]\n"
                           "-A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE\n"
                           "COMMIT\n")
                  .ok());
  CommandResult r = MustRun(fake, {"iptables-legacy-save", "-t", "nat"});
  EXPECT_EQ(r.exit_code, 0);
  // User chains sorted by name; rules grouped by chain, built-ins first.
  EXPECT_EQ(r.stdout_text,
            "# Generated by iptables-save v1.8.9 on Thu Jan  1 00:00:00 1970\n"
            "*nat\n"
            ":PREROUTING ACCEPT [0:0]\n"
            ":INPUT ACCEPT [0:0]\n"
            ":OUTPUT ACCEPT [0:0]\n"
            ":POSTROUTING ACCEPT [0:0]\n"
            ":AAA - [0:0]\n"
            ":KUBE-HOSTPORTS - [0:0]\n"
            ":KUBE-HP-A - [0:0]\n"
            "-A PREROUTING -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS\n"
            "-A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE\n"
            "-A KUBE-HOSTPORTS -p tcp -m tcp --dport 80 -j KUBE-HP-A\n"
            "-A KUBE-HP-A -p tcp -j DNAT --to-destination 10.0.0.5:80\n"
            "COMMIT\n"
            "# Completed on Thu Jan  1 00:00:00 1970\n");
  CommandResult nft = MustRun(fake, {"iptables-nft-save", "--table=raw"});
  EXPECT_EQ(nft.stdout_text,
            "# Generated by iptables-nft-save v1.8.9 (nf_tables) on Thu Jan  1 "
            "00:00:00 1970\n"
            "*raw\n"
            ":PREROUTING ACCEPT [0:0]\n"
            ":OUTPUT ACCEPT [0:0]\n"
            "COMMIT\n"
            "# Completed on Thu Jan  1 00:00:00 1970\n");
}

TEST(FakeIptablesTest, SaveWithoutTableListsTouchedTables) {
  FakeIptables fake;
  EXPECT_EQ(MustRun(fake, {"ip6tables-save"}).stdout_text, "");
  ASSERT_TRUE(fake.Restore(kV6, "*raw\nCOMMIT\n*nat\nCOMMIT\n").ok());
  const std::string out = MustRun(fake, {"ip6tables-save"}).stdout_text;
  EXPECT_THAT(out,
              HasSubstr("# Generated by ip6tables-save v1.8.9 (nf_tables)"));
  EXPECT_LT(out.find("*nat"), out.find("*raw"));
  EXPECT_EQ(MustRun(fake, {"ip6tables-save", "-t", "nope"}).exit_code, 1);
}

TEST(FakeIptablesTest, SaveOutputRestoresToTheSameState) {
  FakeIptables fake;
  ASSERT_TRUE(fake.Restore(kV4, kBase).ok());
  const std::string saved = fake.Save(kV4);
  FakeIptables other;
  CommandResult r = MustRun(other, {"iptables-restore"}, saved);
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(other.Save(kV4), saved);
}

TEST(FakeIptablesTest, OtherProgramsAreNotFound) {
  FakeIptables fake;
  absl::StatusOr<CommandResult> r = fake.Run({"nft", "-f", "-"}, "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("nft"));
  EXPECT_EQ(fake.Run({"iptables-xyz"}, "").status().code(),
            absl::StatusCode::kNotFound);
  // The plain tools list one chain (-S) and nothing else.
  EXPECT_EQ(MustRun(fake, {"iptables"}).exit_code, 2);
}

// `-S CHAIN` as the real tools print it (seen with iptables 1.8.9).
TEST(FakeIptablesTest, ListsOneChain) {
  FakeIptables fake;
  ASSERT_TRUE(fake.Restore(IPFamily::kIPv4,
                           "*filter\n:X - [0:0]\n-A X -j DROP\n-A INPUT -j "
                           "X\nCOMMIT\n")
                  .ok());
  CommandResult r =
      MustRun(fake, {"iptables-legacy", "-w", "-t", "filter", "-S", "INPUT"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_text, "-P INPUT ACCEPT\n-A INPUT -j X\n");
  r = MustRun(fake, {"iptables-nft", "-w", "-S", "X"});
  EXPECT_EQ(r.stdout_text, "-N X\n-A X -j DROP\n");
  r = MustRun(fake, {"iptables", "-t", "filter", "-S", "NOPE"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.stderr_text, HasSubstr("No chain/target/match by that name"));
}

TEST(FakeIptablesTest, UnknownOptionIsAUsageError) {
  FakeIptables fake;
  EXPECT_EQ(MustRun(fake, {"iptables-restore", "--bogus"}).exit_code, 2);
}

TEST(FakeIptablesTest, FailNextInjectsOneFailureAndChangesNothing) {
  FakeIptables fake;
  fake.FailNext("ip6tables", 4, "resource problem\n");
  CommandResult v4 = MustRun(fake, {"iptables-restore", "--noflush"}, kBase);
  EXPECT_EQ(v4.exit_code, 0);
  CommandResult v6 = MustRun(fake, {"ip6tables-restore", "--noflush"}, kBase);
  EXPECT_EQ(v6.exit_code, 4);
  EXPECT_EQ(v6.stderr_text, "resource problem\n");
  EXPECT_FALSE(fake.HasChain(kV6, "nat", "KUBE-HOSTPORTS"));
  CommandResult again =
      MustRun(fake, {"ip6tables-restore", "--noflush"}, kBase);
  EXPECT_EQ(again.exit_code, 0);
}

TEST(FakeIptablesTest, LogsEveryCall) {
  FakeIptables fake;
  MustRun(fake, {"iptables-restore", "-w", "--noflush"}, kBase);
  (void)fake.Run({"missing"}, "in");
  std::vector<FakeIptables::Call> calls = fake.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_THAT(calls[0].argv,
              ElementsAre("iptables-restore", "-w", "--noflush"));
  EXPECT_EQ(calls[0].stdin_text, kBase);
  EXPECT_THAT(calls[1].argv, ElementsAre("missing"));
  fake.ClearCalls();
  EXPECT_THAT(fake.calls(), IsEmpty());
}

TEST(FakeIptablesTest, SeedingSimulatesChangesUnderneath) {
  FakeIptables fake;
  ASSERT_TRUE(fake.Restore(kV4, kBase).ok());
  // An operator removes our per-mapping chain.
  ASSERT_TRUE(fake.Restore(kV4,
                           "*nat\n-F KUBE-HOSTPORTS\n-F KUBE-HP-A\n"
                           "-X KUBE-HP-A\nCOMMIT\n")
                  .ok());
  EXPECT_FALSE(fake.HasChain(kV4, "nat", "KUBE-HP-A"));
  // The library's -D now fails as it would on the kernel.
  CommandResult r =
      MustRun(fake, {"iptables-restore", "--noflush"},
              "*nat\n-D KUBE-HOSTPORTS -p tcp -m tcp --dport 80 -j KUBE-HP-A\n"
              "COMMIT\n");
  EXPECT_EQ(r.exit_code, 1);
  absl::Status bad = fake.Restore(kV4, "*nat\n-X NOPE\nCOMMIT\n");
  EXPECT_THAT(std::string(bad.message()), HasSubstr("line 2 failed"));
}

}  // namespace
}  // namespace hostport::testing
