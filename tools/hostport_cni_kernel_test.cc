// hostport-cni, run as a runtime runs it (environment variables, config on
// stdin), chained after Debian's bridge + host-local plugins in a network
// namespace the test creates: ADD maps the ports and passes prevResult on,
// CHECK sees them (and sees when they are gone), DEL removes them and is
// idempotent; errors are CNI error objects with codes.
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "e2e/netns.h"
#include "e2e/traffic.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class HostportCniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HOSTPORT_REQUIRE_KERNEL();
    absl::StatusOr<std::unique_ptr<e2e::Netns>> host =
        e2e::Netns::Create("cnihost");
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = std::move(*host);
    absl::StatusOr<std::unique_ptr<e2e::Netns>> pod =
        e2e::Netns::Create("cnipod");
    ASSERT_TRUE(pod.ok()) << pod.status();
    pod_ = std::move(*pod);
    dir_ = absl::StrCat(::testing::TempDir(), "/", host_->name());
  }

  CommandResult Plugin(const std::string& plugin, const std::string& command,
                       const json& config, const std::string& id = "c1") {
    absl::StatusOr<CommandResult> r = host_->Run(
        {"env", "CNI_COMMAND=" + command, "CNI_CONTAINERID=" + id,
         "CNI_NETNS=/run/netns/" + pod_->name(), "CNI_IFNAME=eth0",
         "CNI_PATH=/usr/lib/cni",
         "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web",
         plugin},
        config.dump());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{-1, "", ""};
  }

  json BridgeConfig() {
    return {
        {"cniVersion", "1.0.0"},
        {"name", "hpnet"},
        {"type", "bridge"},
        {"bridge", "hp-br0"},
        {"isGateway", true},
        {"hairpinMode", true},
        {"ipam",
         {{"type", "host-local"},
          {"ranges",
           {{{{"subnet", "10.88.0.0/16"}}}, {{{"subnet", "fd00:88::/64"}}}}},
          {"dataDir", dir_ + "/ipam"}}}};
  }

  json HostportConfig(const json& prev) {
    return {
        {"cniVersion", "1.0.0"},
        {"name", "hpnet"},
        {"type", "hostport-cni"},
        {"stateDir", dir_ + "/state"},
        {"runtimeConfig",
         {{"portMappings",
           {{{"hostPort", 8080}, {"containerPort", 80}, {"protocol", "tcp"}},
            {{"hostPort", 5353},
             {"containerPort", 53},
             {"protocol", "udp"},
             {"hostIP", "127.0.0.1"}}}}}},
        {"prevResult", prev}};
  }

  std::string Nft() {
    absl::StatusOr<CommandResult> r = host_->Run({"nft", "list", "ruleset"});
    return r.ok() ? r->stdout_text : "";
  }

  std::unique_ptr<e2e::Netns> host_, pod_;
  std::string dir_;
};

constexpr char kPlugin[] = "tools/hostport-cni";

