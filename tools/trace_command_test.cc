#include "tools/trace_command.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFixture[] = "sim/testdata/cni-portmap-v4.iptables-save";

std::string WriteTemp(const std::string& name, const std::string& content) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << content;
  return path;
}

std::string HostFile() {
  return WriteTemp("host.json", R"json({
    "interfaces": [
      {"name": "eth0", "addresses": ["192.0.2.10/24", "2001:db8::10/64"]},
      {"name": "cni0", "addresses": ["10.88.0.1/16", "fd00:88::1/64"],
       "route_localnet": true}],
    "routes": [{"to": "default", "dev": "eth0"}],
    "bridges": [{"name": "cni0", "ports": [
      {"name": "veth1", "addresses": ["10.88.0.5", "fd00:88::5"]}]}]})json");
}

struct CommandRun {
  int code;
  std::string out;
  std::string err;
};

CommandRun Trace(std::vector<std::string> args) {
  std::ostringstream out, err;
  int code = RunTraceCommand(args, out, err);
  return {code, out.str(), err.str()};
}

nlohmann::json Json(const CommandRun& r) {
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

struct JsonCase {
  std::string name;
  std::string from;
  std::string dst;
  std::string src;
  std::string verdict;
  std::string to;
  std::string source_seen;
};

TEST(TraceCommandTest, CniPortmapFixtureAsJson) {
  std::string host = HostFile();
  const std::vector<JsonCase> cases = {
      {"external", "external:eth0", "192.0.2.10:8080", "198.51.100.9:5555",
       "delivered", "10.88.0.5:80", "198.51.100.9"},
      {"localhost", "local", "127.0.0.1:8080", "", "delivered", "10.88.0.5:80",
       "10.88.0.1"},
      {"pod itself", "pod:10.88.0.5", "192.0.2.10:8080", "", "delivered",
       "10.88.0.5:80", "10.88.0.1"},
      {"unmapped 8081", "external", "192.0.2.10:8081", "", "local",
       "192.0.2.10:8081", "203.0.113.7"},
  };
  for (const JsonCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::string> args = {
        "--ruleset",   kFixture,       "--host",          host,
        "--from",      c.from,         "--proto",         "tcp",
        "--dst",       c.dst,          "--output",        "json",
        "--state-dir", "/nonexistent", "--nat-interface", "cni0"};
    if (!c.src.empty()) {
      args.push_back("--src");
      args.push_back(c.src);
    }
    CommandRun r = Trace(args);
    ASSERT_EQ(r.code, 0) << r.err;
    nlohmann::json j = Json(r);
    EXPECT_EQ(j["verdict"], c.verdict) << r.out;
    EXPECT_EQ(j["to"], c.to) << r.out;
    EXPECT_EQ(j["source_seen"], c.source_seen) << r.out;
    EXPECT_EQ(j["reason"], "");
    ASSERT_TRUE(j["trace"].is_array());
    EXPECT_FALSE(j["trace"].empty());
  }
}

TEST(TraceCommandTest, DroppedIsStillSuccessAndSaysWhy) {
  std::string host = WriteTemp("plain-host.json", R"json({
    "interfaces": [{"name": "eth0", "addresses": ["192.0.2.10/24"]},
                   {"name": "cni0", "addresses": ["10.88.0.1/16"]}]})json");
  CommandRun r = Trace({"--ruleset=" + std::string(kFixture), "--host=" + host,
                        "--from=local", "--proto=tcp", "--dst=127.0.0.1:8080",
                        "--output=json"});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = Json(r);
  EXPECT_EQ(j["verdict"], "dropped");
  EXPECT_THAT(j["reason"].get<std::string>(), HasSubstr("route_localnet=0"));
}

