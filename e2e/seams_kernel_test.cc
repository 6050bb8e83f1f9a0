// The real seams on the real kernel, in a namespace the test creates: a held
// port keeps other sockets off and never completes a connection; the conntrack
// cleaner deletes exactly the UDP entries it names; the nft runner applies a
// script as one transaction.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "e2e/netns.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/model/plan.h"
#include "hostport/os/command_runner.h"
#include "hostport/os/conntrack.h"
#include "hostport/os/nft_netlink.h"
#include "hostport/os/nft_runner.h"
#include "hostport/os/port_holder.h"
#include "hostport/render/nft_renderer.h"

namespace hostport::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SeamsKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HOSTPORT_REQUIRE_KERNEL();
    absl::StatusOr<std::unique_ptr<Netns>> ns = Netns::Create("seams");
    ASSERT_TRUE(ns.ok()) << ns.status();
    ns_ = std::move(*ns);
    absl::StatusOr<std::unique_ptr<Netns::Entered>> entered = ns_->Enter();
    ASSERT_TRUE(entered.ok()) << entered.status();
    entered_ = std::move(*entered);
  }
  void TearDown() override {
    entered_.reset();
    ns_.reset();
  }

  std::unique_ptr<Netns> ns_;
  std::unique_ptr<Netns::Entered> entered_;
};

sockaddr_in Loopback4(int port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sin;
}

TEST_F(SeamsKernelTest, HeldTcpPortRefusesBindsAndNeverCompletesAConnection) {
  SocketPortHolder holder;
  const IpAddress loopback = *IpAddress::Parse("127.0.0.1");
  absl::StatusOr<std::unique_ptr<HeldPort>> held =
      holder.Hold({IPFamily::kIPv4, Protocol::kTCP, loopback, 18080});
  ASSERT_TRUE(held.ok()) << held.status();

  absl::StatusOr<std::unique_ptr<HeldPort>> again =
      holder.Hold({IPFamily::kIPv4, Protocol::kTCP, std::nullopt, 18080});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.status().message()),
              HasSubstr("cannot hold tcp 0.0.0.0:18080"));
  // The families are held apart (IPV6_V6ONLY).
  EXPECT_TRUE(
      holder.Hold({IPFamily::kIPv6, Protocol::kTCP, std::nullopt, 18080}).ok());

  // A client's SYN is dropped by the socket's filter: no connection completes.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to = Loopback4(18080);
  const int rc = connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
  pollfd p{fd, POLLOUT, 0};
  EXPECT_EQ(poll(&p, 1, 500), 0) << "the held socket completed a handshake";
  close(fd);

  held->reset();  // Released: others may bind now.
  EXPECT_TRUE(
      holder.Hold({IPFamily::kIPv4, Protocol::kTCP, std::nullopt, 18080}).ok());
}

TEST_F(SeamsKernelTest, AHeldPortOutlivesItsHolder) {
  const PortKey key{IPFamily::kIPv4, Protocol::kUDP, std::nullopt, 18081};
  std::unique_ptr<HeldPort> held;
  {
    SocketPortHolder holder;
    absl::StatusOr<std::unique_ptr<HeldPort>> h = holder.Hold(key);
    ASSERT_TRUE(h.ok()) << h.status();
    held = *std::move(h);
  }
  // The holder is gone; its socket still keeps the port.
  SocketPortHolder other;
  EXPECT_EQ(other.Hold(key).status().code(), absl::StatusCode::kAlreadyExists);
  held.reset();
  EXPECT_TRUE(other.Hold(key).ok());
}

TEST_F(SeamsKernelTest, HoldingAnAddressTheHostLacksFailsClearly) {
  SocketPortHolder holder;
  absl::StatusOr<std::unique_ptr<HeldPort>> held = holder.Hold(
      {IPFamily::kIPv4, Protocol::kUDP, *IpAddress::Parse("192.0.2.99"), 53});
  EXPECT_EQ(held.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(held.status().message()),
              HasSubstr("not one of this host's"));
}

