// The managers on the real kernel, in a network namespace the test creates: for
// each backend (nftables, iptables-legacy, iptables-nft) and both families, Add
// puts the rules in place and holds the ports; Remove (without pod IPs, also
// from a restarted manager, also after someone changed our rules underneath)
// leaves nothing of the pod and an unrelated rule that was there before exactly
// as it was.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "e2e/netns.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/hostport_manager.h"
#include "hostport/os/sysctl.h"
#include "hostport/testing/fake_iptables.h"

namespace hostport::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Backend = MetaOptions::Backend;

struct BackendCase {
  std::string name;
  Backend backend;
};

void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.name; }

// 0 when `address:port` could be bound for `protocol`, else errno.
int TryBind(const std::string& address, int port, Protocol protocol) {
  IpAddress ip = *IpAddress::Parse(address);
  const bool v4 = ip.family() == IPFamily::kIPv4;
  const int fd =
      socket(v4 ? AF_INET : AF_INET6,
             protocol == Protocol::kUDP ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (fd < 0) return errno;
  int err = 0;
  if (v4) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    memcpy(&sin.sin_addr, ip.bytes(), 4);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0)
      err = errno;
  } else {
    const int on = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    memcpy(&sin6.sin6_addr, ip.bytes(), 16);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sin6), sizeof(sin6)) != 0)
      err = errno;
  }
  close(fd);
  return err;
}

PodPortMapping WebPod(bool with_ips) {
  PodPortMapping pod;
  pod.namespace_ = "default";
  pod.name = "web";
  if (with_ips) pod.ips = {"10.88.0.5", "fd00:88::5"};
  pod.port_mappings = {
      {8080, 80, Protocol::kTCP, ""},
      {5353, 53, Protocol::kUDP, "192.0.2.10"},
      {5353, 53, Protocol::kUDP, "2001:db8::10"},
      {9000, 9000, Protocol::kTCP, "127.0.0.1"},
  };
  return pod;
}

