// Real traffic through the rules each backend (nftables, iptables-legacy,
// iptables-nft) installs, per family, in a topology of namespaces (topology.h):
// an external client, a host, pods behind a bridge with br_netfilter. Each
// scenario builds its topology once, drives the manager from a thread inside
// the host namespace, sends TCP/UDP with short timeouts, and ends with Remove
// leaving no rule, set element, held socket or UDP conntrack entry of ours, and
// someone else's rule exactly as it was (DESIGN §4).
#include "e2e/traffic.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "e2e/netns.h"
#include "e2e/topology.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/hostport_manager.h"
#include "hostport/model/ip_address.h"
#include "hostport/model/naming.h"

namespace hostport::e2e {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using Backend = MetaOptions::Backend;

// Packets that must arrive get this long; packets that must not, kNoAnswer.
constexpr absl::Duration kAnswer = absl::Seconds(2);
constexpr absl::Duration kNoAnswer = absl::Seconds(1);

std::string BackendName(Backend backend) {
  switch (backend) {
    case Backend::kNftables:
      return "nftables";
    case Backend::kIptablesLegacy:
      return "iptables_legacy";
    default:
      return "iptables_nft";
  }
}

// 0 when `address:port` could be bound in the calling thread's namespace for
// `protocol`, else errno. TCP and SCTP also listen, as a holder would.
int TryBind(const std::string& address, int port, Protocol protocol) {
  IpAddress ip = *IpAddress::Parse(address);
  const bool v4 = ip.family() == IPFamily::kIPv4;
  const int type = protocol == Protocol::kUDP ? SOCK_DGRAM : SOCK_STREAM;
  const int proto = protocol == Protocol::kSCTP ? IPPROTO_SCTP : 0;
  const int fd = socket(v4 ? AF_INET : AF_INET6, type, proto);
  if (fd < 0) return errno;
  int err = 0;
  if (v4) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    memcpy(&sin.sin_addr, ip.bytes(), 4);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0) {
      err = errno;
    }
  } else {
    const int on = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    memcpy(&sin6.sin6_addr, ip.bytes(), 16);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sin6), sizeof(sin6)) != 0) {
      err = errno;
    }
  }
  close(fd);
  return err;
}

std::string Wildcard(IPFamily family) {
  return family == IPFamily::kIPv4 ? "0.0.0.0" : "::";
}

// What a pod's echo server answers when `peer` reached it.
std::string Reply(int pod, const std::string& peer) {
  return absl::StrCat("pod", pod, " ", peer);
}

// A packet that must not reach a pod did not; the log says what happened
// instead, so a reader sees how the kernel refused it.
void ExpectUnreached(const absl::StatusOr<std::string>& result,
                     absl::string_view what) {
  if (result.ok()) {
    ADD_FAILURE() << what << " reached " << *result;
  } else {
    std::cout << "[ unreached] " << what << ": " << result.status() << "\n";
  }
}

// Builds the topology, someone else's rule, and a manager of one backend
// driven from this thread inside the host namespace.
class TrafficFixture {
 protected:
  void Build(Backend backend, const TopologyOptions& options) {
    backend_ = backend;
    absl::StatusOr<std::unique_ptr<Topology>> topology =
        Topology::Create(options);
    ASSERT_TRUE(topology.ok()) << topology.status();
    topology_ = std::move(*topology);
    Netns& host = topology_->host();
    if (backend == Backend::kNftables) {
      ASSERT_TRUE(host.Check({"nft", "-f", "-"},
                             "table inet unrelated {\n chain c {\n type nat "
                             "hook postrouting priority 100;\n ip saddr "
                             "192.168.99.0/24 masquerade\n }\n}\n")
                      .ok());
    } else {
      ASSERT_TRUE(
          host.Check({Tool("iptables"), "-t", "nat", "-A", "POSTROUTING", "-s",
                      "192.168.99.0/24", "-j", "MASQUERADE"})
              .ok());
      ASSERT_TRUE(
          host.Check({Tool("ip6tables"), "-t", "nat", "-A", "POSTROUTING", "-s",
                      "fd99::/64", "-j", "MASQUERADE"})
              .ok());
    }
    absl::StatusOr<std::unique_ptr<Netns::Entered>> entered = host.Enter();
    ASSERT_TRUE(entered.ok()) << entered.status();
    entered_ = std::move(*entered);
    MetaOptions meta;
    meta.prefer = backend;
    absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
        NewMetaHostportManager(meta);
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = std::move(*manager);
  }

  // Order matters: the manager lets go of its sockets inside the host, the
  // thread leaves the host, the servers die, then the namespaces go.
  void Teardown() {
    manager_.reset();
    entered_.reset();
    servers_.clear();
    topology_.reset();
  }

  std::string Tool(const std::string& base) const {
    return backend_ == Backend::kIptablesLegacy ? base + "-legacy"
                                                : base + "-nft";
  }

  Netns& host() { return topology_->host(); }
  Netns& client() { return topology_->client(); }
  Netns& pod(int i) { return topology_->pod(i); }

  // Starts pod i's echo server, identity "pod<i>", on `port`.
  void Serve(int i, int port) {
    absl::StatusOr<std::unique_ptr<EchoServer>> server =
        EchoServer::Start(pod(i), absl::StrCat("pod", i), port);
    ASSERT_TRUE(server.ok()) << server.status();
    servers_.push_back(std::move(*server));
  }

  PodPortMapping Pod(int i, std::vector<PortMapping> mappings) const {
    PodPortMapping pod;
    pod.namespace_ = "e2e";
    pod.name = absl::StrCat("pod", i);
    pod.ips = topology_->PodIps(i);
    pod.port_mappings = std::move(mappings);
    return pod;
  }