TEST_F(SeamsKernelTest, ConntrackCleanerDeletesExactlyTheNamedUdpEntries) {
  // Conntrack tracks a namespace's traffic once something there needs it.
  ASSERT_TRUE(ns_->Check({"nft",
                          "add table inet track; add chain inet track out "
                          "{ type filter hook output priority 0; }; add "
                          "rule inet track out ct state new accept"})
                  .ok());
  auto send_udp = [](int port) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to = Loopback4(port);
    sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    close(fd);
  };
  send_udp(15353);
  send_udp(15354);
  send_udp(15355);
  const int fd6 = socket(AF_INET6, SOCK_DGRAM, 0);
  sockaddr_in6 to6{};
  to6.sin6_family = AF_INET6;
  to6.sin6_port = htons(15355);
  to6.sin6_addr = in6addr_loopback;
  sendto(fd6, "x", 1, 0, reinterpret_cast<sockaddr*>(&to6), sizeof(to6));
  close(fd6);
  absl::StatusOr<std::string> before =
      ns_->Check({"conntrack", "-L", "-p", "udp"});
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_THAT(*before, HasSubstr("dport=15353"));

  NetlinkConntrackCleaner cleaner;
  absl::StatusOr<int> deleted = cleaner.DeleteUdp(
      IPFamily::kIPv4, {{*IpAddress::Parse("127.0.0.1"), 15353}});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  absl::StatusOr<std::string> after =
      ns_->Check({"conntrack", "-L", "-p", "udp"});
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(*after, Not(HasSubstr("dport=15353")));
  EXPECT_THAT(*after, HasSubstr("dport=15354"));
  // Another address does not match; any address (wildcard) does, and one call
  // takes several destinations of its family only: the IPv6 entry of 15355
  // stays until an IPv6 call.
  EXPECT_EQ(*cleaner.DeleteUdp(IPFamily::kIPv4,
                               {{*IpAddress::Parse("127.0.0.2"), 15354}}),
            0);
  EXPECT_EQ(*cleaner.DeleteUdp(IPFamily::kIPv4,
                               {{std::nullopt, 15354},
                                {*IpAddress::Parse("127.0.0.1"), 15355}}),
            2);
  after = ns_->Check({"conntrack", "-L", "-f", "ipv6", "-p", "udp"});
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(*after, HasSubstr("dport=15355"));
  EXPECT_EQ(*cleaner.DeleteUdp(IPFamily::kIPv6, {{std::nullopt, 15355}}), 1);
  EXPECT_EQ(*cleaner.DeleteUdp(IPFamily::kIPv6, {}), 0);
}

TEST_F(SeamsKernelTest, NftRunnerAppliesAllOrNothing) {
  LibNftRunner nft;
  ASSERT_TRUE(
      nft.Run("add table ip t\nadd set ip t s { type ipv4_addr; }\n").ok());
  absl::Status bad = nft.Run(
      "add element ip t s { 10.0.0.1 }\nadd element ip t nosuch { 10.0.0.2 "
      "}\n");
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.message()),
              HasSubstr("No such file or directory"));
  absl::StatusOr<std::string> listed = nft.List("list set ip t s");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(*listed, Not(HasSubstr("10.0.0.1")));
  absl::Status missing = nft.List("list table ip absent").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing.message();
}