class ManagerKernelTest : public ::testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override {
    HOSTPORT_REQUIRE_KERNEL();
    absl::StatusOr<std::unique_ptr<Netns>> ns = Netns::Create("mgr");
    ASSERT_TRUE(ns.ok()) << ns.status();
    ns_ = std::move(*ns);
    for (const std::vector<std::string>& cmd :
         std::vector<std::vector<std::string>>{
             {"ip", "link", "add", "hp0", "type", "veth", "peer", "name",
              "hp0-peer"},
             {"ip", "link", "set", "hp0", "up"},
             {"ip", "link", "set", "hp0-peer", "up"},
             {"ip", "addr", "add", "192.0.2.10/24", "dev", "hp0"},
             {"ip", "addr", "add", "2001:db8::10/64", "dev", "hp0", "nodad"},
             {"ip", "link", "add", "hp-br0", "type", "veth", "peer", "name",
              "hp-br0-peer"},
             {"ip", "link", "set", "hp-br0", "up"},
             {"ip", "link", "set", "hp-br0-peer", "up"},
             {"ip", "addr", "add", "10.88.0.1/16", "dev", "hp-br0"},
             {"ip", "addr", "add", "fd00:88::1/64", "dev", "hp-br0", "nodad"},
         }) {
      absl::StatusOr<std::string> r = ns_->Check(cmd);
      ASSERT_TRUE(r.ok()) << r.status();
    }
    // Someone else's rules, which must come through everything untouched.
    if (GetParam().backend == Backend::kNftables) {
      ASSERT_TRUE(
          ns_->Check({"nft", "-f", "-"},
                     "table inet unrelated {\n chain c {\n type nat hook "
                     "postrouting priority 100;\n ip saddr "
                     "192.168.99.0/24 masquerade\n }\n}\n")
              .ok());
    } else {
      ASSERT_TRUE(
          ns_->Check({Tool("iptables"), "-t", "nat", "-A", "POSTROUTING", "-s",
                      "192.168.99.0/24", "-j", "MASQUERADE"})
              .ok());
      ASSERT_TRUE(
          ns_->Check({Tool("ip6tables"), "-t", "nat", "-A", "POSTROUTING", "-s",
                      "fd99::/64", "-j", "MASQUERADE"})
              .ok());
    }
    absl::StatusOr<std::unique_ptr<Netns::Entered>> entered = ns_->Enter();
    ASSERT_TRUE(entered.ok()) << entered.status();
    entered_ = std::move(*entered);
  }

  void TearDown() override {
    entered_.reset();
    ns_.reset();
  }

  std::string Tool(const std::string& base) const {
    return GetParam().backend == Backend::kIptablesLegacy ? base + "-legacy"
                                                          : base + "-nft";
  }

  absl::StatusOr<std::unique_ptr<HostPortManager>> NewManager() {
    MetaOptions options;
    options.prefer = GetParam().backend;
    options.log = [this](absl::string_view line) {
      log_.push_back(std::string(line));
    };
    return NewMetaHostportManager(options);
  }

  // What the kernel holds in this backend, without timestamps.
  std::string Snapshot() {
    std::vector<std::string> lines;
    std::vector<std::vector<std::string>> dumps;
    if (GetParam().backend == Backend::kNftables) {
      dumps = {{"nft", "list", "ruleset"}};
    } else {
      dumps = {{Tool("iptables") + "-save"}, {Tool("ip6tables") + "-save"}};
    }
    for (const auto& dump : dumps) {
      absl::StatusOr<std::string> out = ns_->Check(dump);
      EXPECT_TRUE(out.ok()) << out.status();
      if (!out.ok()) continue;
      for (absl::string_view line : absl::StrSplit(*out, '\n')) {
        if (!absl::StartsWith(line, "#")) lines.push_back(std::string(line));
      }
    }
    return absl::StrJoin(lines, "\n");
  }

  // The unrelated rule, as the backend prints it.
  std::string UnrelatedRule() const {
    return GetParam().backend == Backend::kNftables
               ? "ip saddr 192.168.99.0/24 masquerade"
               : "-A POSTROUTING -s 192.168.99.0/24 -j MASQUERADE";
  }

  void ExpectNothingOfThePod(const std::string& snapshot) {
    EXPECT_THAT(snapshot, Not(HasSubstr("KUBE-HP-")));
    EXPECT_THAT(snapshot, Not(HasSubstr("CRIO-MASQ-")));
    EXPECT_THAT(snapshot, Not(HasSubstr("default/web")));
    EXPECT_THAT(snapshot, Not(HasSubstr(OwnerComment("sandbox-web"))));
    EXPECT_THAT(snapshot, HasSubstr(UnrelatedRule()));
  }

  std::unique_ptr<Netns> ns_;
  std::unique_ptr<Netns::Entered> entered_;
  std::vector<std::string> log_;
};