  // What the kernel holds in this backend, comments and counters stripped.
  std::string Snapshot() {
    std::vector<std::vector<std::string>> dumps;
    if (backend_ == Backend::kNftables) {
      dumps = {{"nft", "list", "ruleset"}};
    } else {
      dumps = {{Tool("iptables") + "-save"}, {Tool("ip6tables") + "-save"}};
    }
    std::vector<std::string> lines;
    for (const auto& dump : dumps) {
      absl::StatusOr<std::string> out = host().Check(dump);
      EXPECT_TRUE(out.ok()) << out.status();
      if (!out.ok()) continue;
      for (absl::string_view line : absl::StrSplit(*out, '\n')) {
        if (!absl::StartsWith(line, "#")) lines.push_back(std::string(line));
      }
    }
    return absl::StrJoin(lines, "\n");
  }

  // UDP conntrack entries of `family` in the host whose original destination
  // port is `port` (and address `address`, unless ""), one per line.
  std::string UdpConntrack(IPFamily family, int port,
                           const std::string& address = "") {
    std::vector<std::string> argv = {
        "conntrack",
        "-L",
        "-f",
        family == IPFamily::kIPv4 ? "ipv4" : "ipv6",
        "-p",
        "udp",
        "--orig-port-dst",
        absl::StrCat(port)};
    if (!address.empty()) argv.insert(argv.end(), {"--orig-dst", address});
    absl::StatusOr<std::string> out = host().Check(argv);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : "";
  }

  // After Remove of `id`'s pod: no rule, element, socket or UDP conntrack
  // entry of it left, and the unrelated rule intact.
  void ExpectNothingLeft(absl::string_view id, const PodPortMapping& pod) {
    const std::string snapshot = Snapshot();
    EXPECT_THAT(snapshot, Not(HasSubstr("KUBE-HP-")));
    EXPECT_THAT(snapshot, Not(HasSubstr("CRIO-MASQ-")));
    EXPECT_THAT(snapshot,
                Not(HasSubstr(absl::StrCat(pod.namespace_, "/", pod.name))));
    EXPECT_THAT(snapshot, Not(HasSubstr(OwnerComment(id))));
    EXPECT_THAT(snapshot,
                HasSubstr(backend_ == Backend::kNftables
                              ? "ip saddr 192.168.99.0/24 masquerade"
                              : "-A POSTROUTING -s 192.168.99.0/24 -j "
                                "MASQUERADE"));
    if (backend_ != Backend::kNftables) {
      EXPECT_THAT(snapshot,
                  HasSubstr("-A POSTROUTING -s fd99::/64 -j MASQUERADE"));
    }
    for (const PortMapping& m : pod.port_mappings) {
      for (IPFamily family : {IPFamily::kIPv4, IPFamily::kIPv6}) {
        std::string address = m.host_ip;
        if (address.empty()) address = Wildcard(family);
        if (IpAddress::Parse(address)->family() != family) continue;
        EXPECT_EQ(TryBind(address, m.host_port, m.protocol), 0)
            << address << " port " << m.host_port << " still held";
        // Ours: entries the mapping could have DNATed (a wildcard: to any
        // address of the family; a specific HostIP: to that address only).
        if (m.protocol == Protocol::kUDP) {
          EXPECT_EQ(UdpConntrack(family, m.host_port,
                                 m.host_ip.empty() ? "" : address),
                    "")
              << "UDP conntrack of " << address << " port " << m.host_port
              << " left";
        }
      }
    }
  }

  Backend backend_ = Backend::kNftables;
  std::unique_ptr<Topology> topology_;
  std::unique_ptr<Netns::Entered> entered_;
  std::unique_ptr<HostPortManager> manager_;
  std::vector<std::unique_ptr<EchoServer>> servers_;
};

// The topology alone, no mapping: the client reaches a pod's own addresses
// through the host (routed, not NATed), so a failure in the scenarios below
// is about the rules, not the plumbing.
TEST(TopologyTest, ClientReachesPodsDirectly) {
  HOSTPORT_REQUIRE_KERNEL();
  TopologyOptions options;
  options.pods = {PodSpec{2, true}, PodSpec{3, false}};
  absl::StatusOr<std::unique_ptr<Topology>> topology =
      Topology::Create(options);
  ASSERT_TRUE(topology.ok()) << topology.status();
  std::vector<std::unique_ptr<EchoServer>> servers;
  for (int i : {0, 1}) {
    absl::StatusOr<std::unique_ptr<EchoServer>> server =
        EchoServer::Start((*topology)->pod(i), absl::StrCat("pod", i), 80);
    ASSERT_TRUE(server.ok()) << server.status();
    servers.push_back(std::move(*server));
  }
  for (IPFamily family : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    for (Protocol protocol : {Protocol::kTCP, Protocol::kUDP}) {
      for (int i : {0, 1}) {
        absl::StatusOr<std::string> reply =
            Exchange((*topology)->client(), protocol,
                     Topology::PodAddress(family, 2 + i), 80, kAnswer);
        ASSERT_TRUE(reply.ok()) << reply.status();
        EXPECT_EQ(*reply, Reply(i, Topology::ClientAddress(family)));
      }
    }
  }
}

struct Case {
  Backend backend;
  IPFamily family;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return absl::StrCat(BackendName(info.param.backend), "_",
                      info.param.family == IPFamily::kIPv4 ? "ipv4" : "ipv6");
}