// A pod that puts an element in every set and map of the table: wildcard and
// HostIP mappings (TCP, UDP, SCTP), a loopback-bound one, hairpins and the
// localhost pod of its interface, in both families.
PodPlan EveryElementPod() {
  PodPortMapping pod;
  pod.namespace_ = "ns";
  pod.name = "web";
  pod.ips = {"10.88.0.5", "10.88.0.6", "fd00:88::5"};
  pod.port_mappings = {{8080, 80, Protocol::kTCP, ""},
                       {5353, 53, Protocol::kUDP, ""},
                       {9000, 9000, Protocol::kSCTP, "192.0.2.10"},
                       {9001, 9001, Protocol::kTCP, "127.0.0.1"},
                       {9002, 9002, Protocol::kTCP, "2001:db8::1"}};
  absl::StatusOr<PodPlan> plan = PlanPod("cafe01", pod, "hp-br0");
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

// The table of `family` after `add`, with the base through libnftables and
// the pod's elements through `run`.
std::string TableAfter(
    IPFamily family, const PodPlan& pod,
    const std::function<absl::Status(LibNftRunner&, const NftTransaction&)>&
        run) {
  LibNftRunner nft;
  const NftRenderer renderer;
  NftTransaction base;
  renderer.AddBase(family, &base);
  EXPECT_TRUE(nft.Run(base.Render()).ok());
  NftTransaction add;
  renderer.AddPod(family, pod, &add);
  EXPECT_TRUE(add.ElementsOnly());
  EXPECT_TRUE(run(nft, add).ok());
  const std::string table = absl::StrCat(
      family == IPFamily::kIPv4 ? "ip " : "ip6 ", renderer.names().nft_table);
  absl::StatusOr<std::string> listed = nft.List("list table " + table);
  EXPECT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(nft.Run("delete table " + table).ok());
  return listed.ok() ? *listed : "";
}

TEST_F(SeamsKernelTest, ElementsOverNetlinkListAsNftWritesThem) {
  const PodPlan pod = EveryElementPod();
  for (IPFamily family : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    const std::string ip = family == IPFamily::kIPv4 ? "ip" : "ip6";
    const std::string by_nft = TableAfter(
        family, pod, [](LibNftRunner& nft, const NftTransaction& tx) {
          return nft.Run(tx.Render());
        });
    const std::string direct = TableAfter(
        family, pod, [&](LibNftRunner& nft, const NftTransaction& tx) {
          NftNetlink netlink;
          return netlink.ApplyElements(ip, NftRenderer().names().nft_table,
                                       tx.elements());
        });
    EXPECT_THAT(by_nft,
                HasSubstr(absl::StrCat("comment \"", pod.owner_comment, "\"")));
    EXPECT_THAT(by_nft, HasSubstr(family == IPFamily::kIPv4
                                      ? "\"hp-br0\" . 10.88.0.5"
                                      : "2001:db8::1 . tcp . 9002"));
    EXPECT_EQ(direct, by_nft) << ip;
  }
}

TEST_F(SeamsKernelTest, ElementsOverNetlinkAreAllOrNothing) {
  LibNftRunner nft;
  ASSERT_TRUE(nft.Run("add table ip t\n"
                      "add map ip t m { type inet_proto . inet_service : "
                      "ipv4_addr . inet_service; }\n"
                      "add set ip t s { type ipv4_addr . ipv4_addr; }\n")
                  .ok());
  const NftElementOp add{NftElementOp::Kind::kAdd,
                         "m",
                         "inet_proto . inet_service",
                         "tcp . 8080",
                         "ipv4_addr . inet_service",
                         "10.88.0.5 . 80",
                         "pod a"};
  NftElementOp absent{NftElementOp::Kind::kDelete,
                      "s",
                      "ipv4_addr . ipv4_addr",
                      "10.0.0.1 . 10.0.0.2",
                      "",
                      "",
                      ""};
  NftNetlink netlink;
  absl::Status refused = netlink.ApplyElements("ip", "t", {add, absent});
  EXPECT_EQ(refused.code(), absl::StatusCode::kNotFound) << refused;
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("deleting element { 10.0.0.1 . 10.0.0.2 } of ip t s"));
  absl::StatusOr<std::string> listed = nft.List("list table ip t");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(*listed, Not(HasSubstr("8080")));

  ASSERT_TRUE(netlink.ApplyElements("ip", "t", {add}).ok());
  listed = nft.List("list table ip t");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(*listed,
              HasSubstr("tcp . 8080 comment \"pod a\" : 10.88.0.5 . 80"));
  NftElementOp remove = add;
  remove.kind = NftElementOp::Kind::kDelete;
  ASSERT_TRUE(netlink.ApplyElements("ip", "t", {remove}).ok());
  listed = nft.List("list table ip t");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(*listed, Not(HasSubstr("8080")));

  EXPECT_EQ(netlink.ApplyElements("ip", "absent", {add}).code(),
            absl::StatusCode::kNotFound);
  NftElementOp unknown = add;
  unknown.key_type = "mark . inet_service";
  EXPECT_EQ(netlink.ApplyElements("ip", "t", {unknown}).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(nft.Run("delete table ip t").ok());
}

TEST_F(SeamsKernelTest, HoldsElementsComparesKeyValueAndComment) {
  LibNftRunner nft;
  ASSERT_TRUE(nft.Run("add table ip t\n"
                      "add map ip t m { type inet_proto . inet_service : "
                      "ipv4_addr . inet_service; }\n"
                      "add set ip t s { type ifname . ipv4_addr; }\n"
                      "add element ip t m { tcp . 8080 comment \"pod a\" : "
                      "10.88.0.5 . 80 }\n"
                      "add element ip t s { \"hp-br0\" . 10.88.0.5 comment "
                      "\"pod a\" }\n")
                  .ok());
  const NftElementOp held{NftElementOp::Kind::kAdd,
                          "m",
                          "inet_proto . inet_service",
                          "tcp . 8080",
                          "ipv4_addr . inet_service",
                          "10.88.0.5 . 80",
                          "pod a"};
  NftElementOp other_value = held;
  other_value.value = "10.88.0.6 . 80";
  NftElementOp other_owner = held;
  other_owner.comment = "pod b";
  NftElementOp absent = held;
  absent.key = "udp . 8080";
  const NftElementOp in_set{NftElementOp::Kind::kAdd,
                            "s",
                            "ifname . ipv4_addr",
                            "\"hp-br0\" . 10.88.0.5",
                            "",
                            "",
                            "pod a"};
  NftElementOp no_set = in_set;
  no_set.set = "nosuch";
  absl::StatusOr<std::vector<bool>> holds = nft.HoldsElements(
      "ip", "t", {held, other_value, other_owner, absent, in_set, no_set});
  ASSERT_TRUE(holds.ok()) << holds.status();
  EXPECT_THAT(*holds,
              ::testing::ElementsAre(true, false, false, false, true, false));
  holds = nft.HoldsElements("ip", "absent", {held});
  ASSERT_TRUE(holds.ok()) << holds.status();
  EXPECT_THAT(*holds, ::testing::ElementsAre(false));
  EXPECT_TRUE(nft.Run("delete table ip t").ok());
}

TEST_F(SeamsKernelTest, ExistingChainsLooksUpByName) {
  LibNftRunner nft;
  ASSERT_TRUE(nft.Run("add table ip6 t\nadd chain ip6 t a\n"
                      "add chain ip6 t c { type nat hook output priority "
                      "-100; }\n")
                  .ok());
  absl::StatusOr<std::vector<std::string>> present =
      nft.ExistingChains("ip6", "t", {"a", "b", "c"});
  ASSERT_TRUE(present.ok()) << present.status();
  EXPECT_THAT(*present, ::testing::ElementsAre("a", "c"));
  // The default, from `list chains`, agrees.
  absl::StatusOr<std::string> listing = nft.List("list chains");
  ASSERT_TRUE(listing.ok()) << listing.status();
  EXPECT_THAT(ChainsListed(*listing, "ip6", "t", {"a", "b", "c"}),
              ::testing::ElementsAre("a", "c"));
  present = nft.ExistingChains("ip", "t", {"a"});
  ASSERT_TRUE(present.ok()) << present.status();
  EXPECT_TRUE(present->empty());
  EXPECT_TRUE(nft.Run("delete table ip6 t").ok());
}

// iptables-nft's rules are nf_tables rules: read by handle and by chain,
// deleted by handle, as one transaction, and iptables-nft reads what is left.
TEST_F(SeamsKernelTest, IptablesNftRulesOverNetlink) {
  RealCommandRunner commands;
  absl::StatusOr<CommandResult> restored = commands.Run(
      {"iptables-nft-restore", "-w", "--noflush"},
      "*nat\n:KUBE-HOSTPORTS - [0:0]\n:KUBE-HP-A - [0:0]\n"
      ":KUBE-HP-B - [0:0]\n"
      "-A KUBE-HOSTPORTS -p tcp -m tcp --dport 80 -j KUBE-HP-A\n"
      "-A KUBE-HOSTPORTS -p tcp -m comment --comment \"b\" -m tcp --dport 81 "
      "-j KUBE-HP-B\n"
      "-A KUBE-HOSTPORTS -p tcp --dport 82 -j ACCEPT\n"
      "-A KUBE-HP-A -p tcp -j DNAT --to-destination 10.0.0.1:80\n"
      "COMMIT\n");
  ASSERT_TRUE(restored.ok() && restored->exit_code == 0)
      << (restored.ok() ? restored->stderr_text : restored.status().ToString());
  NftNetlink netlink;
  absl::StatusOr<std::vector<NftRuleJump>> rules =
      netlink.RuleJumps("ip", "nat", "KUBE-HOSTPORTS");
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_EQ(rules->size(), 3u);
  EXPECT_EQ((*rules)[0].target, "KUBE-HP-A");
  EXPECT_EQ((*rules)[1].target, "KUBE-HP-B");
  EXPECT_EQ((*rules)[2].target, "");
  // The kernel filters the dump to the chain: one that is not there lists as
  // empty (seen on 6.1), not as an error.
  absl::StatusOr<std::vector<NftRuleJump>> absent =
      netlink.RuleJumps("ip", "nat", "KUBE-ABSENT");
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_TRUE(absent->empty());

  absl::StatusOr<std::vector<uint64_t>> chains =
      netlink.ChainHandles("ip", "nat", {"KUBE-HP-A", "KUBE-ABSENT"});
  ASSERT_TRUE(chains.ok()) << chains.status();
  EXPECT_NE((*chains)[0], 0u);
  EXPECT_EQ((*chains)[1], 0u);
  // A handle of another chain is not a rule of this one.
  absl::StatusOr<std::vector<NftRuleJump>> by_handle = netlink.RulesByHandle(
      "ip", "nat", "KUBE-HOSTPORTS",
      {(*rules)[1].handle, (*chains)[0], (*rules)[1].handle + 1000});
  ASSERT_TRUE(by_handle.ok()) << by_handle.status();
  ASSERT_EQ(by_handle->size(), 1u);
  EXPECT_EQ((*by_handle)[0].target, "KUBE-HP-B");

  // Read at one generation, applied after someone else committed: refused.
  absl::StatusOr<uint32_t> generation = netlink.Generation();
  ASSERT_TRUE(generation.ok()) << generation.status();
  absl::StatusOr<CommandResult> theirs =
      commands.Run({"iptables-nft", "-w", "-t", "nat", "-A", "KUBE-HOSTPORTS",
                    "-j", "RETURN"},
                   "");
  ASSERT_TRUE(theirs.ok() && theirs->exit_code == 0);
  absl::Status stale =
      netlink.ApplyRuleOps("ip",
                           {{NftRuleOp::Kind::kDeleteRule, "nat",
                             "KUBE-HOSTPORTS", (*rules)[2].handle}},
                           *generation);
  EXPECT_TRUE(absl::IsFailedPrecondition(stale)) << stale;
  EXPECT_THAT(stale.message(), HasSubstr("changed after it was read"));

  // KUBE-HP-B is still jumped to: the whole transaction is refused.
  using Kind = NftRuleOp::Kind;
  absl::Status refused = netlink.ApplyRuleOps(
      "ip", {{Kind::kDeleteRule, "nat", "KUBE-HOSTPORTS", (*rules)[2].handle},
             {Kind::kDeleteChain, "nat", "KUBE-HP-B", 0}});
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr("deleting chain KUBE-HP-B"));
  ASSERT_TRUE(
      netlink
          .ApplyRuleOps("ip", {{Kind::kDeleteRule, "nat", "KUBE-HOSTPORTS",
                                (*rules)[0].handle},
                               {Kind::kFlushChain, "nat", "KUBE-HP-A"},
                               {Kind::kDeleteChain, "nat", "KUBE-HP-A"}})
          .ok());
  absl::StatusOr<CommandResult> saved =
      commands.Run({"iptables-nft-save", "-t", "nat"}, "");
  ASSERT_TRUE(saved.ok() && saved->exit_code == 0);
  EXPECT_THAT(saved->stdout_text, Not(HasSubstr("KUBE-HP-A")));
  EXPECT_THAT(saved->stdout_text, HasSubstr("--dport 82 -j ACCEPT"));
  EXPECT_THAT(saved->stdout_text, HasSubstr("-A KUBE-HOSTPORTS -j RETURN"));
  EXPECT_THAT(saved->stdout_text, HasSubstr("-j KUBE-HP-B"));
}

}  // namespace
}  // namespace hostport::e2e