TEST_P(ManagerKernelTest, AddHoldsPortsAndInstallsRulesRemoveLeavesNothing) {
  absl::StatusOr<std::unique_ptr<HostPortManager>> manager = NewManager();
  ASSERT_TRUE(manager.ok()) << manager.status();
  const std::string name = GetParam().backend == Backend::kNftables ? "nftables"
                           : GetParam().backend == Backend::kIptablesLegacy
                               ? "iptables-legacy"
                               : "iptables-nft";
  EXPECT_THAT((*manager)->Backends(),
              ::testing::IsSupersetOf({name + " IPv4", name + " IPv6"}));
  const std::string before = Snapshot();

  ASSERT_TRUE((*manager)->Add("sandbox-web", WebPod(true), "hp-br0").ok());
  const std::string added = Snapshot();
  if (GetParam().backend == Backend::kNftables) {
    EXPECT_THAT(added, HasSubstr("tcp . 8080 comment"));
    EXPECT_THAT(added, HasSubstr("2001:db8::10 . udp . 5353 comment"));
    EXPECT_THAT(added, HasSubstr("\"hp-br0\" . 10.88.0.5 comment"));
  } else {
    EXPECT_THAT(added, HasSubstr("-j DNAT --to-destination 10.88.0.5:80"));
    EXPECT_THAT(added, HasSubstr("-j DNAT --to-destination [fd00:88::5]:80"));
    EXPECT_THAT(added, HasSubstr("-d 127.0.0.1/32 -p tcp -m comment --comment "
                                 "\"default/web hostport 9000\" -m tcp --dport "
                                 "9000 -j DROP"));
  }
  // The ports are held: nothing else can bind them.
  EXPECT_EQ(TryBind("0.0.0.0", 8080, Protocol::kTCP), EADDRINUSE);
  EXPECT_EQ(TryBind("::", 8080, Protocol::kTCP), EADDRINUSE);
  EXPECT_EQ(TryBind("192.0.2.10", 5353, Protocol::kUDP), EADDRINUSE);
  EXPECT_EQ(TryBind("2001:db8::10", 5353, Protocol::kUDP), EADDRINUSE);
  EXPECT_EQ(TryBind("127.0.0.1", 9000, Protocol::kTCP), EADDRINUSE);
  EXPECT_EQ(TryBind("0.0.0.0", 5353, Protocol::kUDP), EADDRINUSE);
  EXPECT_EQ(TryBind("0.0.0.0", 8081, Protocol::kTCP), 0);
  ProcSysctl sysctl;
  EXPECT_EQ(*sysctl.Read(RouteLocalnetSysctl("hp-br0")), "1");

  // Remove needs no pod IP.
  ASSERT_TRUE((*manager)->Remove("sandbox-web", WebPod(false)).ok());
  const std::string removed = Snapshot();
  ExpectNothingOfThePod(removed);
  EXPECT_EQ(TryBind("0.0.0.0", 8080, Protocol::kTCP), 0);
  EXPECT_EQ(TryBind("192.0.2.10", 5353, Protocol::kUDP), 0);
  EXPECT_EQ(TryBind("127.0.0.1", 9000, Protocol::kTCP), 0);
  // Removing again, or an unknown id, is a no-op.
  EXPECT_TRUE((*manager)->Remove("sandbox-web", WebPod(false)).ok());
  EXPECT_TRUE((*manager)->Remove("never-added", WebPod(false)).ok());
  EXPECT_EQ(Snapshot(), removed);
  // The last Remove took our base away too: the kernel holds what it held
  // before, byte for byte, but for a table left empty (iptables-nft keeps the
  // raw table it created for our guard, with no rule in it).
  EXPECT_EQ(testing::WithoutEmptyTables(removed),
            testing::WithoutEmptyTables(before));
}

TEST_P(ManagerKernelTest, RestartedManagerRemovesWhatAnEarlierOneAdded) {
  {
    absl::StatusOr<std::unique_ptr<HostPortManager>> first = NewManager();
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE((*first)->Add("sandbox-web", WebPod(true), "hp-br0").ok());
  }
  EXPECT_THAT(Snapshot(),
              HasSubstr(GetParam().backend == Backend::kNftables ? "tcp . 8080"
                                                                 : "KUBE-HP-"));
  absl::StatusOr<std::unique_ptr<HostPortManager>> second = NewManager();
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE((*second)->Remove("sandbox-web", WebPod(false)).ok());
  ExpectNothingOfThePod(Snapshot());
}

TEST_P(ManagerKernelTest, RetriesAfterOurRulesWereChangedUnderneath) {
  absl::StatusOr<std::unique_ptr<HostPortManager>> manager = NewManager();
  ASSERT_TRUE(manager.ok()) << manager.status();
  ASSERT_TRUE((*manager)->Add("sandbox-web", WebPod(true), "hp-br0").ok());
  // An operator deletes one of our rules by hand: the manager's index is stale,
  // its delta is refused, it reads the kernel again and retries.
  if (GetParam().backend == Backend::kNftables) {
    ASSERT_TRUE(ns_->Check({"nft", "delete", "element", "ip", "crio-hostports",
                            "hostports", "{ tcp . 8080 }"})
                    .ok());
  } else {
    ASSERT_TRUE(
        ns_->Check({Tool("iptables"), "-t", "nat", "-D", "KUBE-HOSTPORTS", "1"})
            .ok());
  }
  ASSERT_TRUE((*manager)->Remove("sandbox-web", WebPod(false)).ok());
  ExpectNothingOfThePod(Snapshot());
}

