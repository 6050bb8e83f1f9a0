// Runs the built hostportctl binary the way a person does, and checks its exit
// codes and output (DESIGN §8).
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/os/command_runner.h"

namespace hostport {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

CommandResult Ctl(std::vector<std::string> args) {
  args.insert(args.begin(), "tools/hostportctl");
  RealCommandRunner runner;
  absl::StatusOr<CommandResult> r = runner.Run(args, "");
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : CommandResult{-1, "", ""};
}

constexpr char kPods[] = "tools/examples/pods.json";

TEST(HostportctlTest, RenderIptablesBothFamilies) {
  CommandResult r = Ctl({"render", "--pods", kPods});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_THAT(r.stdout_text, StartsWith("# family 4\n*filter\n"));
  EXPECT_THAT(r.stdout_text, HasSubstr("\nCOMMIT\n*raw\n"));
  EXPECT_THAT(r.stdout_text, HasSubstr("\n# family 6\n*nat\n"));
  EXPECT_THAT(r.stdout_text,
              HasSubstr("-j DNAT --to-destination [fd00:88::5]:80"));
  // The admin pod is IPv4 only: its wildcard SCTP mapping is reported for IPv6.
  EXPECT_THAT(r.stderr_text,
              HasSubstr("note: mapping 1 (9001/SCTP on all addresses) of pod "
                        "ops/admin maps nothing on IPv6"));
}

TEST(HostportctlTest, RenderNftablesOneFamily) {
  CommandResult r =
      Ctl({"render", "--pods", kPods, "--backend=nftables", "--family", "6"});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_THAT(r.stdout_text,
              StartsWith("# family 6\nadd table ip6 crio-hostports"));
  EXPECT_THAT(r.stdout_text, Not(HasSubstr("table ip crio-hostports")));
  EXPECT_THAT(r.stdout_text,
              HasSubstr("hostipports { 2001:db8::10 . tcp . 8443 comment"));
}

TEST(HostportctlTest, RenderJson) {
  CommandResult r = Ctl({"render", "--pods", kPods, "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  nlohmann::json doc = nlohmann::json::parse(r.stdout_text);
  EXPECT_EQ(doc["backend"], "iptables");
  ASSERT_EQ(doc["families"].size(), 2u);
  EXPECT_EQ(doc["families"][1]["family"], "6");
  EXPECT_THAT(doc["families"][0]["ruleset"].get<std::string>(),
              HasSubstr("COMMIT"));
  ASSERT_EQ(doc["skipped"].size(), 1u);
  EXPECT_EQ(doc["skipped"][0]["id"], "sandbox-admin");
}

TEST(HostportctlTest, UsageErrorsExitTwoAndNameTheValue) {
  const struct {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{}, "usage: hostportctl VERB"},
      {{"frobnicate"}, "unknown verb \"frobnicate\""},
      {{"render"}, "--pods FILE is required"},
      {{"render", "--pods", kPods, "--backend", "pf"},
       "--backend \"pf\" is not a backend: want iptables or nftables"},
      {{"render", "--pods", kPods, "--family", "5"},
       "--family \"5\" is not a family: want 4, 6 or all"},
      {{"render", "--pods", kPods, "--output", "yaml"},
       "--output \"yaml\" is not an output format"},
      {{"render", "--pods"}, "flag --pods needs a value"},
      {{"render", "--pods", kPods, "--bogus"}, "unknown flag --bogus"},
      {{"render", "--pods", "/nonexistent.json"},
       "/nonexistent.json: cannot open"},
  };
  for (const auto& c : cases) {
    CommandResult r = Ctl(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_THAT(r.stderr_text, HasSubstr(c.message));
    EXPECT_EQ(r.stdout_text, "");
  }
}

TEST(HostportctlTest, InvalidPodsFileNamesTheField) {
  CommandResult r = Ctl({"render", "--pods", "tools/testdata/bad_port.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text,
              HasSubstr("tools/testdata/bad_port.json: host_port 70000 out of "
                        "range 1..65535 in mapping 0 of pod default/web"));
  EXPECT_EQ(r.stdout_text, "");
}

// `[` x 100000 made render segfault (exit 139).
TEST(HostportctlTest, DeeplyNestedPodsFileIsAUsageError) {
  const std::string path = ::testing::TempDir() + "/deep.json";
  {
    std::ofstream out(path);
    out << std::string(100000, '[') << std::string(100000, ']');
  }
  CommandResult r = Ctl({"render", "--pods", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("JSON nested deeper than 64 levels"));
  EXPECT_EQ(r.stdout_text, "");
}

TEST(HostportctlTest, ConflictingPodsExitOne) {
  CommandResult r = Ctl({"render", "--pods", "tools/testdata/conflict.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.stderr_text, HasSubstr("conflicts on IPv4 with mapping 0"));
  EXPECT_EQ(r.stdout_text, "");
}

TEST(HostportctlTest, VerifyPrintsAMatchingReachabilityTable) {
  CommandResult r = Ctl({"verify", "--pods", kPods});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_THAT(r.stdout_text, HasSubstr("== iptables =="));
  EXPECT_THAT(r.stdout_text, HasSubstr("== nftables =="));
  EXPECT_THAT(r.stdout_text,
              HasSubstr("external eth0 -> 192.0.2.10        reaches "
                        "10.88.0.5:80, sees 203.0.113.7"));
  // 127.0.0.1-bound: the host reaches it, a neighbour does not.
  EXPECT_THAT(r.stdout_text,
              HasSubstr("external eth0 -> 127.0.0.1         blocked"));
  // The host's own traffic to a neighbour's port 8080 is not the mapping's.
  EXPECT_THAT(r.stdout_text,
              HasSubstr("host -> 192.0.2.11 (not local)     reaches "
                        "192.0.2.11:8080, sees 192.0.2.10"));
  EXPECT_THAT(r.stdout_text, HasSubstr(" 0 mismatches"));
  EXPECT_THAT(r.stdout_text, Not(HasSubstr("MISMATCH")));

  r = Ctl(
      {"verify", "--pods", kPods, "--backend", "nftables", "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  nlohmann::json doc = nlohmann::json::parse(r.stdout_text);
  EXPECT_EQ(doc["mismatches"], 0);
  EXPECT_GT(doc["cells"].get<int>(), 30);
  ASSERT_EQ(doc["backends"].size(), 1u);
  EXPECT_EQ(doc["backends"][0]["backend"], "nftables");
}

TEST(HostportctlTest, VerifyFollowsTheHost) {
  // Without route_localnet on the pods' interface, localhost clients are
  // blocked, and verify still agrees with the semantics.
  CommandResult r = Ctl({"verify", "--pods", kPods, "--host",
                         "tools/testdata/host_no_localnet.json"});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text;
  EXPECT_THAT(r.stdout_text,
              HasSubstr("host -> 127.0.0.1                  blocked"));
  r = Ctl({"verify", "--pods", kPods, "--host", "/nonexistent.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("give the host with --host FILE"));
}

TEST(HostportctlTest, TraceTheFixtureFromOutside) {
  CommandResult r =
      Ctl({"trace", "--ruleset", "sim/testdata/cni-portmap-v4.iptables-save",
           "--from", "external", "--proto", "tcp", "--dst", "192.0.2.10:8080",
           "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  nlohmann::json doc = nlohmann::json::parse(r.stdout_text);
  EXPECT_EQ(doc["verdict"], "delivered");
  EXPECT_EQ(doc["to"], "10.88.0.5:80");
}

TEST(HostportctlTest, HelpExitsZero) {
  for (const char* verb :
       {"verify", "trace", "render", "add", "remove", "list", "sync", "run"}) {
    CommandResult r = Ctl({verb, "--help"});
    EXPECT_EQ(r.exit_code, 0) << verb << ": " << r.stderr_text;
    EXPECT_THAT(r.stdout_text,
                HasSubstr(absl::StrCat("usage: hostportctl ", verb)));
  }
  CommandResult r = Ctl({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.stdout_text, HasSubstr("verbs:"));
}

// The benchmarks print their usage instead of running (and needing root),
// and refuse what they do not take with exit status 2, naming it.
TEST(HostportctlTest, BenchmarksAnswerHelp) {
  RealCommandRunner runner;
  for (const std::string bench : {"manager_bench", "cni_bench"}) {
    absl::StatusOr<CommandResult> r =
        runner.Run({"tools/" + bench, "--help"}, "");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 0) << r->stderr_text;
    EXPECT_THAT(r->stdout_text, HasSubstr("usage: " + bench));
    r = runner.Run({"tools/" + bench, "--bogus"}, "");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 2);
    EXPECT_THAT(r->stderr_text, HasSubstr("--bogus"));
  }
  absl::StatusOr<CommandResult> r =
      runner.Run({"tools/cni_bench", "--sizes", "1,x"}, "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->stderr_text, HasSubstr("1,x"));
  r = runner.Run({"tools/cni_bench", "--backends", "calico"}, "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->stderr_text, HasSubstr("calico"));
}

TEST(HostportctlTest, CniPluginAnswersHelp) {
  RealCommandRunner runner;
  absl::StatusOr<CommandResult> r =
      runner.Run({"tools/hostport-cni", "--help"}, "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_text;
  EXPECT_THAT(r->stdout_text, HasSubstr("usage: hostport-cni"));
  EXPECT_THAT(r->stdout_text, HasSubstr("CNI_COMMAND"));
  r = runner.Run({"tools/hostport-cni", "--bogus"}, "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->stderr_text, HasSubstr("--bogus"));
}

}  // namespace
}  // namespace hostport