class TrafficTest : public TrafficFixture,
                    public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { HOSTPORT_REQUIRE_KERNEL(); }
  void TearDown() override { Teardown(); }

  void Build(const TopologyOptions& options) {
    TrafficFixture::Build(GetParam().backend, options);
  }
  IPFamily family() const { return GetParam().family; }
  std::string HostAddr(int which) const {
    return Topology::HostAddress(family(), which);
  }
  std::string ClientAddr() const { return Topology::ClientAddress(family()); }
  std::string BridgeAddr() const { return Topology::BridgeAddress(family()); }
};

TopologyOptions Pods(int n) {
  TopologyOptions options;
  options.pods.clear();
  for (int i = 0; i < n; ++i) options.pods.push_back(PodSpec{2 + i, true});
  return options;
}

// HostIP "": every host address maps, the pod sees the client itself, and the
// port is held on the family's wildcard until Remove.
TEST_P(TrafficTest, ExternalClientReachesPodUnmasqueraded) {
  ASSERT_NO_FATAL_FAILURE(Build(Pods(1)));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  const PodPortMapping web =
      Pod(0, {{8080, 80, Protocol::kTCP, ""}, {8080, 80, Protocol::kUDP, ""}});
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  for (Protocol protocol : {Protocol::kTCP, Protocol::kUDP}) {
    for (int which : {0, 1}) {
      absl::StatusOr<std::string> reply =
          Exchange(client(), protocol, HostAddr(which), 8080, kAnswer);
      ASSERT_TRUE(reply.ok()) << reply.status();
      EXPECT_EQ(*reply, Reply(0, ClientAddr()));
    }
    // A process on the host through a host address: not masqueraded either.
    absl::StatusOr<std::string> local =
        Exchange(host(), protocol, HostAddr(0), 8080, kAnswer);
    ASSERT_TRUE(local.ok()) << local.status();
    EXPECT_EQ(*local, Reply(0, HostAddr(0)));
    EXPECT_EQ(TryBind(Wildcard(family()), 8080, protocol), EADDRINUSE);
  }
  ASSERT_TRUE(manager_->Remove("web", Pod(0, web.port_mappings)).ok());
  ExpectUnreached(
      Exchange(client(), Protocol::kTCP, HostAddr(0), 8080, kNoAnswer),
      "the port after Remove");
  ExpectNothingLeft("web", web);
}

// A specific HostIP maps on that address only; the other address of the same
// host neither maps nor is held.
TEST_P(TrafficTest, HostIpLimitsTheMappingToItsAddress) {
  ASSERT_NO_FATAL_FAILURE(Build(Pods(1)));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  const PodPortMapping web = Pod(0, {{8081, 80, Protocol::kTCP, HostAddr(1)},
                                     {8081, 80, Protocol::kUDP, HostAddr(1)}});
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  for (Protocol protocol : {Protocol::kTCP, Protocol::kUDP}) {
    absl::StatusOr<std::string> reply =
        Exchange(client(), protocol, HostAddr(1), 8081, kAnswer);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, Reply(0, ClientAddr()));
    absl::StatusOr<std::string> other =
        Exchange(client(), protocol, HostAddr(0), 8081, kNoAnswer);
    ExpectUnreached(other,
                    absl::StrCat("the other host address ", HostAddr(0)));
    EXPECT_EQ(TryBind(HostAddr(1), 8081, protocol), EADDRINUSE);
    EXPECT_EQ(TryBind(HostAddr(0), 8081, protocol), 0);
  }
  ASSERT_TRUE(manager_->Remove("web", Pod(0, {})).ok());
  ExpectNothingLeft("web", web);
}

// Two pods on the same port, one per host address.
TEST_P(TrafficTest, SamePortDifferentHostIpReachesTwoPods) {
  ASSERT_NO_FATAL_FAILURE(Build(Pods(2)));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  ASSERT_NO_FATAL_FAILURE(Serve(1, 80));
  const PodPortMapping a = Pod(0, {{8082, 80, Protocol::kTCP, HostAddr(0)},
                                   {8082, 80, Protocol::kUDP, HostAddr(0)}});
  const PodPortMapping b = Pod(1, {{8082, 80, Protocol::kTCP, HostAddr(1)},
                                   {8082, 80, Protocol::kUDP, HostAddr(1)}});
  ASSERT_TRUE(manager_->Add("a", a, "").ok());
  absl::Status added = manager_->Add("b", b, "");
  ASSERT_TRUE(added.ok()) << added;
  for (Protocol protocol : {Protocol::kTCP, Protocol::kUDP}) {
    for (int which : {0, 1}) {
      absl::StatusOr<std::string> reply =
          Exchange(client(), protocol, HostAddr(which), 8082, kAnswer);
      ASSERT_TRUE(reply.ok()) << reply.status();
      EXPECT_EQ(*reply, Reply(which, ClientAddr()));
    }
  }
  // A third pod wanting a's address and port conflicts; Add changes nothing.
  absl::Status conflict =
      manager_->Add("c", Pod(1, {{8082, 80, Protocol::kTCP, HostAddr(0)}}), "");
  EXPECT_EQ(conflict.code(), absl::StatusCode::kAlreadyExists) << conflict;
  absl::StatusOr<std::string> still =
      Exchange(client(), Protocol::kTCP, HostAddr(0), 8082, kAnswer);
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(*still, Reply(0, ClientAddr()));

  ASSERT_TRUE(manager_->Remove("a", Pod(0, {})).ok());
  // b is untouched by a's Remove.
  absl::StatusOr<std::string> reply =
      Exchange(client(), Protocol::kTCP, HostAddr(1), 8082, kAnswer);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, Reply(1, ClientAddr()));
  ASSERT_TRUE(manager_->Remove("b", Pod(1, {})).ok());
  ExpectNothingLeft("a", a);
  ExpectNothingLeft("b", b);
}