TEST_P(ManagerKernelTest, ReAddReplacesMappings) {
  absl::StatusOr<std::unique_ptr<HostPortManager>> manager = NewManager();
  ASSERT_TRUE(manager.ok()) << manager.status();
  ASSERT_TRUE((*manager)->Add("sandbox-web", WebPod(true), "hp-br0").ok());
  PodPortMapping narrower = WebPod(true);
  narrower.port_mappings = {{8080, 81, Protocol::kTCP, "192.0.2.10"}};
  ASSERT_TRUE((*manager)->Add("sandbox-web", narrower, "").ok());
  const std::string snapshot = Snapshot();
  EXPECT_THAT(snapshot, Not(HasSubstr("9000")));
  EXPECT_THAT(snapshot, Not(HasSubstr("5353")));
  EXPECT_THAT(snapshot, HasSubstr("10.88.0.5"));
  EXPECT_EQ(TryBind("192.0.2.10", 8080, Protocol::kTCP), EADDRINUSE);
  EXPECT_EQ(TryBind("127.0.0.1", 8080, Protocol::kTCP), 0);
  EXPECT_EQ(TryBind("127.0.0.1", 9000, Protocol::kTCP), 0);
  // Another pod may not take the port on the same address.
  PodPortMapping other = WebPod(true);
  other.name = "other";
  other.ips = {"10.88.0.6"};
  other.port_mappings = {{8080, 80, Protocol::kTCP, ""}};
  absl::Status conflict = (*manager)->Add("sandbox-other", other, "");
  EXPECT_EQ(conflict.code(), absl::StatusCode::kAlreadyExists) << conflict;
  EXPECT_EQ(Snapshot(), snapshot);
  ASSERT_TRUE((*manager)->Remove("sandbox-web", WebPod(false)).ok());
  ExpectNothingOfThePod(Snapshot());
}

PodPortMapping OnePortPod(const std::string& name, int index) {
  PodPortMapping pod;
  pod.namespace_ = "default";
  pod.name = name;
  pod.ips = {absl::StrCat("10.88.0.", 10 + index),
             absl::StrCat("fd00:88::", 10 + index)};
  pod.port_mappings = {{7000 + index, 80, Protocol::kTCP, ""}};
  return pod;
}

// `count` pods named `prefix`0, `prefix`1, ..., each with OnePortPod's mapping.
std::vector<PodRequest> OnePortPods(const std::string& prefix, int count) {
  std::vector<PodRequest> pods;
  for (int i = 0; i < count; ++i) {
    const std::string id = absl::StrCat(prefix, i);
    pods.push_back(PodRequest{id, OnePortPod(id, i), "hp-br0"});
  }
  return pods;
}