TEST(TraceCommandTest, TextOutputAndMixedSyntaxes) {
  std::string nft = WriteTemp("v6.nft", R"(table ip6 crio-hostports {
	map hostports {
		type inet_proto . inet_service : ipv6_addr . inet_service
		elements = { tcp . 8080 : fd00:88::5 . 80 }
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local dnat ip6 to meta l4proto . th dport map @hostports
	}
}
)");
  std::string host = HostFile();
  CommandRun r = Trace({"--ruleset", std::string(kFixture) + "," + nft,
                        "--host", host, "--from", "external", "--proto", "TCP",
                        "--dst", "[2001:db8::10]:8080"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("verdict: delivered"));
  EXPECT_THAT(r.out, HasSubstr("to: [fd00:88::5]:80"));
  EXPECT_THAT(r.out, HasSubstr("trace:\n  1. "));
}

TEST(TraceCommandTest, UsageErrorsExitTwoNamingTheValue) {
  std::string host = HostFile();
  struct Bad {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Bad> cases = {
      {{"--from", "local", "--proto", "tcp", "--dst", "127.0.0.1:1"},
       "--ruleset"},
      {{"--ruleset", kFixture, "--live", "--from", "local", "--proto", "tcp",
        "--dst", "127.0.0.1:1"},
       "--live"},
      {{"--ruleset", kFixture, "--from", "mars", "--proto", "tcp", "--dst",
        "127.0.0.1:1"},
       "\"mars\""},
      {{"--ruleset", kFixture, "--from", "local", "--proto", "icmp", "--dst",
        "127.0.0.1:1"},
       "\"icmp\""},
      {{"--ruleset", kFixture, "--from", "local", "--proto", "tcp", "--dst",
        "127.0.0.1"},
       "127.0.0.1"},
      {{"--ruleset", kFixture, "--from", "local", "--proto", "tcp", "--dst",
        "127.0.0.1:99999"},
       "99999"},
      {{"--ruleset", kFixture, "--from", "local", "--proto", "tcp", "--dst",
        "127.0.0.1:80", "--output", "yaml"},
       "\"yaml\""},
      {{"--ruleset", kFixture, "--from", "local", "--proto", "tcp", "--dst",
        "127.0.0.1:80", "--bogus", "1"},
       "\"--bogus\""},
      {{"--ruleset", kFixture, "--from", "external:wlan9", "--proto", "tcp",
        "--dst", "192.0.2.10:80", "--host", host},
       "wlan9"},
      {{"--ruleset", kFixture, "--from", "local", "--proto", "tcp", "--dst",
        "127.0.0.1:80", "--src", "::1"},
       "differ in family"},
  };
  for (const Bad& c : cases) {
    CommandRun r = Trace(c.args);
    EXPECT_EQ(r.code, 2) << c.message << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
}

// --live through a fake host: what a namespace with the CNI portmap rules,
// eth0 and the cni0 bridge (route_localnet on) would show.
class FakeHost : public TraceHostAccess {
 public:
  std::map<std::string, std::string> commands;
  std::map<std::string, std::string> files;
  std::vector<std::string> ran;

  absl::StatusOr<std::string> Run(const std::string& command) override {
    ran.push_back(command);
    auto it = commands.find(command);
    if (it == commands.end()) {
      return absl::UnavailableError("\"" + command + "\" failed (exit 127)");
    }
    return it->second;
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return absl::NotFoundError("cannot read " + path);
    return it->second;
  }
  absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& path) override {
    if (path != "/proc/sys/net/ipv4/conf") return absl::NotFoundError(path);
    return std::vector<std::string>{"all", "default", "lo", "eth0", "cni0"};
  }
};

FakeHost LiveHost() {
  FakeHost host;
  std::ifstream in(kFixture);
  std::stringstream ss;
  ss << in.rdbuf();
  host.commands["iptables-nft-save"] = ss.str();
  host.commands["ip6tables-nft-save"] = "";
  host.commands["nft list ruleset"] =
      "table inet filter {\n\tchain input {\n\t\ttype filter hook input "
      "priority filter; policy accept;\n\t}\n}\n";
  host.commands["ip -j addr"] = R"([
    {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "addr_info": [{"local": "192.0.2.10", "prefixlen": 24},
                                     {"local": "fe80::1", "prefixlen": 64}]},
    {"ifname": "cni0", "addr_info": [{"local": "10.88.0.1", "prefixlen": 16}]}])";
  host.commands["ip -j route"] =
      R"([{"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
          {"dst": "10.88.0.0/16", "dev": "cni0", "prefsrc": "10.88.0.1"}])";
  host.commands["ip -6 -j route"] = "[]";
  host.files["/proc/sys/net/ipv4/conf/lo/route_localnet"] = "0\n";
  host.files["/proc/sys/net/ipv4/conf/eth0/route_localnet"] = "0\n";
  host.files["/proc/sys/net/ipv4/conf/cni0/route_localnet"] = "1\n";
  return host;
}