// Two pods on the same port and address, one TCP, one UDP.
TEST_P(TrafficTest, SamePortDifferentProtocolReachesTwoPods) {
  ASSERT_NO_FATAL_FAILURE(Build(Pods(2)));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  ASSERT_NO_FATAL_FAILURE(Serve(1, 80));
  const PodPortMapping a = Pod(0, {{8083, 80, Protocol::kTCP, ""}});
  const PodPortMapping b = Pod(1, {{8083, 80, Protocol::kUDP, ""}});
  ASSERT_TRUE(manager_->Add("a", a, "").ok());
  absl::Status added = manager_->Add("b", b, "");
  ASSERT_TRUE(added.ok()) << added;
  absl::StatusOr<std::string> tcp =
      Exchange(client(), Protocol::kTCP, HostAddr(0), 8083, kAnswer);
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_EQ(*tcp, Reply(0, ClientAddr()));
  absl::StatusOr<std::string> udp =
      Exchange(client(), Protocol::kUDP, HostAddr(0), 8083, kAnswer);
  ASSERT_TRUE(udp.ok()) << udp.status();
  EXPECT_EQ(*udp, Reply(1, ClientAddr()));
  ASSERT_TRUE(manager_->Remove("a", Pod(0, {})).ok());
  ASSERT_TRUE(manager_->Remove("b", Pod(1, {})).ok());
  ExpectNothingLeft("a", a);
  ExpectNothingLeft("b", b);
}

// A pod reaching its own hostport through a host address is masqueraded to
// the bridge address (so the reply returns through conntrack); another pod
// behind the same bridge is not masqueraded (br_netfilter, DESIGN §7).
TEST_P(TrafficTest, HairpinIsMasqueraded) {
  ASSERT_NO_FATAL_FAILURE(Build(Pods(2)));
  // Without br_netfilter the neighbour's reply would be bridged past conntrack.
  absl::StatusOr<std::string> br_netfilter = host().Check(
      {"cat", family() == IPFamily::kIPv4
                  ? "/proc/sys/net/bridge/bridge-nf-call-iptables"
                  : "/proc/sys/net/bridge/bridge-nf-call-ip6tables"});
  ASSERT_TRUE(br_netfilter.ok()) << br_netfilter.status();
  ASSERT_EQ(*br_netfilter, "1\n")
      << "this scenario needs br_netfilter on in new namespaces (DESIGN §7)";
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  const PodPortMapping web =
      Pod(0, {{8084, 80, Protocol::kTCP, ""}, {8084, 80, Protocol::kUDP, ""}});
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  for (Protocol protocol : {Protocol::kTCP, Protocol::kUDP}) {
    absl::StatusOr<std::string> self =
        Exchange(pod(0), protocol, HostAddr(0), 8084, kAnswer);
    ASSERT_TRUE(self.ok()) << self.status();
    EXPECT_EQ(*self, Reply(0, BridgeAddr()));
    absl::StatusOr<std::string> neighbour =
        Exchange(pod(1), protocol, HostAddr(0), 8084, kAnswer);
    ASSERT_TRUE(neighbour.ok()) << neighbour.status();
    EXPECT_EQ(
        *neighbour,
        Reply(0, topology_->PodIps(1)[family() == IPFamily::kIPv4 ? 0 : 1]));
  }
  ASSERT_TRUE(manager_->Remove("web", Pod(0, {})).ok());
  ExpectNothingLeft("web", web);
}

// Every pod address counts as the pod's own for hairpin (DESIGN §4): reaching
// its hostport from its second address, the pod is masqueraded too, else the
// reply would go from pod to pod inside it and never be un-NATed.
TEST_P(TrafficTest, HairpinFromASecondPodAddressIsMasqueraded) {
  TopologyOptions options = Pods(1);
  options.pods[0].second_address = true;
  ASSERT_NO_FATAL_FAILURE(Build(options));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  const PodPortMapping web =
      Pod(0, {{8088, 80, Protocol::kTCP, ""}, {8088, 80, Protocol::kUDP, ""}});
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  for (Protocol protocol : {Protocol::kTCP, Protocol::kUDP}) {
    absl::StatusOr<std::string> self =
        Exchange(pod(0), protocol, HostAddr(0), 8088, kAnswer, 0,
                 Topology::SecondPodAddress(family(), 2));
    ASSERT_TRUE(self.ok()) << self.status();
    EXPECT_EQ(*self, Reply(0, BridgeAddr()));
  }
  ASSERT_TRUE(manager_->Remove("web", Pod(0, {})).ok());
  ExpectNothingLeft("web", web);
}

// Kernel fact behind "the DNAT target is the first pod IP of the family"
// (DESIGN §4): with two IPv6 addresses on a pod's link, the kernel sources
// packets from the newest one (longest-prefix match is capped at the /64, and
// ties go to the most recently added address). A UDP server on a wildcard
// socket that replies with plain sendto() therefore answers from the second
// address, conntrack does not recognise the reply, and the client hears
// nothing. IPv4 sources from the primary (first) address and works. Servers
// that answer from the request's address (IPV6_PKTINFO) work in both.
TEST_P(TrafficTest, NaiveUdpServerWithTwoIpv6AddressesAnswersFromTheWrongOne) {
  TopologyOptions options = Pods(1);
  options.pods[0].second_address = true;
  ASSERT_NO_FATAL_FAILURE(Build(options));
  absl::StatusOr<std::unique_ptr<EchoServer>> naive =
      EchoServer::Start(pod(0), "pod0", 80, EchoServer::UdpSource::kRoute);
  ASSERT_TRUE(naive.ok()) << naive.status();
  servers_.push_back(std::move(*naive));
  const PodPortMapping web = Pod(0, {{8089, 80, Protocol::kUDP, ""}});
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  absl::StatusOr<std::string> reply =
      Exchange(client(), Protocol::kUDP, HostAddr(0), 8089,
               family() == IPFamily::kIPv4 ? kAnswer : kNoAnswer);
  if (family() == IPFamily::kIPv4) {
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, Reply(0, ClientAddr()));
  } else {
    ExpectUnreached(reply, "a naive UDP server with two IPv6 addresses");
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kDeadlineExceeded);
  }
  ASSERT_TRUE(manager_->Remove("web", Pod(0, {})).ok());
  ExpectNothingLeft("web", web);
}