TEST_F(HostportCniTest, ChainedAfterBridgeAddCheckDel) {
  CommandResult bridge = Plugin("/usr/lib/cni/bridge", "ADD", BridgeConfig());
  ASSERT_EQ(bridge.exit_code, 0) << bridge.stdout_text << bridge.stderr_text;
  const json prev = json::parse(bridge.stdout_text);
  ASSERT_EQ(prev["ips"].size(), 2u);

  CommandResult add = Plugin(kPlugin, "ADD", HostportConfig(prev));
  ASSERT_EQ(add.exit_code, 0) << add.stdout_text << add.stderr_text;
  EXPECT_EQ(json::parse(add.stdout_text), prev)
      << "prevResult must pass through";
  const std::string nft = Nft();
  const std::string pod4 = prev["ips"][0]["address"].get<std::string>().substr(
      0, prev["ips"][0]["address"].get<std::string>().find('/'));
  EXPECT_THAT(nft, HasSubstr(absl::StrCat("tcp . 8080 comment")));
  EXPECT_THAT(nft, HasSubstr(absl::StrCat("127.0.0.1 . udp . 5353 comment")));
  // The NAT interface defaults to the one the pod's IPv4 route uses.
  EXPECT_THAT(nft, HasSubstr(absl::StrCat("\"hp-br0\" . ", pod4)));
  absl::StatusOr<std::string> localnet =
      host_->Check({"cat", "/proc/sys/net/ipv4/conf/hp-br0/route_localnet"});
  ASSERT_TRUE(localnet.ok());
  EXPECT_EQ(*localnet, "1\n");

  // Real traffic: a server in the pod answers on the container ports; the host
  // reaches it through its own address (TCP 8080) and through the
  // 127.0.0.1-bound UDP 5353 (masqueraded out of hp-br0).
  absl::StatusOr<std::unique_ptr<e2e::EchoServer>> tcp =
      e2e::EchoServer::Start(*pod_, "pod", 80);
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  absl::StatusOr<std::unique_ptr<e2e::EchoServer>> udp =
      e2e::EchoServer::Start(*pod_, "pod", 53);
  ASSERT_TRUE(udp.ok()) << udp.status();
  absl::StatusOr<std::string> reply = e2e::Exchange(
      *host_, Protocol::kTCP, "10.88.0.1", 8080, absl::Seconds(2));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, HasSubstr("pod "));
  reply = e2e::Exchange(*host_, Protocol::kUDP, "127.0.0.1", 5353,
                        absl::Seconds(2));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "pod 10.88.0.1");

  CommandResult check = Plugin(kPlugin, "CHECK", HostportConfig(prev));
  EXPECT_EQ(check.exit_code, 0) << check.stdout_text;
  // Someone deletes a rule: CHECK says which.
  ASSERT_TRUE(host_
                  ->Check({"nft", "delete", "element", "ip", "crio-hostports",
                           "hostports", "{ tcp . 8080 }"})
                  .ok());
  check = Plugin(kPlugin, "CHECK", HostportConfig(prev));
  EXPECT_EQ(check.exit_code, 1);
  json error = json::parse(check.stdout_text);
  EXPECT_EQ(error["code"], 100);
  EXPECT_THAT(error["msg"].get<std::string>(), HasSubstr("tcp . 8080"));

  // DEL without prevResult or mappings: the record says what to remove.
  json del = {{"cniVersion", "1.0.0"},
              {"name", "hpnet"},
              {"type", "hostport-cni"},
              {"stateDir", dir_ + "/state"}};
  CommandResult removed = Plugin(kPlugin, "DEL", del);
  EXPECT_EQ(removed.exit_code, 0) << removed.stdout_text;
  EXPECT_THAT(Nft(), Not(HasSubstr("comment \"")));
  removed = Plugin(kPlugin, "DEL", del);
  EXPECT_EQ(removed.exit_code, 0)
      << "DEL must be idempotent: " << removed.stdout_text;
  EXPECT_EQ(Plugin("/usr/lib/cni/bridge", "DEL", BridgeConfig()).exit_code, 0);
}

TEST_F(HostportCniTest, VersionsAndErrors) {
  CommandResult version = Plugin(kPlugin, "VERSION", json::object());
  ASSERT_EQ(version.exit_code, 0);
  EXPECT_THAT(json::parse(version.stdout_text)["supportedVersions"],
              ::testing::Contains("0.4.0"));

  const json prev = {
      {"cniVersion", "0.4.0"},
      {"ips", {{{"version", "4"}, {"address", "10.88.0.5/16"}}}}};
  json old = HostportConfig(prev);
  old["cniVersion"] = "0.2.0";
  CommandResult r = Plugin(kPlugin, "ADD", old);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(json::parse(r.stdout_text)["code"], 1);

  r = Plugin(kPlugin, "ADD", json("not an object"));
  EXPECT_EQ(json::parse(r.stdout_text)["code"], 6);

  json bad = HostportConfig(prev);
  bad["runtimeConfig"]["portMappings"][0]["hostPort"] = 70000;
  r = Plugin(kPlugin, "ADD", bad);
  EXPECT_EQ(json::parse(r.stdout_text)["code"], 7);
  EXPECT_THAT(json::parse(r.stdout_text)["msg"].get<std::string>(),
              HasSubstr("host_port 70000 out of range"));

  r = Plugin(kPlugin, "ADD", HostportConfig(prev), /*id=*/"");
  EXPECT_EQ(json::parse(r.stdout_text)["code"], 4);

  json no_prev = HostportConfig(prev);
  no_prev.erase("prevResult");
  r = Plugin(kPlugin, "ADD", no_prev);
  EXPECT_EQ(json::parse(r.stdout_text)["code"], 7);
  EXPECT_THAT(Nft(), Not(HasSubstr("comment \"")));
}

}  // namespace
}  // namespace hostport