TEST(TraceCommandTest, LiveReadsRulesAddressesRoutesAndSysctls) {
  FakeHost host = LiveHost();
  std::ostringstream out, err;
  int code = RunTraceCommand({"--live", "--from", "local", "--proto", "tcp",
                              "--dst", "127.0.0.1:8080", "--output", "json"},
                             out, err, host);
  ASSERT_EQ(code, 0) << err.str();
  nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["verdict"], "delivered");
  EXPECT_EQ(j["to"], "10.88.0.5:80");
  EXPECT_EQ(j["source_seen"], "10.88.0.1");
  EXPECT_THAT(j["notes"].dump(), HasSubstr("hairpin_mode"));
  // The filter table is evaluated where the walk passes its hook.
  EXPECT_THAT(j["trace"].dump(), Not(HasSubstr("inet filter")));

  // Without route_localnet on cni0 the kernel drops it as martian.
  host.files["/proc/sys/net/ipv4/conf/cni0/route_localnet"] = "0\n";
  std::ostringstream out2, err2;
  code = RunTraceCommand({"--live", "--from", "local", "--proto", "tcp",
                          "--dst", "127.0.0.1:8080", "--output", "json"},
                         out2, err2, host);
  ASSERT_EQ(code, 0) << err2.str();
  EXPECT_EQ(nlohmann::json::parse(out2.str())["verdict"], "dropped");
}

// A host whose forward chain drops by policy (firewalld, Docker): the live
// trace says the DNATed packet dies there instead of "delivered".
TEST(TraceCommandTest, LiveTellsAForwardPolicyDrop) {
  FakeHost host = LiveHost();
  auto trace = [&](std::string* reason) {
    std::ostringstream out, err;
    int code =
        RunTraceCommand({"--live", "--from", "external", "--proto", "tcp",
                         "--dst", "192.0.2.10:8080", "--output", "json"},
                        out, err, host);
    EXPECT_EQ(code, 0) << err.str();
    if (code != 0) return std::string();
    nlohmann::json j = nlohmann::json::parse(out.str());
    *reason = j["reason"];
    return j["verdict"].get<std::string>();
  };
  std::string reason;
  EXPECT_EQ(trace(&reason), "delivered");
  host.commands["nft list ruleset"] =
      "table inet firewalld {\n\tchain filter_FORWARD {\n\t\ttype filter "
      "hook forward priority filter + 10; policy drop;\n\t}\n}\n";
  EXPECT_EQ(trace(&reason), "dropped");
  EXPECT_THAT(reason,
              HasSubstr("policy drop of inet firewalld/filter_FORWARD"));
  host.commands["nft list ruleset"] = "";
  host.commands["iptables-nft-save"] +=
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT "
      "[0:0]\nCOMMIT\n";
  EXPECT_EQ(trace(&reason), "dropped");
  EXPECT_THAT(reason, HasSubstr("policy drop of filter/FORWARD"));
}

// iptables-legacy's tables are separate kernel tables: read too, and kept
// apart.
TEST(TraceCommandTest, LiveReadsLegacyTablesWhereTheyExist) {
  FakeHost host = LiveHost();
  host.commands["iptables-nft-save"] = "";
  host.files["/proc/net/ip_tables_names"] = "nat\n";
  std::ifstream in(kFixture);
  std::stringstream ss;
  ss << in.rdbuf();
  host.commands["iptables-legacy-save"] = ss.str();
  std::ostringstream out, err;
  int code = RunTraceCommand({"--live", "--from", "external", "--proto", "tcp",
                              "--dst", "192.0.2.10:8080", "--output", "json"},
                             out, err, host);
  ASSERT_EQ(code, 0) << err.str();
  EXPECT_EQ(nlohmann::json::parse(out.str())["to"], "10.88.0.5:80");
  // Without legacy tables, legacy save is never run (it would load them).
  host.files.erase("/proc/net/ip_tables_names");
  host.commands.erase("iptables-legacy-save");
  std::ostringstream out2, err2;
  code = RunTraceCommand({"--live", "--from", "external", "--proto", "tcp",
                          "--dst", "192.0.2.10:8080", "--output", "json"},
                         out2, err2, host);
  ASSERT_EQ(code, 0) << err2.str();
  EXPECT_EQ(nlohmann::json::parse(out2.str())["verdict"], "local");
}