// Without hairpin_mode on its bridge port a pod cannot reach its own hostport,
// masquerade or not: the bridge never sends a frame back out of the port it
// came in on (DESIGN §7). Other pods are unaffected.
TEST_P(TrafficTest, HairpinNeedsHairpinModeOnTheBridgePort) {
  TopologyOptions options = Pods(2);
  options.pods[0].hairpin = false;
  ASSERT_NO_FATAL_FAILURE(Build(options));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  const PodPortMapping web = Pod(0, {{8087, 80, Protocol::kTCP, ""}});
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  absl::StatusOr<std::string> self =
      Exchange(pod(0), Protocol::kTCP, HostAddr(0), 8087, kNoAnswer);
  ExpectUnreached(self, "the pod's own hostport without hairpin_mode");
  absl::StatusOr<std::string> neighbour =
      Exchange(pod(1), Protocol::kTCP, HostAddr(0), 8087, kAnswer);
  ASSERT_TRUE(neighbour.ok()) << neighbour.status();
  ASSERT_TRUE(manager_->Remove("web", Pod(0, {})).ok());
  ExpectNothingLeft("web", web);
}

// A UDP flow that exists before the mapping does (an un-NATed conntrack
// entry) reaches the pod once it is added, and one that exists before the
// mapping is re-pointed to another pod follows the new pod: Add cleared the
// flow's conntrack entry. Remove leaves no entry for the port.
TEST_P(TrafficTest, UdpFlowFollowsAddedAndRepointedMapping) {
  ASSERT_NO_FATAL_FAILURE(Build(Pods(2)));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  ASSERT_NO_FATAL_FAILURE(Serve(1, 80));
  constexpr int kSourcePort = 40000;
  absl::StatusOr<std::string> unmapped = Exchange(
      client(), Protocol::kUDP, HostAddr(0), 8085, kNoAnswer, kSourcePort);
  ExpectUnreached(unmapped, "the port before Add");
  EXPECT_THAT(UdpConntrack(family(), 8085), HasSubstr(ClientAddr()));

  PodPortMapping dns = Pod(0, {{8085, 80, Protocol::kUDP, ""}});
  ASSERT_TRUE(manager_->Add("dns", dns, "").ok());
  absl::StatusOr<std::string> before = Exchange(
      client(), Protocol::kUDP, HostAddr(0), 8085, kAnswer, kSourcePort);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, Reply(0, ClientAddr()));
  EXPECT_THAT(UdpConntrack(family(), 8085), HasSubstr(ClientAddr()));

  dns.ips = topology_->PodIps(1);
  absl::Status repointed = manager_->Add("dns", dns, "");
  ASSERT_TRUE(repointed.ok()) << repointed;
  absl::StatusOr<std::string> after = Exchange(
      client(), Protocol::kUDP, HostAddr(0), 8085, kAnswer, kSourcePort);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, Reply(1, ClientAddr()));
  EXPECT_THAT(UdpConntrack(family(), 8085), HasSubstr(ClientAddr()));

  ASSERT_TRUE(manager_->Remove("dns", Pod(1, {})).ok());
  ExpectNothingLeft("dns", dns);
}

// An SCTP mapping, where the kernel has SCTP: the port is held and released.
// (Traffic would need an SCTP client; this kernel has no SCTP to test one.)
TEST_P(TrafficTest, Sctp) {
  const int fd = socket(family() == IPFamily::kIPv4 ? AF_INET : AF_INET6,
                        SOCK_STREAM, IPPROTO_SCTP);
  if (fd < 0) {
    GTEST_SKIP() << "SCTP is not available in this kernel (socket: "
                 << std::strerror(errno) << ")";
  }
  close(fd);
  ASSERT_NO_FATAL_FAILURE(Build(Pods(1)));
  const PodPortMapping web = Pod(0, {{8086, 80, Protocol::kSCTP, ""}});
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  EXPECT_EQ(TryBind(Wildcard(family()), 8086, Protocol::kSCTP), EADDRINUSE);
  ASSERT_TRUE(manager_->Remove("web", Pod(0, {})).ok());
  ExpectNothingLeft("web", web);
}

INSTANTIATE_TEST_SUITE_P(
    BackendsAndFamilies, TrafficTest,
    ::testing::Values(Case{Backend::kNftables, IPFamily::kIPv4},
                      Case{Backend::kNftables, IPFamily::kIPv6},
                      Case{Backend::kIptablesLegacy, IPFamily::kIPv4},
                      Case{Backend::kIptablesLegacy, IPFamily::kIPv6},
                      Case{Backend::kIptablesNft, IPFamily::kIPv4},
                      Case{Backend::kIptablesNft, IPFamily::kIPv6}),
    CaseName);

// Localhost is IPv4 only (IPv6 has no route_localnet): per backend.
class LocalhostTrafficTest : public TrafficFixture,
                             public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { HOSTPORT_REQUIRE_KERNEL(); }
  void TearDown() override { Teardown(); }
};