// Pods laid down together (a sync) and alone (an add) go one by one; the last
// takes the shared chains with it, unless someone else's rule sits in one,
// which then stays with them. (iptables-nft finds the rules it deletes by
// handle over netlink.)
TEST_P(ManagerKernelTest, PodsLaidDownTogetherOrAloneGoOneByOne) {
  absl::StatusOr<std::unique_ptr<HostPortManager>> manager = NewManager();
  ASSERT_TRUE(manager.ok()) << manager.status();
  ASSERT_TRUE((*manager)->Sync(OnePortPods("synced-", 3)).ok());
  ASSERT_TRUE((*manager)->Add("alone", OnePortPod("alone", 9), "hp-br0").ok());
  for (const auto& [id, port] : std::vector<std::pair<std::string, int>>{
           {"alone", 7009}, {"synced-1", 7001}, {"synced-0", 7000}}) {
    SCOPED_TRACE(id);
    ASSERT_TRUE((*manager)->Remove(id, PodPortMapping()).ok());
    const std::string snapshot = Snapshot();
    EXPECT_THAT(snapshot, Not(HasSubstr(absl::StrCat("dport ", port))));
    EXPECT_THAT(snapshot, Not(HasSubstr(absl::StrCat(". ", port))));
    EXPECT_THAT(snapshot, HasSubstr("7002"));
  }
  if (GetParam().backend != Backend::kNftables) {
    ASSERT_TRUE(
        ns_->Check({Tool("iptables"), "-t", "nat", "-A", "KUBE-HOSTPORTS", "-p",
                    "tcp", "--dport", "6000", "-j", "ACCEPT"})
            .ok());
  }
  ASSERT_TRUE((*manager)->Remove("synced-2", PodPortMapping()).ok());
  const std::string snapshot = Snapshot();
  EXPECT_THAT(snapshot, Not(HasSubstr("7002")));
  EXPECT_THAT(snapshot, Not(HasSubstr("KUBE-HP-")));
  EXPECT_THAT(snapshot, Not(HasSubstr("CRIO-MASQ-")));
  EXPECT_THAT(snapshot, HasSubstr(UnrelatedRule()));
  if (GetParam().backend != Backend::kNftables) {
    // Theirs stays, and the chain it sits in; IPv6 had none: its base went.
    EXPECT_THAT(snapshot, HasSubstr("--dport 6000 -j ACCEPT"));
    absl::StatusOr<std::string> v6 = ns_->Check({Tool("ip6tables") + "-save"});
    ASSERT_TRUE(v6.ok()) << v6.status();
    EXPECT_THAT(*v6, Not(HasSubstr("KUBE-HOSTPORTS")));
  } else {
    EXPECT_THAT(snapshot, Not(HasSubstr("crio-hostports")));
  }
}

// A sync that removes more pods than iptables-nft probes for one by one
// (kMostProbed) reads the shared chains whole instead, and leaves exactly the
// pod it keeps.
TEST_P(ManagerKernelTest, ASyncThatRemovesManyPodsKeepsExactlyTheRest) {
  absl::StatusOr<std::unique_ptr<HostPortManager>> manager = NewManager();
  ASSERT_TRUE(manager.ok()) << manager.status();
  const std::vector<PodRequest> many = OnePortPods("pod-", 40);
  ASSERT_TRUE((*manager)->Sync(many).ok());
  EXPECT_THAT(Snapshot(), HasSubstr("7039"));
  ASSERT_TRUE((*manager)->Sync({many[7]}).ok());
  const std::string snapshot = Snapshot();
  EXPECT_THAT(snapshot, HasSubstr("7007"));
  for (int i : {0, 6, 8, 39}) {
    EXPECT_THAT(snapshot, Not(HasSubstr(absl::StrCat(7000 + i))));
  }
  ASSERT_TRUE((*manager)->Remove("pod-7", PodPortMapping()).ok());
  EXPECT_THAT(Snapshot(), Not(HasSubstr("KUBE-HP-")));
  EXPECT_THAT(Snapshot(), HasSubstr(UnrelatedRule()));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, ManagerKernelTest,
    ::testing::Values(BackendCase{"nftables", Backend::kNftables},
                      BackendCase{"iptables_legacy", Backend::kIptablesLegacy},
                      BackendCase{"iptables_nft", Backend::kIptablesNft}),
    [](const ::testing::TestParamInfo<BackendCase>& info) {
      return info.param.name;
    });

// The iptables backends only: nftables keeps its objects in a table of its
// own, which nobody else's rule jumps into.
class IptablesManagerKernelTest : public ManagerKernelTest {};

