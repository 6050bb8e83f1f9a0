// hostport-cni, run as a runtime runs it (environment variables, config on
// stdin), chained after Debian's bridge + host-local plugins in a network
// namespace the test creates: ADD maps the ports and passes prevResult on,
// CHECK sees them (and sees when they are gone), DEL removes them and is
// idempotent; errors are CNI error objects with codes. On every backend, many
// plugin processes at once: different pods all land, pods wanting one port
// get exactly one winner and a conflict for the rest; a plugin killed in the
// middle of an ADD leaves nothing that a DEL with only the container id cannot
// find.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "e2e/netns.h"
#include "e2e/traffic.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport {
namespace {

using nlohmann::json;
using ::testing::AnyOf;
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
    return PluginText(plugin, command, config.dump(), id);
  }

  // The plugin with `stdin_text` as its input, verbatim.
  CommandResult PluginText(const std::string& plugin,
                           const std::string& command,
                           const std::string& stdin_text,
                           const std::string& id = "c1") {
    absl::StatusOr<CommandResult> r = host_->Run(
        {"env", "CNI_COMMAND=" + command, "CNI_CONTAINERID=" + id,
         "CNI_NETNS=/run/netns/" + pod_->name(), "CNI_IFNAME=eth0",
         "CNI_PATH=/usr/lib/cni",
         "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web",
         plugin},
        stdin_text);
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

  // Whether the state directory's lock can be taken now. A plugin leaves its
  // netlink sockets to a child for the kernel's reclaim after it exits; the
  // child must hold nothing else.
  bool LockIsFree() {
    const int fd = open((dir_ + "/state/lock").c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    const bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd);
    return free;
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
  EXPECT_TRUE(LockIsFree());
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
  // The deleted element made the first attempt fail: said, then read again.
  EXPECT_THAT(removed.stderr_text,
              HasSubstr("nftables IPv4 refused pod c1 (nft: No such file or "
                        "directory (deleting element { tcp . 8080 }"));
  EXPECT_THAT(removed.stderr_text,
              HasSubstr("reading what it holds again and retrying"));
  EXPECT_THAT(Nft(), Not(HasSubstr("comment \"")));
  EXPECT_TRUE(LockIsFree());
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

  // Hostile input: a prevResult nested 100000 deep crashed the plugin (exit
  // 139); no addresses, or a subnet's network or broadcast address, mapped
  // nothing or nonsense and exited 0.
  json deep_prev = HostportConfig(prev);
  deep_prev["prevResult"]["dns"] = "@deep@";
  std::string deep = deep_prev.dump();
  deep.replace(deep.find("\"@deep@\""), 8,
               std::string(100000, '[') + std::string(100000, ']'));
  r = PluginText(kPlugin, "ADD", deep);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(json::parse(r.stdout_text)["code"], 6);
  EXPECT_THAT(json::parse(r.stdout_text)["details"].get<std::string>(),
              HasSubstr("nested deeper than 64"));
  json no_ips = HostportConfig(prev);
  no_ips["prevResult"]["ips"] = json::array();
  r = Plugin(kPlugin, "ADD", no_ips);
  EXPECT_EQ(json::parse(r.stdout_text)["code"], 7);
  EXPECT_THAT(json::parse(r.stdout_text)["msg"].get<std::string>(),
              HasSubstr("2 port mapping(s) but no ips"));
  for (const char* address :
       {"10.88.0.0/16", "10.88.255.255/16", "255.255.255.255/32"}) {
    json odd = HostportConfig(prev);
    odd["prevResult"]["ips"][0]["address"] = address;
    r = Plugin(kPlugin, "ADD", odd);
    EXPECT_EQ(json::parse(r.stdout_text)["code"], 7) << address;
    EXPECT_THAT(json::parse(r.stdout_text)["msg"].get<std::string>(),
                AnyOf(HasSubstr("network or broadcast address"),
                      HasSubstr("cannot be a pod address")))
        << address;
  }
  EXPECT_THAT(Nft(), Not(HasSubstr("comment \"")));
}

// Many plugin processes against one host, per backend.
class HostportCniConcurrencyTest
    : public HostportCniTest,
      public ::testing::WithParamInterface<const char*> {
 protected:
  // ADD/DEL config of pod `index` (addresses 10.88.0.<index> and
  // fd00:88::<index>) mapping `host_port`; DEL carries neither mappings nor
  // prevResult when `bare`.
  json Config(int index, int host_port, bool bare = false) {
    json c = {{"cniVersion", "1.0.0"},          {"name", "hpnet"},
              {"type", "hostport-cni"},         {"backend", GetParam()},
              {"natInterface", nat_interface_}, {"stateDir", dir_ + "/state"}};
    if (bare) return c;
    c["runtimeConfig"] = {{"portMappings",
                           {{{"hostPort", host_port},
                             {"containerPort", 80},
                             {"protocol", "tcp"}}}}};
    c["prevResult"] = {
        {"cniVersion", "1.0.0"},
        {"ips",
         {{{"address", absl::StrCat("10.88.0.", index, "/16")}},
          {{"address", absl::StrCat("fd00:88::", index, "/64")}}}}};
    return c;
  }

  std::string nat_interface_;  // natInterface of every config

  // Runs `command` for pods 2..n+1 as n concurrent plugin processes, with the
  // config `config(index)`; the results in pod order.
  std::vector<CommandResult> RunConcurrently(
      const std::string& command, int n,
      const std::function<json(int index)>& config) {
    std::vector<CommandResult> results(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back(
          [&, i] { results[i] = Run(command, i + 2, config(i + 2)); });
    }
    for (std::thread& t : threads) t.join();
    return results;
  }

  CommandResult Run(const std::string& command, int index, const json& c) {
    absl::StatusOr<CommandResult> r = host_->Run(
        {"env", "CNI_COMMAND=" + command,
         absl::StrCat("CNI_CONTAINERID=c", index),
         "CNI_NETNS=/run/netns/" + pod_->name(), "CNI_IFNAME=eth0",
         absl::StrCat("CNI_ARGS=K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-",
                      index),
         kPlugin},
        c.dump());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{-1, "", ""};
  }

  // Our rules of both families, as the backend's own tools print them.
  std::string Kernel() {
    const std::string backend = GetParam();
    if (backend == "nftables") return Nft();
    std::string out;
    for (const char* family : {"iptables", "ip6tables"}) {
      absl::StatusOr<CommandResult> r = host_->Run(
          {absl::StrCat(family, backend.substr(8), "-save"), "-t", "nat"});
      if (r.ok()) out += r->stdout_text;
    }
    return out;
  }

  // How many (family, mapping) pairs DNAT `host_port`.
  int Mappings(int host_port) {
    const std::string kernel = Kernel();
    const std::string needle =
        std::string(GetParam()) == "nftables"
            ? absl::StrCat("tcp . ", host_port, " comment")
            : absl::StrCat("--dport ", host_port, " -j KUBE-HP-");
    int n = 0;
    for (size_t at = kernel.find(needle); at != std::string::npos;
         at = kernel.find(needle, at + 1)) {
      ++n;
    }
    return n;
  }
};

TEST_P(HostportCniConcurrencyTest, FiftyConcurrentAddsOfDifferentPodsAllLand) {
  constexpr int kPods = 50;
  std::vector<CommandResult> results = RunConcurrently(
      "ADD", kPods, [&](int index) { return Config(index, 9998 + index); });
  for (int i = 0; i < kPods; ++i) {
    EXPECT_EQ(results[i].exit_code, 0)
        << "pod " << i << ": " << results[i].stdout_text
        << results[i].stderr_text;
    EXPECT_EQ(Mappings(10000 + i), 2) << "port " << 10000 + i;
  }
  results = RunConcurrently(
      "DEL", kPods, [&](int index) { return Config(index, 0, /*bare=*/true); });
  for (int i = 0; i < kPods; ++i) {
    EXPECT_EQ(results[i].exit_code, 0) << results[i].stdout_text;
  }
  EXPECT_THAT(Kernel(), Not(HasSubstr("default/web-")));
}

TEST_P(HostportCniConcurrencyTest, ConcurrentAddsForOnePortHaveOneWinner) {
  constexpr int kPods = 8;
  std::vector<CommandResult> results = RunConcurrently(
      "ADD", kPods, [&](int index) { return Config(index, 8080); });
  int winners = 0;
  for (const CommandResult& r : results) {
    if (r.exit_code == 0) {
      ++winners;
      continue;
    }
    EXPECT_EQ(r.exit_code, 1);
    json error = json::parse(r.stdout_text, nullptr, false);
    ASSERT_TRUE(error.is_object()) << r.stdout_text;
    EXPECT_EQ(error["code"], 100) << r.stdout_text;
    EXPECT_THAT(error["msg"].get<std::string>(), HasSubstr("8080"));
    EXPECT_THAT(error["msg"].get<std::string>(), HasSubstr("default/web-"));
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(Mappings(8080), 2) << Kernel();
  // The same, one after another: the second pod is refused too.
  CommandResult again = Run("ADD", 20, Config(20, 8080));
  EXPECT_EQ(again.exit_code, 1) << again.stdout_text;
  EXPECT_EQ(Mappings(8080), 2);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, HostportCniConcurrencyTest,
    ::testing::Values("nftables", "iptables-legacy", "iptables-nft"),
    [](const auto& info) {
      std::string name = info.param;
      name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
      return name;
    });

// A plugin killed with SIGKILL in the middle of an ADD, at two points made
// observable by a stand-in for iptables-restore that stops before or after
// running the real one: a DEL with only the container id leaves nothing.
class HostportCniKillTest : public HostportCniConcurrencyTest {
 protected:
  // Starts the plugin (ADD of pod 2, port 8080) with `bin` first on PATH;
  // returns its pid, the leader of its own process group.
  pid_t StartAdd(const std::string& bin) {
    int in[2];
    EXPECT_EQ(pipe(in), 0);
    const std::string config = Config(2, 8080).dump();
    const pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      dup2(in[0], 0);
      close(in[0]);
      close(in[1]);
      const std::string path = absl::StrCat("PATH=", bin, ":", getenv("PATH"));
      const std::string netns = "CNI_NETNS=/run/netns/" + pod_->name();
      execlp("ip", "ip", "netns", "exec", host_->name().c_str(), "env",
             path.c_str(), "CNI_COMMAND=ADD", "CNI_CONTAINERID=c2",
             netns.c_str(), "CNI_IFNAME=eth0",
             "CNI_ARGS=K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-2", kPlugin,
             static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid, pid);
    close(in[0]);
    EXPECT_EQ(write(in[1], config.data(), config.size()),
              static_cast<ssize_t>(config.size()));
    close(in[1]);
    return pid;
  }

  // A directory with a stand-in for the backend's IPv4 restore program that
  // touches `signal` and sleeps, before or after running the real one.
  std::string StandIn(bool after, const std::string& signal) {
    const std::string backend = GetParam();
    const std::string program =
        absl::StrCat("iptables", backend.substr(8), "-restore");
    const std::string bin =
        absl::StrCat(dir_, "/bin-", after ? "after" : "before");
    mkdir(dir_.c_str(), 0700);
    mkdir(bin.c_str(), 0700);
    const std::string script = absl::StrCat(bin, "/", program);
    std::ofstream(script) << "#!/bin/sh\n"
                          << (after ? "" : "touch " + signal + "; sleep 600\n")
                          << "/usr/sbin/" << program << " \"$@\" || exit $?\n"
                          << (after ? "touch " + signal + "; sleep 600\n" : "");
    chmod(script.c_str(), 0755);
    return bin;
  }
};

TEST_P(HostportCniKillTest, DelFindsWhatAKilledAddLeft) {
  // A NAT interface, so the killed ADD has set route_localnet: the value to
  // put back must be on record before it did.
  nat_interface_ = "hp-nat0";
  ASSERT_TRUE(host_
                  ->Check({"ip", "link", "add", nat_interface_, "type", "veth",
                           "peer", "name", "hp-nat1"})
                  .ok());
  const std::vector<std::string> route_localnet = {
      "sysctl", "-n", "net.ipv4.conf.hp-nat0.route_localnet"};
  for (bool after : {false, true}) {
    SCOPED_TRACE(after ? "killed after the IPv4 rules went in"
                       : "killed before the IPv4 rules went in");
    const std::string signal =
        absl::StrCat(dir_, "/reached-", after ? "after" : "before");
    const pid_t pid = StartAdd(StandIn(after, signal));
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (access(signal.c_str(), F_OK) != 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_EQ(access(signal.c_str(), F_OK), 0) << "the plugin never got there";
    ASSERT_EQ(kill(-pid, SIGKILL), 0);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(Mappings(8080), after ? 1 : 0) << Kernel();
    EXPECT_EQ(host_->Check(route_localnet).value_or(""), "1\n");

    CommandResult del = Run("DEL", 2, Config(2, 0, /*bare=*/true));
    EXPECT_EQ(del.exit_code, 0) << del.stdout_text << del.stderr_text;
    const std::string kernel = Kernel();
    EXPECT_EQ(Mappings(8080), 0) << kernel;
    EXPECT_THAT(kernel, Not(HasSubstr("web-2"))) << kernel;
    EXPECT_THAT(kernel, Not(HasSubstr("KUBE-HP-"))) << kernel;
    EXPECT_EQ(host_->Check(route_localnet).value_or(""), "0\n")
        << "route_localnet left on with nothing mapped";
    // And the port is free for another pod.
    CommandResult other = Run("ADD", 3, Config(3, 8080));
    EXPECT_EQ(other.exit_code, 0) << other.stdout_text;
    EXPECT_EQ(Run("DEL", 3, Config(3, 0, true)).exit_code, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(IptablesBackends, HostportCniKillTest,
                         ::testing::Values("iptables-legacy", "iptables-nft"),
                         [](const auto& info) {
                           std::string name = info.param;
                           name.erase(
                               std::remove(name.begin(), name.end(), '-'),
                               name.end());
                           return name;
                         });

}  // namespace
}  // namespace hostport