// A process on the host reaches 127.0.0.1:HostPort only when the pod has a NAT
// interface, and then the pod sees the bridge address (masqueraded).
TEST_P(LocalhostTrafficTest, HostLocalClientNeedsNatInterface) {
  ASSERT_NO_FATAL_FAILURE(Build(GetParam(), Pods(1)));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  const PodPortMapping web =
      Pod(0, {{8090, 80, Protocol::kTCP, ""}, {8090, 80, Protocol::kUDP, ""}});
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  for (Protocol protocol : {Protocol::kTCP, Protocol::kUDP}) {
    absl::StatusOr<std::string> reply =
        Exchange(host(), protocol, "127.0.0.1", 8090, kNoAnswer);
    ExpectUnreached(reply, "127.0.0.1 without a NAT interface");
  }
  ASSERT_TRUE(manager_->Remove("web", Pod(0, {})).ok());

  ASSERT_TRUE(manager_->Add("web", web, Topology::kBridge).ok());
  for (Protocol protocol : {Protocol::kTCP, Protocol::kUDP}) {
    absl::StatusOr<std::string> reply =
        Exchange(host(), protocol, "127.0.0.1", 8090, kAnswer);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, Reply(0, "10.88.0.1"));
    // IPv6 has no route_localnet: [::1] never reaches the pod.
    absl::StatusOr<std::string> v6 =
        Exchange(host(), protocol, "::1", 8090, kNoAnswer);
    ExpectUnreached(v6, "[::1] with a NAT interface");
  }
  ASSERT_TRUE(manager_->Remove("web", Pod(0, {})).ok());
  ExpectNothingLeft("web", web);
}

// A 127.0.0.1-bound mapping answers host-local clients, and a packet to
// 127.0.0.1 that arrives from outside never reaches the pod. The client
// crafts that packet with a policy route (127.0.0.1/32 via the host, looked up
// before the local table) and route_localnet on its side; a counter in the
// host's prerouting, ahead of every raw chain (the iptables backends drop
// there), proves the packet arrived.
TEST_P(LocalhostTrafficTest, LoopbackBoundMappingIsUnreachableFromOutside) {
  ASSERT_NO_FATAL_FAILURE(Build(GetParam(), Pods(1)));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  for (const std::vector<std::string>& argv :
       std::vector<std::vector<std::string>>{
           {"ip", "rule", "add", "pref", "10", "to", "127.0.0.1/32", "lookup",
            "100"},
           {"ip", "rule", "del", "pref", "0", "lookup", "local"},
           {"ip", "rule", "add", "pref", "100", "lookup", "local"},
           {"ip", "route", "add", "127.0.0.1/32", "via", "192.0.2.10", "dev",
            "eth0", "table", "100"},
           {"sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"},
           {"sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1"},
       }) {
    absl::StatusOr<std::string> r = client().Check(argv);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  ASSERT_TRUE(host()
                  .Check({"nft", "-f", "-"},
                         "table ip probe {\n chain pre {\n type filter hook "
                         "prerouting priority -400;\n iifname \"hp-ext\" ip "
                         "daddr 127.0.0.1 tcp dport 8091 counter\n }\n}\n")
                  .ok());

  const PodPortMapping web = Pod(0, {{8091, 80, Protocol::kTCP, "127.0.0.1"}});
  ASSERT_TRUE(manager_->Add("web", web, Topology::kBridge).ok());
  absl::StatusOr<std::string> local =
      Exchange(host(), Protocol::kTCP, "127.0.0.1", 8091, kAnswer);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(*local, Reply(0, "10.88.0.1"));

  absl::StatusOr<std::string> outside =
      Exchange(client(), Protocol::kTCP, "127.0.0.1", 8091, kNoAnswer);
  ExpectUnreached(outside, "a 127.0.0.1-bound port from outside");
  absl::StatusOr<std::string> probe =
      host().Check({"nft", "list", "table", "ip", "probe"});
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_THAT(*probe, Not(HasSubstr("counter packets 0 ")))
      << "the crafted packet never reached the host, so this proves nothing";

  // Control: the same crafted packet to a wildcard mapping's port does reach
  // the pod (PREROUTING DNAT happens before the routing decision that would
  // call 127.0.0.1 martian), so it is the loopback guard that keeps 8091 out.
  const PodPortMapping wide = Pod(0, {{8093, 80, Protocol::kTCP, ""}});
  ASSERT_TRUE(manager_->Add("wide", wide, Topology::kBridge).ok());
  absl::StatusOr<std::string> control =
      Exchange(client(), Protocol::kTCP, "127.0.0.1", 8093, kAnswer);
  ASSERT_TRUE(control.ok()) << control.status();
  EXPECT_EQ(*control, Reply(0, "192.0.2.100"));

  ASSERT_TRUE(manager_->Remove("web", Pod(0, {})).ok());
  ASSERT_TRUE(manager_->Remove("wide", Pod(0, {})).ok());
  ExpectNothingLeft("web", web);
  ExpectNothingLeft("wide", wide);
}

// ::1 can never be DNATed to a pod: Add refuses it and changes nothing.
TEST_P(LocalhostTrafficTest, Ipv6LoopbackRefusedAtAdd) {
  ASSERT_NO_FATAL_FAILURE(Build(GetParam(), Pods(1)));
  const std::string before = Snapshot();
  const PodPortMapping web = Pod(0, {{8092, 80, Protocol::kTCP, "::1"}});
  absl::Status added = manager_->Add("web", web, Topology::kBridge);
  EXPECT_FALSE(added.ok());
  EXPECT_THAT(added.message(), HasSubstr("::1"));
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(TryBind("::1", 8092, Protocol::kTCP), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, LocalhostTrafficTest,
                         ::testing::Values(Backend::kNftables,
                                           Backend::kIptablesLegacy,
                                           Backend::kIptablesNft),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return BackendName(info.param);
                         });

// Hosts whose filter rules drop forwarded traffic by policy, per backend
// (IPv4): Docker-like, iptables' FORWARD policy DROP (in the variant the
// backend uses; iptables-nft for the nftables backend, as Docker on Debian),
// and firewalld-like, a forward chain with policy drop in its own nftables
// table. Add names the chain in a warning; allow_forward opens iptables'
// FORWARD for DNATed flows and takes it back with the last pod; no accept of
// ours opens another table's nftables chain.
class ForwardPolicyTrafficTest : public TrafficFixture,
                                 public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { HOSTPORT_REQUIRE_KERNEL(); }
  void TearDown() override { Teardown(); }

  // A manager of the test's backend, with `allow_forward`, logging to log_.
  void Manager(bool allow_forward) {
    manager_.reset();
    MetaOptions meta;
    meta.prefer = GetParam();
    meta.allow_forward = allow_forward;
    meta.log = [this](absl::string_view line) {
      log_.push_back(std::string(line));
    };
    absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
        NewMetaHostportManager(meta);
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = std::move(*manager);
  }

  std::string DropTool() const {
    return GetParam() == Backend::kIptablesLegacy ? "iptables-legacy"
                                                  : "iptables-nft";
  }

  std::vector<std::string> log_;
};