// Someone else's jump to the shared chain (CRI-O's hostport portals, with no
// pods of theirs at the moment) keeps the base when our last pod goes.
TEST_P(IptablesManagerKernelTest, AnotherJumpToTheSharedChainKeepsTheBase) {
  absl::StatusOr<std::unique_ptr<HostPortManager>> manager = NewManager();
  ASSERT_TRUE(manager.ok()) << manager.status();
  ASSERT_TRUE((*manager)->Add("one", OnePortPod("one", 1), "hp-br0").ok());
  ASSERT_TRUE(
      ns_->Check({Tool("iptables"), "-t", "nat", "-A", "PREROUTING", "-m",
                  "comment", "--comment", "theirs", "-j", "KUBE-HOSTPORTS"})
          .ok());
  ASSERT_TRUE((*manager)->Remove("one", PodPortMapping()).ok());
  const std::string snapshot = Snapshot();
  EXPECT_THAT(snapshot, Not(HasSubstr("KUBE-HP-")));
  EXPECT_THAT(snapshot, HasSubstr("--comment theirs -j KUBE-HOSTPORTS"));
  EXPECT_THAT(snapshot, HasSubstr(":KUBE-HOSTPORTS - [0:0]"));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, IptablesManagerKernelTest,
    ::testing::Values(BackendCase{"iptables_legacy", Backend::kIptablesLegacy},
                      BackendCase{"iptables_nft", Backend::kIptablesNft}),
    [](const ::testing::TestParamInfo<BackendCase>& info) {
      return info.param.name;
    });

// A host moving from iptables to nftables leaks nothing: the nftables manager's
// Remove also deletes what the iptables backend installed.
TEST(MetaManagerKernelTest, NftablesManagerCleansUpIptablesLeftovers) {
  HOSTPORT_REQUIRE_KERNEL();
  absl::StatusOr<std::unique_ptr<Netns>> ns = Netns::Create("meta");
  ASSERT_TRUE(ns.ok()) << ns.status();
  ASSERT_TRUE((*ns)
                  ->Check({"ip", "link", "add", "hp0", "type", "veth", "peer",
                           "name", "hp0-peer"})
                  .ok());
  ASSERT_TRUE((*ns)->Check({"ip", "link", "set", "hp0", "up"}).ok());
  ASSERT_TRUE(
      (*ns)->Check({"ip", "addr", "add", "192.0.2.10/24", "dev", "hp0"}).ok());
  ASSERT_TRUE((*ns)
                  ->Check({"ip", "addr", "add", "2001:db8::10/64", "dev", "hp0",
                           "nodad"})
                  .ok());
  absl::StatusOr<std::unique_ptr<Netns::Entered>> entered = (*ns)->Enter();
  ASSERT_TRUE(entered.ok()) << entered.status();
  for (Backend old_backend :
       {Backend::kIptablesLegacy, Backend::kIptablesNft}) {
    MetaOptions old_options;
    old_options.prefer = old_backend;
    old_options.hold_ports = false;
    absl::StatusOr<std::unique_ptr<HostPortManager>> old =
        NewMetaHostportManager(old_options);
    ASSERT_TRUE(old.ok()) << old.status();
    ASSERT_TRUE((*old)->Add("sandbox-web", WebPod(true), "").ok());

    MetaOptions options;
    options.prefer = Backend::kNftables;
    absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
        NewMetaHostportManager(options);
    ASSERT_TRUE(manager.ok()) << manager.status();
    EXPECT_THAT(absl::StrJoin((*manager)->Backends(), ","),
                HasSubstr("(cleanup)"));
    ASSERT_TRUE((*manager)->Remove("sandbox-web", WebPod(false)).ok());
    const std::string variant =
        old_backend == Backend::kIptablesLegacy ? "-legacy" : "-nft";
    for (const char* tool : {"iptables", "ip6tables"}) {
      absl::StatusOr<std::string> saved =
          (*ns)->Check({absl::StrCat(tool, variant, "-save"), "-t", "nat"});
      ASSERT_TRUE(saved.ok()) << saved.status();
      EXPECT_THAT(*saved, Not(HasSubstr("KUBE-HP-"))) << tool << variant;
    }
  }
}

}  // namespace
}  // namespace hostport::e2e