TEST(TraceCommandTest, LiveFailsWhenACommandFails) {
  FakeHost host = LiveHost();
  host.commands.erase("nft list ruleset");
  std::ostringstream out, err;
  int code = RunTraceCommand({"--live", "--from", "local", "--proto", "tcp",
                              "--dst", "127.0.0.1:8080"},
                             out, err, host);
  EXPECT_EQ(code, 1);
  EXPECT_THAT(err.str(), HasSubstr("nft list ruleset"));
}

TEST(TraceCommandTest, FailuresExitOne) {
  CommandRun missing =
      Trace({"--ruleset", "/nonexistent/rules", "--from", "local", "--proto",
             "tcp", "--dst", "127.0.0.1:80"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/rules"));

  std::string unsupported = WriteTemp("kube.rules", R"(*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SVC - [0:0]
-A PREROUTING -m u32 --u32 0x0=0x1 -j KUBE-SVC
COMMIT
)");
  CommandRun r = Trace({"--ruleset", unsupported, "--from", "local", "--proto",
                        "tcp", "--dst", "127.0.0.1:80"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("kube.rules:4"));
  EXPECT_THAT(r.err, HasSubstr("-m u32"));
}

// kube-proxy's iptables mode with three endpoints (see sim/testdata).
constexpr char kKubeProxyLb[] = "sim/testdata/kube-proxy-lb.iptables-save";

// A kube-proxy node (eth0 192.0.2.10, pods on cni0), as the README uses.
std::string NodeHostFile() { return "sim/testdata/kube-node-host.json"; }

TEST(TraceCommandTest, EachOutcomeWithItsProbabilityAsText) {
  CommandRun r =
      Trace({"--ruleset", kKubeProxyLb, "--host", NodeHostFile(), "--from",
             "pod:10.244.0.5", "--proto", "tcp", "--dst", "10.96.0.10:80"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("3 possible outcomes"));
  EXPECT_THAT(r.out, HasSubstr("outcome 1 of 3: probability 33.3%\n"
                               "verdict: delivered\n"
                               "to: 10.244.1.5:8080\n"));
  EXPECT_THAT(r.out, HasSubstr("outcome 3 of 3: probability 33.3%\n"
                               "verdict: delivered\n"
                               "to: 10.244.1.7:8080\n"));
  // Session affinity: the recent list decides.
  r = Trace({"--ruleset", kKubeProxyLb, "--host", NodeHostFile(), "--from",
             "pod:10.244.0.5", "--proto", "tcp", "--dst", "10.96.0.20:80"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("outcome 1 of 2: probability unknown\n"));
}

TEST(TraceCommandTest, EachOutcomeWithItsProbabilityAsJson) {
  CommandRun r = Trace({"--ruleset", kKubeProxyLb, "--host", NodeHostFile(),
                        "--from", "pod:10.244.0.5", "--proto", "tcp", "--dst",
                        "10.96.0.10:80", "--output", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = Json(r);
  ASSERT_TRUE(j["outcomes"].is_array());
  ASSERT_EQ(j["outcomes"].size(), 3u);
  EXPECT_EQ(j["outcomes"][1]["to"], "10.244.1.6:8080");
  EXPECT_NEAR(j["outcomes"][1]["probability"].get<double>(), 1.0 / 3, 1e-6);
  EXPECT_FALSE(j["outcomes"][1]["trace"].empty());
  // Several outcomes: no single top-level verdict to mislead a reader.
  EXPECT_FALSE(j.contains("verdict"));
  EXPECT_TRUE(j["notes"].is_array());

  r = Trace({"--ruleset", kKubeProxyLb, "--host", NodeHostFile(), "--from",
             "pod:10.244.0.5", "--proto", "tcp", "--dst", "10.96.0.20:80",
             "--output", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  j = Json(r);
  EXPECT_TRUE(j["outcomes"][0]["probability"].is_null());
}

TEST(TraceCommandTest, OneOutcomeKeepsTheTopLevelFields) {
  CommandRun r = Trace({"--ruleset", kKubeProxyLb, "--host", NodeHostFile(),
                        "--from", "pod:10.244.0.5", "--proto", "tcp", "--dst",
                        "10.96.0.99:80", "--output", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = Json(r);
  EXPECT_EQ(j["verdict"], "delivered");
  EXPECT_EQ(j["probability"], 1.0);
  ASSERT_EQ(j["outcomes"].size(), 1u);
  EXPECT_EQ(j["outcomes"][0]["verdict"], "delivered");
  r = Trace({"--ruleset", kKubeProxyLb, "--host", NodeHostFile(), "--from",
             "pod:10.244.0.5", "--proto", "tcp", "--dst", "10.96.0.99:80"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("outcome")));
  EXPECT_THAT(r.out, Not(HasSubstr("probability")));
}

constexpr char kSetRules[] = R"(*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 8080 -m set --match-set allowed src -j DNAT --to-destination 10.88.0.5:80
COMMIT
)";

constexpr char kAllowed[] =
    "create allowed hash:net family inet hashsize 1024 maxelem 65536 "
    "bucketsize 12 initval 0x1a673609\nadd allowed 198.51.100.0/24\n";

TEST(TraceCommandTest, IpsetsFromAFile) {
  std::string rules = WriteTemp("set.rules", kSetRules);
  std::string sets = WriteTemp("ipsets", kAllowed);
  CommandRun r =
      Trace({"--ruleset", rules, "--ipsets", sets, "--host", HostFile(),
             "--from", "external", "--src", "198.51.100.9", "--proto", "tcp",
             "--dst", "192.0.2.10:8080", "--output", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json(r)["to"], "10.88.0.5:80");
  // Without the sets the rule cannot be evaluated, and says which is missing.
  r = Trace({"--ruleset", rules, "--host", HostFile(), "--from", "external",
             "--src", "198.51.100.9", "--proto", "tcp", "--dst",
             "192.0.2.10:8080"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("no ipset \"allowed\""));
  // A bad file names itself and the line.
  std::string bad = WriteTemp("bad-ipsets", "create x hash:mac\n");
  r = Trace({"--ruleset", rules, "--ipsets", bad, "--from", "external",
             "--proto", "tcp", "--dst", "192.0.2.10:8080"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("bad-ipsets:1"));
  r = Trace({"--live", "--ipsets", sets, "--from", "external", "--proto", "tcp",
             "--dst", "192.0.2.10:8080"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--ipsets"));
}

TEST(TraceCommandTest, LiveReadsIpsetsOnlyWhenRulesNameThem) {
  FakeHost host = LiveHost();
  host.commands["iptables-nft-save"] = kSetRules;
  host.commands["ipset save"] = kAllowed;
  std::ostringstream out, err;
  int code = RunTraceCommand(
      {"--live", "--from", "external", "--src", "198.51.100.9", "--proto",
       "tcp", "--dst", "192.0.2.10:8080", "--output", "json"},
      out, err, host);
  ASSERT_EQ(code, 0) << err.str();
  EXPECT_EQ(nlohmann::json::parse(out.str())["to"], "10.88.0.5:80");
  EXPECT_THAT(host.ran, ::testing::Contains("ipset save"));

  FakeHost plain = LiveHost();
  std::ostringstream out2, err2;
  code = RunTraceCommand({"--live", "--from", "external", "--proto", "tcp",
                          "--dst", "192.0.2.10:8080"},
                         out2, err2, plain);
  ASSERT_EQ(code, 0) << err2.str();
  EXPECT_THAT(plain.ran, Not(::testing::Contains("ipset save")));
}

}  // namespace