TEST_P(ForwardPolicyTrafficTest, DockerLikeDropNeedsAllowForward) {
  ASSERT_NO_FATAL_FAILURE(Build(GetParam(), Pods(1)));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  ASSERT_TRUE(host().Check({DropTool(), "-P", "FORWARD", "DROP"}).ok());
  const PodPortMapping web = Pod(0, {{8080, 80, Protocol::kTCP, ""}});
  const std::string v4 = Topology::HostAddress(IPFamily::kIPv4, 0);

  ASSERT_NO_FATAL_FAILURE(Manager(/*allow_forward=*/false));
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  EXPECT_THAT(
      log_, Contains(HasSubstr(absl::StrCat(
                DropTool(), " filter FORWARD (IPv4), whose policy is drop"))));
  ExpectUnreached(Exchange(client(), Protocol::kTCP, v4, 8080, kNoAnswer),
                  "the pod through a FORWARD policy DROP");
  ASSERT_TRUE(manager_->Remove("web", web).ok());

  ASSERT_NO_FATAL_FAILURE(Manager(/*allow_forward=*/true));
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  absl::StatusOr<std::string> reply =
      Exchange(client(), Protocol::kTCP, v4, 8080, kAnswer);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, Reply(0, Topology::ClientAddress(IPFamily::kIPv4)));
  // Only the DNATed flow: the pod itself stays unreachable from outside.
  ExpectUnreached(
      Exchange(client(), Protocol::kTCP,
               Topology::PodAddress(IPFamily::kIPv4, 2), 80, kNoAnswer),
      "the pod's own address through FORWARD DROP");
  ASSERT_TRUE(manager_->Remove("web", web).ok());
  absl::StatusOr<std::string> filter =
      host().Check({DropTool() + "-save", "-t", "filter"});
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_THAT(*filter, HasSubstr(":FORWARD DROP"));
  EXPECT_THAT(*filter, Not(HasSubstr("CRIO-HOSTPORTS-FORWARD")));
}

TEST_P(ForwardPolicyTrafficTest, FirewalldLikeDropIsNamedAndNotOpened) {
  ASSERT_NO_FATAL_FAILURE(Build(GetParam(), Pods(1)));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  ASSERT_TRUE(host()
                  .Check({"nft", "-f", "-"},
                         "table inet firewalld {\n chain filter_FORWARD {\n "
                         "type filter hook forward priority filter + 10; "
                         "policy drop;\n }\n}\n")
                  .ok());
  const PodPortMapping web = Pod(0, {{8080, 80, Protocol::kTCP, ""}});
  ASSERT_NO_FATAL_FAILURE(Manager(/*allow_forward=*/true));
  ASSERT_TRUE(manager_->Add("web", web, "").ok());
  EXPECT_THAT(log_,
              Contains(AllOf(HasSubstr("nftables table inet firewalld chain "
                                       "filter_FORWARD, whose policy is drop"),
                             HasSubstr("cannot override"))));
  ExpectUnreached(
      Exchange(client(), Protocol::kTCP,
               Topology::HostAddress(IPFamily::kIPv4, 0), 8080, kNoAnswer),
      "the pod through firewalld's forward drop");
  ASSERT_TRUE(manager_->Remove("web", web).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, ForwardPolicyTrafficTest,
                         ::testing::Values(Backend::kNftables,
                                           Backend::kIptablesLegacy,
                                           Backend::kIptablesNft),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return BackendName(info.param);
                         });

// The localnet boundary (the CVE-2020-8558 class), per backend (IPv4). A
// localhost hostport needs route_localnet on its NAT interface, and with it
// the kernel would deliver to any host service on 127.0.0.1 a packet that a
// pod sends there through its gateway. The pod crafts that packet so: in its
// own namespace it drops 127.0.0.1 from its lo (with its local routes; merely
// deleting the routes is not enough on 6.x, where the host's answer from
// 127.0.0.1, still an address of the pod, fails the pod's source validation
// as martian), turns on its eth0's route_localnet and routes 127.0.0.1/32 via
// the bridge address.
// The host runs a service bound to 127.0.0.1:2379 that is not a hostport. A
// counter ahead of every filter chain proves each probe arrived on hp-br0.
class LocalnetTrafficTest : public TrafficFixture,
                            public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { HOSTPORT_REQUIRE_KERNEL(); }
  void TearDown() override { Teardown(); }

  std::string RouteLocalnet() {
    absl::StatusOr<std::string> value = host().Check(
        {"sysctl", "-n",
         absl::StrCat("net.ipv4.conf.", Topology::kBridge, ".route_localnet")});
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() ? std::string(absl::StripAsciiWhitespace(*value)) : "";
  }

  // Packets from the pod to 127.0.0.1:2379 the host has seen on hp-br0.
  std::string ProbeCount() {
    absl::StatusOr<std::string> probe =
        host().Check({"nft", "list", "table", "ip", "probe"});
    EXPECT_TRUE(probe.ok()) << probe.status();
    if (!probe.ok()) return "";
    const size_t at = probe->find("counter packets ");
    if (at == std::string::npos) return "";
    return probe->substr(at + 16, probe->find(' ', at + 16) - at - 16);
  }
};

TEST_P(LocalnetTrafficTest, PodCannotReachAHostServiceOn127001) {
  ASSERT_NO_FATAL_FAILURE(Build(GetParam(), Pods(1)));
  ASSERT_NO_FATAL_FAILURE(Serve(0, 80));
  absl::StatusOr<std::unique_ptr<EchoServer>> etcd = EchoServer::Start(
      host(), "host-etcd", 2379, EchoServer::UdpSource::kRequest, "127.0.0.1");
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  servers_.push_back(std::move(*etcd));
  for (const std::vector<std::string>& argv :
       std::vector<std::vector<std::string>>{
           {"ip", "address", "del", "127.0.0.1/8", "dev", "lo"},
           {"sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"},
           {"sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1"},
           {"ip", "route", "add", "127.0.0.1/32", "via",
            Topology::BridgeAddress(IPFamily::kIPv4), "dev", "eth0"},
       }) {
    absl::StatusOr<std::string> r = pod(0).Check(argv);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  ASSERT_TRUE(host()
                  .Check({"nft", "-f", "-"},
                         "table ip probe {\n chain pre {\n type filter hook "
                         "prerouting priority -400;\n iifname \"hp-br0\" ip "
                         "daddr 127.0.0.1 th dport 2379 counter\n }\n}\n")
                  .ok());
  const std::string route_localnet_before = RouteLocalnet();
  ASSERT_EQ(route_localnet_before, "0");

  // Control: with route_localnet on and no guard, the probe does reach the
  // host service, so what follows would see a regression.
  ASSERT_TRUE(host()
                  .Check({"sysctl", "-qw",
                          absl::StrCat("net.ipv4.conf.", Topology::kBridge,
                                       ".route_localnet=1")})
                  .ok());
  absl::StatusOr<std::string> exposed =
      Exchange(pod(0), Protocol::kTCP, "127.0.0.1", 2379, kAnswer);
  ASSERT_TRUE(exposed.ok())
      << exposed.status() << ": the probe does not work on this kernel";
  EXPECT_EQ(*exposed, absl::StrCat("host-etcd ",
                                   Topology::PodAddress(IPFamily::kIPv4, 2)));
  ASSERT_TRUE(host()
                  .Check({"sysctl", "-qw",
                          absl::StrCat("net.ipv4.conf.", Topology::kBridge,
                                       ".route_localnet=0")})
                  .ok());

  const PodPortMapping web =
      Pod(0, {{8090, 80, Protocol::kTCP, ""}, {8090, 80, Protocol::kUDP, ""}});
  ASSERT_TRUE(manager_->Add("web", web, Topology::kBridge).ok());
  EXPECT_EQ(RouteLocalnet(), "1");
  const std::string seen = ProbeCount();
  for (Protocol protocol : {Protocol::kTCP, Protocol::kUDP}) {
    ExpectUnreached(Exchange(pod(0), protocol, "127.0.0.1", 2379, kNoAnswer),
                    absl::StrCat("the host's 127.0.0.1:2379 (",
                                 ProtocolKeyword(protocol), ") from the pod"));
    // The localhost hostport itself keeps working.
    absl::StatusOr<std::string> local =
        Exchange(host(), protocol, "127.0.0.1", 8090, kAnswer);
    ASSERT_TRUE(local.ok()) << local.status();
    EXPECT_EQ(*local, Reply(0, "10.88.0.1"));
  }
  EXPECT_NE(ProbeCount(), seen)
      << "the probes never reached the host, so this proves nothing";

  // The last pod gone, route_localnet is what it was and the probe is a
  // martian again.
  ASSERT_TRUE(manager_->Remove("web", Pod(0, {})).ok());
  EXPECT_EQ(RouteLocalnet(), route_localnet_before);
  ExpectUnreached(
      Exchange(pod(0), Protocol::kTCP, "127.0.0.1", 2379, kNoAnswer),
      "the host's 127.0.0.1:2379 after remove");
  ExpectNothingLeft("web", web);
  EXPECT_THAT(Snapshot(), Not(AnyOf(HasSubstr("CRIO-HOSTPORTS-LOCALNET"),
                                    HasSubstr("chain localnet"))));
}

INSTANTIATE_TEST_SUITE_P(Backends, LocalnetTrafficTest,
                         ::testing::Values(Backend::kNftables,
                                           Backend::kIptablesLegacy,
                                           Backend::kIptablesNft),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return BackendName(info.param);
                         });

}  // namespace
}  // namespace hostport::e2e
