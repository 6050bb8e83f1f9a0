// The managers on the kernel-like fakes: every semantic line of DESIGN §4, and
// a failure injected at every step (port, sysctl, each family's transaction,
// conntrack) leaving no socket open and no rule changed.
#include "hostport/hostport_manager.h"

#include <functional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/testing/fakes.h"

namespace hostport {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeConntrack;
using testing::FakeIptables;
using testing::FakeNft;
using testing::FakePortHolder;
using testing::FakeSysctl;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

PodPortMapping Pod(std::vector<std::string> ips,
                   std::vector<PortMapping> mappings,
                   std::string name = "web") {
  PodPortMapping pod;
  pod.namespace_ = "default";
  pod.name = std::move(name);
  pod.ips = std::move(ips);
  pod.port_mappings = std::move(mappings);
  return pod;
}

PortMapping M(int host_port, int container_port, Protocol p = Protocol::kTCP,
              std::string host_ip = "") {
  return PortMapping{host_port, container_port, p, std::move(host_ip)};
}

PodPortMapping WithoutIps(PodPortMapping pod) {
  pod.ips.clear();
  return pod;
}

const std::vector<std::string> kDual = {"10.88.0.5", "fd00:88::5"};

// Records conntrack calls along with how many hostports elements the kernel
// held at that moment, to check conntrack runs after the rules are in place.
class ObservingConntrack : public ConntrackCleaner {
 public:
  ObservingConntrack(FakeConntrack* inner, FakeNft* nft)
      : inner_(inner), nft_(nft) {}
  absl::StatusOr<int> DeleteUdp(
      IPFamily family,
      const std::vector<UdpDestination>& destinations) override {
    const char* f = family == IPFamily::kIPv4 ? "ip" : "ip6";
    elements_at_call.push_back(
        nft_->Elements(f, "crio-hostports", "hostports").size() +
        nft_->Elements(f, "crio-hostports", "hostipports").size());
    return inner_->DeleteUdp(family, destinations);
  }
  std::vector<size_t> elements_at_call;

 private:
  FakeConntrack* inner_;
  FakeNft* nft_;
};

// Passes every call to a FakeNft, except that the next `times` scripts that
// mention `substring` are refused: one family's transaction can fail after the
// other went through.
class SelectiveNft : public NftRunner {
 public:
  explicit SelectiveNft(FakeNft* inner) : inner_(inner) {}
  void FailScriptsWith(std::string substring, int times) {
    substring_ = std::move(substring);
    times_ = times;
  }
  absl::Status Run(const std::string& script) override {
    if (times_ > 0 && absl::StrContains(script, substring_)) {
      --times_;
      return absl::FailedPreconditionError(
          absl::StrCat("nft: injected failure of a script with ", substring_));
    }
    return inner_->Run(script);
  }
  absl::StatusOr<std::string> List(const std::string& command) override {
    return inner_->List(command);
  }

 private:
  FakeNft* inner_;
  std::string substring_;
  int times_ = 0;
};

// A host made of fakes, with the managers' options pointing at it.
struct FakeHost {
  FakeHost() : observing_(&conntrack_, &nft_), selective_(&nft_) {
    sysctl_.Set("net/ipv6/conf/all/disable_ipv6", "0");
    sysctl_.Set(RouteLocalnetSysctl("hp-br0"), "0");
  }

  MetaOptions Options(
      MetaOptions::Backend backend = MetaOptions::Backend::kNftables) {
    MetaOptions o;
    o.prefer = backend;
    o.env =
        HostportEnv{&iptables_, &selective_, &ports_, &observing_, &sysctl_};
    o.log = [this](absl::string_view line) {
      log_.push_back(std::string(line));
    };
    return o;
  }

  std::unique_ptr<HostPortManager> Meta(
      MetaOptions::Backend backend = MetaOptions::Backend::kNftables) {
    absl::StatusOr<std::unique_ptr<HostPortManager>> m =
        NewMetaHostportManager(Options(backend));
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }

  std::vector<std::string> Elements(const char* family, const char* set) {
    return nft_.Elements(family, "crio-hostports", set);
  }

  // Everything the fakes hold, to compare before and after a failed call.
  std::string KernelState() {
    std::string out;
    for (const char* f : {"ip", "ip6"}) {
      for (const char* set : {"hostports", "hostipports", "hairpins",
                              "loopbackports", "localhostpods"}) {
        absl::StrAppend(&out, f, " ", set, ": ",
                        absl::StrJoin(Elements(f, set), ", "), "\n");
      }
    }
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      absl::StatusOr<std::string> saved = iptables_.Save(f, std::nullopt);
      if (saved.ok()) absl::StrAppend(&out, *saved);
    }
    absl::StrAppend(&out, "route_localnet=",
                    sysctl_.Read(RouteLocalnetSysctl("hp-br0")).value_or("?"));
    return out;
  }

  FakeIptables iptables_;
  FakeNft nft_;
  FakePortHolder ports_;
  FakeConntrack conntrack_;
  ObservingConntrack observing_;
  SelectiveNft selective_;
  FakeSysctl sysctl_;
  std::vector<std::string> log_;
};

class ManagerTest : public ::testing::Test, public FakeHost {};

TEST_F(ManagerTest, AddMapsBothFamiliesHoldsPortsAndClearsUdpAfterRules) {
  auto m = Meta();
  ASSERT_NE(m, nullptr);
  conntrack_.Add(
      {IPFamily::kIPv4, Protocol::kUDP, *IpAddress::Parse("10.1.1.1"), 53});
  ASSERT_TRUE(m->Add("s1",
                     Pod(kDual, {M(8080, 80), M(53, 5353, Protocol::kUDP),
                                 M(443, 8443, Protocol::kTCP, "192.0.2.10")}),
                     "hp-br0")
                  .ok());
  EXPECT_THAT(Elements("ip", "hostports"),
              Contains(HasSubstr("tcp . 8080 comment")));
  EXPECT_THAT(Elements("ip6", "hostports"),
              Contains(HasSubstr("udp . 53 comment")));
  EXPECT_THAT(Elements("ip", "hostipports"),
              Contains(HasSubstr("192.0.2.10 . tcp . 443")));
  EXPECT_THAT(Elements("ip6", "hostipports"), IsEmpty());
  EXPECT_THAT(Elements("ip", "localhostpods"),
              Contains(HasSubstr("\"hp-br0\" . 10.88.0.5")));
  // 8080 and 53 on both families, 443 on one address: 5 sockets.
  EXPECT_THAT(ports_.Held(), SizeIs(5));
  EXPECT_EQ(*sysctl_.Read(RouteLocalnetSysctl("hp-br0")), "1");
  // UDP entries to the wildcard port were cleared, and only after the rules.
  EXPECT_THAT(conntrack_.Entries(), IsEmpty());
  ASSERT_THAT(observing_.elements_at_call, SizeIs(2));
  EXPECT_GT(observing_.elements_at_call[0], 0u);
}

TEST_F(ManagerTest, RemoveNeedsNoIpsAndLeavesNothing) {
  auto m = Meta();
  const std::string before = KernelState();
  PodPortMapping pod = Pod(kDual, {M(8080, 80), M(53, 53, Protocol::kUDP)});
  ASSERT_TRUE(m->Add("s1", pod, "").ok());
  ASSERT_NE(KernelState(), before);
  ASSERT_TRUE(m->Remove("s1", WithoutIps(pod)).ok());
  EXPECT_THAT(ports_.Held(), IsEmpty());
  // The last Remove leaves the kernel as it found it, base included.
  EXPECT_FALSE(nft_.HasTable("ip", "crio-hostports"));
  EXPECT_FALSE(nft_.HasTable("ip6", "crio-hostports"));
  for (const char* f : {"ip", "ip6"}) {
    for (const char* set : {"hostports", "hairpins"}) {
      EXPECT_THAT(Elements(f, set), IsEmpty()) << f << " " << set;
    }
  }
  // Remove again and of an unknown id: no-ops.
  const std::string after = KernelState();
  EXPECT_TRUE(m->Remove("s1", WithoutIps(pod)).ok());
  EXPECT_TRUE(m->Remove("unknown", PodPortMapping()).ok());
  EXPECT_EQ(KernelState(), after);
}

TEST_F(ManagerTest, HostNetworkPodsAreANoOp) {
  auto m = Meta();
  const size_t scripts = nft_.scripts().size();
  PodPortMapping pod = Pod(kDual, {M(8080, 80)});
  pod.host_network = true;
  EXPECT_TRUE(m->Add("s1", pod, "").ok());
  EXPECT_TRUE(m->Remove("s1", pod).ok());
  EXPECT_EQ(nft_.scripts().size(), scripts);
  EXPECT_THAT(ports_.Held(), IsEmpty());
}

TEST_F(ManagerTest, InvalidPodsAndIpv6LoopbackAreRefusedBeforeAnything) {
  auto m = Meta();
  const std::string before = KernelState();
  absl::Status s =
      m->Add("s1", Pod(kDual, {M(80, 80, Protocol::kTCP, "::1")}), "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("IPv6 has no route_localnet"));
  s = m->Add("s1", Pod(kDual, {M(70000, 80)}), "");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("host_port 70000 out of range"));
  EXPECT_EQ(KernelState(), before);
  EXPECT_EQ(ports_.hold_calls(), 0);
}

TEST_F(ManagerTest, ConflictsAreRefusedAndChangeNothing) {
  auto m = Meta();
  ASSERT_TRUE(
      m->Add("a", Pod(kDual, {M(8080, 80, Protocol::kTCP, "192.0.2.10")}), "")
          .ok());
  const std::string before = KernelState();
  const int holds = ports_.hold_calls();
  absl::Status s =
      m->Add("b",
             Pod({"10.88.0.6"},
                 {M(9, 9), M(8080, 80, Protocol::kTCP, "0.0.0.0")}, "b"),
             "");
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), HasSubstr("of pod default/web (id a)"));
  EXPECT_EQ(KernelState(), before);
  EXPECT_EQ(ports_.hold_calls(), holds);
  // Another address, another protocol, or the other family is fine.
  EXPECT_TRUE(m->Add("c",
                     Pod({"10.88.0.7", "fd00:88::7"},
                         {M(8080, 80, Protocol::kTCP, "192.0.2.11"),
                          M(8080, 80, Protocol::kUDP),
                          M(8080, 80, Protocol::kTCP, "::")},
                         "c"),
                     "")
                  .ok());
}

TEST_F(ManagerTest, ReAddReplacesTheMappings) {
  auto m = Meta();
  ASSERT_TRUE(m->Add("s1", Pod(kDual, {M(8080, 80), M(9090, 90)}), "").ok());
  ASSERT_TRUE(
      m->Add("s1", Pod(kDual, {M(8080, 81, Protocol::kTCP, "192.0.2.10")}), "")
          .ok());
  EXPECT_THAT(Elements("ip", "hostports"), IsEmpty());
  EXPECT_THAT(Elements("ip6", "hostports"), IsEmpty());
  EXPECT_THAT(Elements("ip", "hostipports"),
              ::testing::ElementsAre(HasSubstr("192.0.2.10 . tcp . 8080")));
  ASSERT_THAT(ports_.Held(), SizeIs(1));
  EXPECT_EQ(ports_.Held()[0].ToString(), "tcp 192.0.2.10:8080");
  // The freed wildcard is another pod's to take now.
  EXPECT_TRUE(
      m->Add("s2", Pod({"10.88.0.6"}, {M(9090, 90)}, "other"), "").ok());
}

TEST(ManagerRemoveTest, APodConflictingWithARemovedOneIsAdded) {
  for (MetaOptions::Backend backend :
       {MetaOptions::Backend::kNftables, MetaOptions::Backend::kIptablesNft,
        MetaOptions::Backend::kIptablesLegacy}) {
    FakeHost host;
    auto m = host.Meta(backend);
    ASSERT_NE(m, nullptr);
    const PodPortMapping a =
        Pod(kDual, {M(8080, 80), M(53, 53, Protocol::kUDP)});
    ASSERT_TRUE(m->Add("a", a, "").ok());
    ASSERT_TRUE(m->Remove("a", WithoutIps(a)).ok());
    // Each mapping of b conflicts with one of a: same port on an address the
    // wildcard held, same wildcard.
    const PodPortMapping b = Pod({"10.88.0.6"},
                                 {M(8080, 81, Protocol::kTCP, "192.0.2.10"),
                                  M(53, 5353, Protocol::kUDP, "0.0.0.0")},
                                 "b");
    absl::Status s = m->Add("b", b, "");
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_THAT(
        host.ports_.Held(),
        ElementsAre(
            ::testing::Property(&PortKey::ToString, "tcp 192.0.2.10:8080"),
            ::testing::Property(&PortKey::ToString, "udp 0.0.0.0:53")));
    // The kernel holds b's rules and nothing of a's.
    const std::string state = host.KernelState();
    EXPECT_THAT(state, HasSubstr("10.88.0.6"));
    EXPECT_THAT(state, Not(HasSubstr("10.88.0.5")));
    EXPECT_THAT(state, Not(HasSubstr("fd00:88::5")));
  }
}

TEST_F(ManagerTest, MappingWithoutAPodIpOfItsFamilyIsSkippedAndLogged) {
  auto m = Meta();
  ASSERT_TRUE(
      m->Add("s1",
             Pod({"10.88.0.5"}, {M(8080, 80), M(53, 53, Protocol::kUDP, "::")}),
             "")
          .ok());
  EXPECT_THAT(Elements("ip6", "hostports"), IsEmpty());
  EXPECT_THAT(log_, Contains(HasSubstr("maps nothing on IPv6")));
  EXPECT_THAT(ports_.Held(), SizeIs(1));
}

TEST_F(ManagerTest, SctpWithoutKernelSupportIsLoggedNotFatal) {
  ports_.SetUnsupported(Protocol::kSCTP);
  auto m = Meta();
  ASSERT_TRUE(
      m->Add("s1", Pod(kDual, {M(3868, 3868, Protocol::kSCTP)}), "").ok());
  EXPECT_THAT(Elements("ip", "hostports"), Contains(HasSubstr("sctp . 3868")));
  EXPECT_THAT(log_, Contains(HasSubstr("not holding sctp 0.0.0.0:3868")));
}

TEST_F(ManagerTest, PortHoldingCanBeSwitchedOff) {
  MetaOptions o = Options();
  o.hold_ports = false;
  auto m = NewMetaHostportManager(o);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->Add("s1", Pod(kDual, {M(8080, 80)}), "").ok());
  EXPECT_EQ(ports_.hold_calls(), 0);
}

TEST_F(ManagerTest, HostWithoutIpv6RefusesIpv6PodsButRemoves) {
  sysctl_.Remove("net/ipv6/conf/all/disable_ipv6");
  auto m = Meta();
  ASSERT_NE(m, nullptr);
  EXPECT_THAT(m->Backends(), ::testing::ElementsAre("nftables IPv4"));
  absl::Status s =
      m->Add("s1", Pod({"fd00::5"}, {M(8080, 80, Protocol::kTCP, "::")}), "");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("this host has no IPv6"));
  EXPECT_TRUE(m->Remove("s1", Pod({}, {M(8080, 80)})).ok());
  // Dual-stack pods still map their IPv4 side.
  EXPECT_FALSE(m->Add("s2", Pod(kDual, {M(8080, 80)}), "").ok());
  EXPECT_TRUE(
      m->Add("s3", Pod(kDual, {M(8080, 80, Protocol::kTCP, "0.0.0.0")}), "")
          .ok());
}

// A failure at each step of Add: nothing held, nothing changed.
TEST(ManagerFailureTest, FailureAtEveryStepUndoesTheCall) {
  const PodPortMapping pod =
      Pod(kDual, {M(8080, 80), M(53, 53, Protocol::kUDP),
                  M(9000, 9000, Protocol::kTCP, "127.0.0.1")});
  const struct {
    const char* step;
    std::function<void(FakeHost*, PodPortMapping*)> inject;
  } steps[] = {
      {"a port",
       [](FakeHost* h, PodPortMapping* p) {
         // The last mapping's address is not the host's: its bind fails after
         // the others were held.
         h->ports_.SetLocalAddresses({*IpAddress::Parse("127.0.0.1")});
         p->port_mappings.push_back(M(7000, 70, Protocol::kTCP, "192.0.2.99"));
       }},
      {"route_localnet",
       [](FakeHost* h, PodPortMapping*) {
         h->sysctl_.FailNextWrite(
             absl::PermissionDeniedError("read-only /proc"));
       }},
      {"IPv4 transaction",
       [](FakeHost* h, PodPortMapping*) {
         for (int i = 0; i < 2; ++i) {  // The backend reloads and retries once.
           h->nft_.FailNext(absl::FailedPreconditionError("nft: injected v4"));
         }
       }},
      {"IPv6 transaction",
       [](FakeHost* h, PodPortMapping*) {
         // Another owner holds the IPv6 key with another value: the kernel
         // refuses the IPv6 delta (and its retry) after IPv4 went through.
         ASSERT_TRUE(
             h->nft_
                 .Apply(
                     "add table ip6 crio-hostports\n"
                     "add map ip6 crio-hostports hostports { type inet_proto . "
                     "inet_service : ipv6_addr . inet_service; }\n"
                     "add element ip6 crio-hostports hostports { tcp . 8080 "
                     "comment "
                     "\"OTHER\" : fd00:99::9 . 80 }\n")
                 .ok());
       }},
      {"conntrack",
       [](FakeHost* h, PodPortMapping*) {
         h->conntrack_.FailNext(absl::UnavailableError("netlink: injected"));
       }},
  };
  for (const auto& step : steps) {
    SCOPED_TRACE(step.step);
    FakeHost host;
    PodPortMapping p = pod;
    step.inject(&host, &p);
    absl::StatusOr<std::unique_ptr<HostPortManager>> m =
        NewMetaHostportManager(host.Options());
    ASSERT_TRUE(m.ok()) << m.status();
    const std::string before = host.KernelState();
    absl::Status s = (*m)->Add("s1", p, "hp-br0");
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(host.ports_.Held(), IsEmpty());
    EXPECT_EQ(host.KernelState(), before);
    EXPECT_EQ(*host.sysctl_.Read(RouteLocalnetSysctl("hp-br0")), "0");
  }
}

// A failure at each step of Sync: the pods that stay keep their rules and
// their sockets, and route_localnet goes back on the interface the new pod
// would have needed.
TEST(ManagerFailureTest, SyncFailureAtEveryStepUndoesTheCall) {
  const HostPortManager::PodRequest stays = {
      "s1", Pod(kDual, {M(8080, 80), M(53, 53, Protocol::kUDP)}), "hp-br0"};
  const HostPortManager::PodRequest joins = {
      "s2", Pod({"10.88.1.6", "fd00:88:1::6"}, {M(9090, 90)}, "new"), "hp-br1"};
  const struct {
    const char* step;
    std::function<void(FakeHost*, HostPortManager::PodRequest*)> inject;
  } steps[] = {
      {"a port",
       [](FakeHost* h, HostPortManager::PodRequest* p) {
         h->ports_.SetLocalAddresses({*IpAddress::Parse("127.0.0.1")});
         p->pod.port_mappings.push_back(
             M(7000, 70, Protocol::kTCP, "192.0.2.99"));
       }},
      {"route_localnet",
       [](FakeHost* h, HostPortManager::PodRequest*) {
         h->sysctl_.FailNextWrite(
             absl::PermissionDeniedError("read-only /proc"));
       }},
      {"IPv4 transaction",
       [](FakeHost* h, HostPortManager::PodRequest*) {
         h->selective_.FailScriptsWith("ip crio-hostports", 2);
       }},
      {"IPv6 transaction",
       [](FakeHost* h, HostPortManager::PodRequest*) {
         h->selective_.FailScriptsWith("ip6 crio-hostports", 2);
       }},
  };
  for (const auto& step : steps) {
    SCOPED_TRACE(step.step);
    FakeHost host;
    host.sysctl_.Set(RouteLocalnetSysctl("hp-br1"), "0");
    absl::StatusOr<std::unique_ptr<HostPortManager>> m =
        NewMetaHostportManager(host.Options());
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE((*m)->Sync({stays}).ok());
    const std::vector<PortKey> held = host.ports_.Held();
    ASSERT_THAT(held, SizeIs(4));
    const std::string before = host.KernelState();

    HostPortManager::PodRequest p = joins;
    step.inject(&host, &p);
    EXPECT_FALSE((*m)->Sync({stays, p}).ok());
    EXPECT_THAT(host.ports_.Held(), ::testing::UnorderedElementsAreArray(held));
    EXPECT_EQ(host.KernelState(), before);
    EXPECT_EQ(*host.sysctl_.Read(RouteLocalnetSysctl("hp-br1")), "0");
    // The manager still holds the pod that stayed: Remove takes it all away.
    ASSERT_TRUE((*m)->Remove("s1", stays.pod).ok());
    EXPECT_THAT(host.ports_.Held(), IsEmpty());
    EXPECT_EQ(*host.sysctl_.Read(RouteLocalnetSysctl("hp-br0")), "0");
  }
}

TEST_F(ManagerTest, RouteLocalnetGoesBackWhenTheLastPodOnItsInterfaceGoes) {
  auto m = Meta();
  const std::string hp_br0 = RouteLocalnetSysctl("hp-br0");
  const PodPortMapping a = Pod(kDual, {M(8080, 80)}, "a");
  const PodPortMapping b = Pod({"10.88.0.6"}, {M(8081, 80)}, "b");
  ASSERT_TRUE(m->Add("a", a, "hp-br0").ok());
  ASSERT_TRUE(m->Add("b", b, "hp-br0").ok());
  EXPECT_EQ(*sysctl_.Read(hp_br0), "1");
  ASSERT_TRUE(m->Remove("a", a).ok());
  EXPECT_EQ(*sysctl_.Read(hp_br0), "1") << "b still needs it";
  ASSERT_TRUE(m->Remove("b", b).ok());
  EXPECT_EQ(*sysctl_.Read(hp_br0), "0");

  // A re-Add that leaves the interface, and a Sync that drops the pod.
  ASSERT_TRUE(m->Add("a", a, "hp-br0").ok());
  ASSERT_TRUE(m->Add("a", a, "").ok());
  EXPECT_EQ(*sysctl_.Read(hp_br0), "0");
  ASSERT_TRUE(m->Sync({{"a", a, "hp-br0"}}).ok());
  EXPECT_EQ(*sysctl_.Read(hp_br0), "1");
  ASSERT_TRUE(m->Sync({}).ok());
  EXPECT_EQ(*sysctl_.Read(hp_br0), "0");

  // An IPv6-only pod needs no route_localnet.
  ASSERT_TRUE(m->Add("v6", Pod({"fd00:88::7"}, {M(9000, 90)}), "hp-br0").ok());
  EXPECT_EQ(*sysctl_.Read(hp_br0), "0");
}

// route_localnet must not expose host services on 127.0.0.1 (the
// CVE-2020-8558 class): the localnet guard is in place, first in INPUT ahead
// of someone else's ACCEPT, while any IPv4 pod is mapped, and goes with the
// last one.
TEST_F(ManagerTest, LocalnetGuardLivesWithTheIpv4Mappings) {
  ASSERT_TRUE(iptables_
                  .Restore(IPFamily::kIPv4,
                           "*filter\n-A INPUT -i hp-br0 -j ACCEPT\nCOMMIT\n")
                  .ok());
  ManagerOptions o = Options();
  auto m = NewHostportManager({IPFamily::kIPv4, IptablesVariant::kLegacy}, o);
  ASSERT_TRUE(m.ok()) << m.status();
  const PodPortMapping a = Pod({"10.88.0.5"}, {M(8080, 80)}, "a");
  const PodPortMapping b = Pod({"10.88.0.6"}, {M(8081, 80)}, "b");
  ASSERT_TRUE((*m)->Add("a", a, "hp-br0").ok());
  ASSERT_TRUE((*m)->Add("b", b, "hp-br0").ok());
  EXPECT_THAT(
      iptables_.Rules(IPFamily::kIPv4, "filter", "INPUT"),
      ::testing::ElementsAre("-d 127.0.0.0/8 ! -i lo -m comment --comment "
                             "\"hostport localnet guard\" -j "
                             "CRIO-HOSTPORTS-LOCALNET",
                             "-i hp-br0 -j ACCEPT"));
  EXPECT_THAT(
      iptables_.Rules(IPFamily::kIPv4, "filter", "CRIO-HOSTPORTS-LOCALNET"),
      ::testing::ElementsAre(
          "-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"));
  ASSERT_TRUE((*m)->Remove("a", a).ok());
  EXPECT_THAT(iptables_.Rules(IPFamily::kIPv4, "filter", "INPUT"), SizeIs(2))
      << "b still needs it";
  ASSERT_TRUE((*m)->Remove("b", b).ok());
  EXPECT_THAT(iptables_.Rules(IPFamily::kIPv4, "filter", "INPUT"),
              ::testing::ElementsAre("-i hp-br0 -j ACCEPT"));
  EXPECT_FALSE(
      iptables_.HasChain(IPFamily::kIPv4, "filter", "CRIO-HOSTPORTS-LOCALNET"));

  auto n = Meta();  // nftables: a filter input chain in our own table.
  ASSERT_TRUE(n->Add("a", a, "hp-br0").ok());
  EXPECT_THAT(nft_.Rules("ip", "crio-hostports", "localnet"),
              ::testing::ElementsAre(
                  "iifname != \"lo\" ip daddr 127.0.0.0/8 ct state != { "
                  "established, related } ct status & dnat != dnat drop"));
  ASSERT_TRUE(n->Remove("a", a).ok());
  EXPECT_FALSE(nft_.HasTable("ip", "crio-hostports"));
}

TEST_F(ManagerTest, RouteLocalnetSetBySomeoneElseIsLeftAsFound) {
  sysctl_.Set(RouteLocalnetSysctl("hp-br0"), "1");
  auto m = Meta();
  const PodPortMapping a = Pod(kDual, {M(8080, 80)}, "a");
  ASSERT_TRUE(m->Add("a", a, "hp-br0").ok());
  ASSERT_TRUE(m->Remove("a", a).ok());
  EXPECT_EQ(*sysctl_.Read(RouteLocalnetSysctl("hp-br0")), "1");
  for (const auto& [name, value] : sysctl_.writes()) {
    EXPECT_NE(name, RouteLocalnetSysctl("hp-br0")) << value;
  }
}

// What one process holds, adopted by the next: conflicts, replaced mappings
// and route_localnet are judged against the whole host.
TEST_F(ManagerTest, AdoptedPodsCountAsHeldInTheNextProcess) {
  for (auto backend : {MetaOptions::Backend::kNftables,
                       MetaOptions::Backend::kIptablesLegacy}) {
    SCOPED_TRACE(static_cast<int>(backend));
    HostPortManager::HeldState state;
    {
      auto first = Meta(backend);
      ASSERT_TRUE(
          first->Add("a", Pod(kDual, {M(8080, 80)}, "a"), "hp-br0").ok());
      state = first->Held();
    }
    ASSERT_THAT(state.pods, SizeIs(1));
    EXPECT_EQ(state.pods[0].id, "a");
    EXPECT_EQ(state.route_localnet_before.at("hp-br0"), "0");

    auto second = Meta(backend);
    ASSERT_TRUE(second->Adopt(state).ok());
    EXPECT_EQ(
        second->Add("b", Pod({"10.88.0.6"}, {M(8080, 80)}, "b"), "").code(),
        absl::StatusCode::kAlreadyExists);
    // Re-adding "a" on another port replaces its mapping, whatever backend.
    ASSERT_TRUE(
        second->Add("a", Pod(kDual, {M(8090, 80)}, "a"), "hp-br0").ok());
    const std::string kernel = KernelState();
    EXPECT_THAT(kernel, Not(HasSubstr("8080"))) << kernel;
    EXPECT_THAT(kernel, HasSubstr("8090"));
    ASSERT_TRUE(second->Remove("a", PodPortMapping()).ok());
    EXPECT_THAT(KernelState(), Not(HasSubstr("8090")));
    EXPECT_EQ(*sysctl_.Read(RouteLocalnetSysctl("hp-br0")), "0");
    EXPECT_THAT(second->Held().pods, IsEmpty());
  }
}

TEST_F(ManagerTest, AdoptSkipsWhatDoesNotPlanAndNamesIt) {
  auto m = Meta();
  HostPortManager::HeldState state;
  state.pods.push_back({"good", Pod({"10.88.0.5"}, {M(8080, 80)}), ""});
  state.pods.push_back({"bad", Pod({"10.88.0.6"}, {M(70000, 80)}), ""});
  absl::Status s = m->Adopt(state);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("70000"));
  ASSERT_THAT(m->Held().pods, SizeIs(1));
  EXPECT_EQ(m->Held().pods[0].id, "good");
}

// A Docker-like host: iptables' filter FORWARD drops by policy.
void DropForwardLikeDocker(FakeHost* h) {
  h->sysctl_.SetProcNet("ip_tables_names", "filter\nnat\n");
  ASSERT_TRUE(h->iptables_
                  .Restore(IPFamily::kIPv4,
                           "*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - "
                           "[0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n")
                  .ok());
}

std::vector<std::string> ForwardRules(FakeHost* h) {
  return h->iptables_.Rules(IPFamily::kIPv4, "filter", "FORWARD");
}

TEST_F(ManagerTest, ForwardDropIsNamedInAWarning) {
  DropForwardLikeDocker(this);
  auto m = Meta();
  ASSERT_TRUE(m->Add("a", Pod(kDual, {M(8080, 80)}), "").ok());
  EXPECT_THAT(
      log_, Contains(AllOf(HasSubstr("warning: traffic DNATed to a pod passes "
                                     "iptables-legacy filter FORWARD (IPv4), "
                                     "whose policy is drop"),
                           HasSubstr("allow_forward"))));
  EXPECT_THAT(ForwardRules(this), ::testing::ElementsAre("-j DOCKER-USER"));
}

TEST_F(ManagerTest, AllowForwardAcceptsDnatedFlowsUntilTheLastPodGoes) {
  DropForwardLikeDocker(this);
  MetaOptions options = Options();
  options.allow_forward = true;
  auto m = NewMetaHostportManager(options);
  ASSERT_TRUE(m.ok());
  const PodPortMapping a = Pod(kDual, {M(8080, 80)}, "a");
  const PodPortMapping b = Pod({"10.88.0.6"}, {M(8081, 80)}, "b");
  ASSERT_TRUE((*m)->Add("a", a, "").ok());
  ASSERT_TRUE((*m)->Add("b", b, "").ok());
  EXPECT_THAT(
      ForwardRules(this),
      ::testing::ElementsAre("-m comment --comment \"hostport forward\" -j "
                             "CRIO-HOSTPORTS-FORWARD",
                             "-j DOCKER-USER"));
  EXPECT_THAT(
      iptables_.Rules(IPFamily::kIPv4, "filter", "CRIO-HOSTPORTS-FORWARD"),
      ::testing::ElementsAre("-m comment --comment \"hostport forward\" -m "
                             "conntrack --ctstate DNAT -j ACCEPT"));
  EXPECT_THAT(log_, Not(Contains(HasSubstr("warning"))));
  ASSERT_TRUE((*m)->Remove("a", a).ok());
  EXPECT_THAT(ForwardRules(this), SizeIs(2)) << "b still needs it";
  ASSERT_TRUE((*m)->Remove("b", b).ok());
  EXPECT_THAT(ForwardRules(this), ::testing::ElementsAre("-j DOCKER-USER"));
  EXPECT_FALSE(
      iptables_.HasChain(IPFamily::kIPv4, "filter", "CRIO-HOSTPORTS-FORWARD"));
}

// The accept goes with the last pod also when a process without
// allow_forward removes it, having adopted the pods of the one that opened
// it; a manager that neither opened, asked for nor adopted reads no filter
// table on Remove.
TEST_F(ManagerTest, TheAcceptGoesWithTheLastPodWhoeverRemovesIt) {
  DropForwardLikeDocker(this);
  MetaOptions options = Options();
  options.allow_forward = true;
  auto opener = NewMetaHostportManager(options);
  ASSERT_TRUE(opener.ok());
  const PodPortMapping a = Pod(kDual, {M(8080, 80)}, "a");
  ASSERT_TRUE((*opener)->Add("a", a, "").ok());
  ASSERT_THAT(ForwardRules(this), SizeIs(2));
  auto next = Meta();  // No allow_forward.
  ASSERT_TRUE(next->Adopt((*opener)->Held()).ok());
  ASSERT_TRUE(next->Remove("a", a).ok());
  EXPECT_THAT(ForwardRules(this), ::testing::ElementsAre("-j DOCKER-USER"));

  auto plain = Meta();
  ASSERT_TRUE(plain->Add("b", Pod({"10.88.0.6"}, {M(8081, 80)}, "b"), "").ok());
  const size_t calls = iptables_.calls().size();
  ASSERT_TRUE(plain->Remove("b", Pod({}, {M(8081, 80)}, "b")).ok());
  for (size_t i = calls; i < iptables_.calls().size(); ++i) {
    const std::vector<std::string>& argv = iptables_.calls()[i].argv;
    EXPECT_THAT(argv, Not(Contains("FORWARD"))) << absl::StrJoin(argv, " ");
  }
}

TEST_F(ManagerTest, AllowForwardThatCannotOpenFailsTheAddAndChangesNothing) {
  DropForwardLikeDocker(this);
  MetaOptions options = Options();
  options.allow_forward = true;
  auto m = NewMetaHostportManager(options);
  ASSERT_TRUE(m.ok());
  const std::string before = KernelState();
  iptables_.FailNext("restore", 2, "iptables-restore: line 3 failed");
  absl::Status s = (*m)->Add("a", Pod(kDual, {M(8080, 80)}), "hp-br0");
  EXPECT_THAT(s.message(), HasSubstr("allow_forward"));
  EXPECT_EQ(KernelState(), before);
  EXPECT_THAT(ForwardRules(this), ::testing::ElementsAre("-j DOCKER-USER"));
  EXPECT_THAT(ports_.Held(), IsEmpty());
}

// firewalld-like: a drop policy in another owner's nftables table, which no
// accept of ours can override: named, with what would help.
TEST_F(ManagerTest, AForwardDropInAnotherNftablesTableIsNamed) {
  ASSERT_TRUE(nft_.Apply("add table inet firewalld\n"
                         "add chain inet firewalld filter_FORWARD { type "
                         "filter hook forward priority 10; policy drop; }\n")
                  .ok());
  MetaOptions options = Options();
  options.allow_forward = true;
  auto m = NewMetaHostportManager(options);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->Add("a", Pod(kDual, {M(8080, 80)}), "").ok());
  EXPECT_THAT(log_,
              Contains(AllOf(HasSubstr("nftables table inet firewalld chain "
                                       "filter_FORWARD, whose policy is drop"),
                             HasSubstr("cannot override"))));
}

TEST(ParseBackendNameTest, NamesEveryBackendAndRefusesOthers) {
  using B = MetaOptions::Backend;
  EXPECT_EQ(*ParseBackendName("auto"), B::kAuto);
  EXPECT_EQ(*ParseBackendName("nftables"), B::kNftables);
  EXPECT_EQ(*ParseBackendName("iptables"), B::kIptables);
  EXPECT_EQ(*ParseBackendName("iptables-legacy"), B::kIptablesLegacy);
  EXPECT_EQ(*ParseBackendName("iptables-nft"), B::kIptablesNft);
  absl::StatusOr<B> bad = ParseBackendName("pf");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("\"pf\""));
  EXPECT_THAT(bad.status().message(), HasSubstr("iptables-legacy"));
}

// "iptables" is whichever variant the host's iptables command is.
TEST_F(ManagerTest, IptablesMeansTheVariantOfTheIptablesCommand) {
  iptables_.SetPlainVariant(FakeIptables::Variant::kLegacy);
  auto legacy = Meta(MetaOptions::Backend::kIptables);
  ASSERT_NE(legacy, nullptr);
  EXPECT_THAT(legacy->Backends()[0], HasSubstr("iptables-legacy"));
  iptables_.SetPlainVariant(FakeIptables::Variant::kNft);
  auto nft = Meta(MetaOptions::Backend::kIptables);
  ASSERT_NE(nft, nullptr);
  EXPECT_THAT(nft->Backends()[0], HasSubstr("iptables-nft"));
}

TEST_F(ManagerTest, StaleIndexIsReloadedAndTheDeltaRetried) {
  auto m = Meta();
  PodPortMapping pod = Pod(kDual, {M(8080, 80)});
  ASSERT_TRUE(m->Add("s1", pod, "").ok());
  // An operator deletes one of our elements underneath.
  ASSERT_TRUE(
      nft_.DeleteElement("ip", "crio-hostports", "hostports", "tcp . 8080")
          .ok());
  const size_t lists = nft_.list_commands().size();
  ASSERT_TRUE(m->Remove("s1", WithoutIps(pod)).ok());
  EXPECT_GT(nft_.list_commands().size(), lists) << "no reload happened";
  EXPECT_THAT(Elements("ip", "hairpins"), IsEmpty());
  EXPECT_THAT(Elements("ip6", "hostports"), IsEmpty());
}

// hostportctl and hostport-cni keep records under a lock and pass the
// manager only the pods a change concerns: a fresh process must then read
// nothing whose size grows with the mappings on the host.
TEST(TrustRecordsTest, AFreshProcessReadsOnlyTheBaseAndLeavesOthersAlone) {
  for (auto backend :
       {MetaOptions::Backend::kNftables, MetaOptions::Backend::kIptablesLegacy,
        MetaOptions::Backend::kIptablesNft}) {
    SCOPED_TRACE(static_cast<int>(backend));
    FakeHost h;
    HostPortManager::HeldState state;
    {
      auto first = h.Meta(backend);
      ASSERT_TRUE(
          first->Add("a", Pod(kDual, {M(8080, 80)}, "a"), "hp-br0").ok());
      ASSERT_TRUE(
          first->Add("b", Pod({"10.88.0.6"}, {M(9090, 80)}, "b"), "hp-br0")
              .ok());
      state = first->Held();
    }
    ASSERT_THAT(state.pods, SizeIs(2));
    const size_t nft_lists = h.nft_.list_commands().size();
    const size_t iptables_calls = h.iptables_.calls().size();

    MetaOptions options = h.Options(backend);
    options.trust_records = true;
    absl::StatusOr<std::unique_ptr<HostPortManager>> m =
        NewMetaHostportManager(options);
    ASSERT_TRUE(m.ok()) << m.status();
    // Only "a" concerns this process; "b" lives elsewhere on hp-br0.
    HostPortManager::HeldState partial;
    partial.pods = {state.pods[0]};
    partial.route_localnet_before = state.route_localnet_before;
    partial.whole_host = false;
    partial.interfaces_in_use = {"hp-br0"};
    ASSERT_TRUE((*m)->Adopt(partial).ok());
    ASSERT_TRUE((*m)->Add("a", Pod(kDual, {M(8090, 80)}, "a"), "hp-br0").ok());
    ASSERT_TRUE((*m)->Remove("a", PodPortMapping()).ok());

    const std::vector<std::string> lists = h.nft_.list_commands();
    for (size_t i = nft_lists; i < lists.size(); ++i) {
      EXPECT_EQ(lists[i], "list chains") << "read more than the chains";
    }
    const std::vector<FakeIptables::Call> calls = h.iptables_.calls();
    int chain_lists = 0, saves = 0;
    for (size_t i = iptables_calls; i < calls.size(); ++i) {
      const std::vector<std::string>& argv = calls[i].argv;
      // iptables-legacy fetches the whole table for any listing, so its nat
      // is saved once per family instead of listing three chains.
      if (absl::StrContains(argv[0], "-save")) {
        ++saves;
        EXPECT_EQ(backend, MetaOptions::Backend::kIptablesLegacy)
            << absl::StrJoin(argv, " ");
        EXPECT_EQ(absl::StrJoin(argv, " ").substr(argv[0].size()), " -t nat");
      }
      if (argv.size() == 6 && argv[4] == "-S") {
        ++chain_lists;
        EXPECT_THAT(argv[5],
                    Not(AnyOf("KUBE-HOSTPORTS", "CRIO-HOSTPORTS-MASQ")))
            << "listed a chain that grows with the mappings";
      }
    }
    if (backend != MetaOptions::Backend::kNftables) {
      EXPECT_GT(chain_lists, 0) << "the base was not read at all";
    }
    EXPECT_LE(saves, 2) << "more than one save of nat per family";
    // "a" came and went; "b", which this process never read, is untouched,
    // and so are the shared objects and route_localnet it needs.
    const std::string kernel = h.KernelState();
    EXPECT_THAT(kernel, Not(HasSubstr("8080")));
    EXPECT_THAT(kernel, Not(HasSubstr("8090")));
    EXPECT_THAT(kernel, HasSubstr("9090"));
    EXPECT_EQ(*h.sysctl_.Read(RouteLocalnetSysctl("hp-br0")), "1");
  }
}

TEST(TrustRecordsTest, RecordsTheKernelLostAreNamedAndTheKernelReadWhole) {
  FakeHost h;
  HostPortManager::HeldState state;
  {
    auto first = h.Meta();
    ASSERT_TRUE(first->Add("a", Pod(kDual, {M(8080, 80)}, "a"), "").ok());
    state = first->Held();
  }
  // An operator's `nft flush ruleset`.
  ASSERT_TRUE(h.nft_
                  .Run("delete table ip crio-hostports\n"
                       "delete table ip6 crio-hostports\n")
                  .ok());
  MetaOptions options = h.Options();
  options.trust_records = true;
  absl::StatusOr<std::unique_ptr<HostPortManager>> m =
      NewMetaHostportManager(options);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE((*m)->Adopt(state).ok());
  EXPECT_THAT(h.log_,
              Contains(AllOf(HasSubstr("warning: "),
                             HasSubstr("lacks their base objects"),
                             HasSubstr("hostportctl sync --read-kernel"))));
  EXPECT_THAT(h.nft_.list_commands(), Contains("list table ip crio-hostports"));
  // The next change starts from what the kernel holds.
  ASSERT_TRUE((*m)->Add("b", Pod({"10.88.0.6"}, {M(9090, 80)}, "b"), "").ok());
  EXPECT_THAT(h.Elements("ip", "hostports"),
              ElementsAre(HasSubstr("tcp . 9090")));
}

// What a process that added pod "a" (dual-stack, port 8080) leaves in
// records.
HostPortManager::HeldState HeldWithPodA(FakeHost& h,
                                        MetaOptions::Backend backend) {
  auto first = h.Meta(backend);
  EXPECT_TRUE(first->Add("a", Pod(kDual, {M(8080, 80)}, "a"), "").ok());
  return first->Held();
}

// The programs a fresh trusted iptables process ran for `change`, in order.
std::vector<std::string> ProgramsFor(
    FakeHost& h, MetaOptions::Backend backend,
    const HostPortManager::HeldState& state,
    const std::function<void(HostPortManager*)>& change) {
  MetaOptions options = h.Options(backend);
  options.trust_records = true;
  absl::StatusOr<std::unique_ptr<HostPortManager>> m =
      NewMetaHostportManager(options);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return {};
  EXPECT_TRUE((*m)->Adopt(state).ok());
  h.iptables_.ClearCalls();
  change(m->get());
  std::vector<std::string> programs;
  for (const FakeIptables::Call& call : h.iptables_.calls()) {
    programs.push_back(call.argv[0]);
  }
  return programs;
}

// A removal needs nothing read: the records name the rules, and the kernel
// refuses one that is not there. The last pod takes the base with it in the
// same restore, one per family.
TEST(TrustRecordsTest, AnIptablesRemovalRunsOneRestorePerFamilyAndNothingElse) {
  for (auto backend : {MetaOptions::Backend::kIptablesLegacy,
                       MetaOptions::Backend::kIptablesNft}) {
    SCOPED_TRACE(static_cast<int>(backend));
    const std::string v =
        backend == MetaOptions::Backend::kIptablesNft ? "nft" : "legacy";
    FakeHost h;
    HostPortManager::HeldState state;
    {
      auto first = h.Meta(backend);
      ASSERT_TRUE(first->Add("a", Pod(kDual, {M(8080, 80)}, "a"), "").ok());
      ASSERT_TRUE(
          first
              ->Add("b",
                    Pod(kDual, {M(9090, 80, Protocol::kTCP, "127.0.0.1")}, "b"),
                    "hp-br0")
              .ok());
      state = first->Held();
    }
    const std::vector<std::string> restores = {
        absl::StrCat("iptables-", v, "-restore"),
        absl::StrCat("ip6tables-", v, "-restore")};
    EXPECT_THAT(
        ProgramsFor(h, backend, state,
                    [](HostPortManager* m) {
                      EXPECT_TRUE(m->Remove("a", PodPortMapping()).ok());
                    }),
        ::testing::ElementsAreArray(restores));
    EXPECT_THAT(h.KernelState(), Not(HasSubstr("8080")));
    EXPECT_THAT(h.KernelState(), HasSubstr("9090"));
    // "b" (127.0.0.1) has only IPv4 mappings: IPv6's base went with "a".
    EXPECT_FALSE(
        h.iptables_.HasChain(IPFamily::kIPv6, "nat", "KUBE-HOSTPORTS"));
    state.pods.erase(state.pods.begin());
    EXPECT_THAT(
        ProgramsFor(h, backend, state,
                    [](HostPortManager* m) {
                      EXPECT_TRUE(m->Remove("b", PodPortMapping()).ok());
                    }),
        ElementsAre(restores[0]));
    EXPECT_THAT(h.KernelState(), Not(HasSubstr("KUBE-")));
    EXPECT_THAT(h.KernelState(), Not(HasSubstr("CRIO-")));
    EXPECT_THAT(h.log_, Not(Contains(HasSubstr("refused"))));
  }
}

// Someone else's rule in a shared chain keeps the base, and only the base:
// the last pod still goes, and their rule stays.
TEST(TrustRecordsTest, AForeignRuleInASharedChainKeepsTheBaseNotThePod) {
  for (auto backend : {MetaOptions::Backend::kIptablesLegacy,
                       MetaOptions::Backend::kIptablesNft}) {
    SCOPED_TRACE(static_cast<int>(backend));
    FakeHost h;
    const HostPortManager::HeldState state = HeldWithPodA(h, backend);
    ASSERT_TRUE(h.iptables_
                    .Restore(IPFamily::kIPv4,
                             "*nat\n-A KUBE-HOSTPORTS -p tcp --dport 7000 -j "
                             "DNAT --to-destination 10.1.1.1:80\nCOMMIT\n")
                    .ok());
    ProgramsFor(h, backend, state, [](HostPortManager* m) {
      EXPECT_TRUE(m->Remove("a", PodPortMapping()).ok());
    });
    EXPECT_THAT(h.KernelState(), Not(HasSubstr("8080")));
    EXPECT_THAT(h.iptables_.Rules(IPFamily::kIPv4, "nat", "KUBE-HOSTPORTS"),
                ElementsAre(HasSubstr("7000")));
    EXPECT_THAT(h.iptables_.Rules(IPFamily::kIPv4, "nat", "PREROUTING"),
                Contains(HasSubstr("KUBE-HOSTPORTS")));
    // IPv6 had no foreign rule: its base went.
    EXPECT_FALSE(
        h.iptables_.HasChain(IPFamily::kIPv6, "nat", "KUBE-HOSTPORTS"));
  }
}

// Records say a pod is installed, but the base is gone (a firewall reload
// flushed nat): the next add reads the base, says so, loads what there is,
// and puts the base back with its own pod.
TEST(TrustRecordsTest, AnIptablesAddFindsTheBaseGoneAndSaysSo) {
  FakeHost h;
  const auto backend = MetaOptions::Backend::kIptablesNft;
  const HostPortManager::HeldState state = HeldWithPodA(h, backend);
  ASSERT_TRUE(h.iptables_
                  .Restore(IPFamily::kIPv4,
                           "*nat\n-D PREROUTING -m comment --comment "
                           "\"kube hostport portals\" -m addrtype "
                           "--dst-type LOCAL -j KUBE-HOSTPORTS\nCOMMIT\n")
                  .ok());
  const std::vector<std::string> programs =
      ProgramsFor(h, backend, state, [](HostPortManager* m) {
        EXPECT_TRUE(
            m->Add("b", Pod({"10.88.0.6"}, {M(9090, 80)}, "b"), "").ok());
      });
  EXPECT_THAT(programs, Contains("iptables-nft-save")) << "did not load";
  EXPECT_THAT(h.log_, Contains(AllOf(HasSubstr("warning: "),
                                     HasSubstr("lacks their base objects"))));
  EXPECT_THAT(h.iptables_.Rules(IPFamily::kIPv4, "nat", "PREROUTING"),
              Contains(HasSubstr("KUBE-HOSTPORTS")));
}

TEST(TrustRecordsTest, ARecordTheKernelContradictsMakesTheDeltaReadEverything) {
  for (auto backend :
       {MetaOptions::Backend::kNftables, MetaOptions::Backend::kIptablesNft}) {
    SCOPED_TRACE(static_cast<int>(backend));
    FakeHost h;
    HostPortManager::HeldState state;
    {
      auto first = h.Meta(backend);
      ASSERT_TRUE(first->Add("a", Pod(kDual, {M(8080, 80)}, "a"), "").ok());
      ASSERT_TRUE(
          first->Add("b", Pod({"10.88.0.6"}, {M(9090, 80)}, "b"), "").ok());
      state = first->Held();
    }
    // Someone removed "a" behind the records' back.
    {
      auto other = h.Meta(backend);
      ASSERT_TRUE(other->Remove("a", PodPortMapping()).ok());
    }
    MetaOptions options = h.Options(backend);
    options.trust_records = true;
    absl::StatusOr<std::unique_ptr<HostPortManager>> m =
        NewMetaHostportManager(options);
    ASSERT_TRUE(m.ok()) << m.status();
    state.pods.resize(1);  // "a" only.
    state.whole_host = false;
    ASSERT_TRUE((*m)->Adopt(state).ok());
    // Removing what the kernel no longer holds is refused, read, and retried.
    ASSERT_TRUE((*m)->Remove("a", PodPortMapping()).ok());
    ASSERT_TRUE((*m)->Add("a", Pod(kDual, {M(8081, 80)}, "a"), "").ok());
    const std::string kernel = h.KernelState();
    EXPECT_THAT(kernel, HasSubstr("8081"));
    EXPECT_THAT(kernel, HasSubstr("9090"));
    EXPECT_THAT(kernel, Not(HasSubstr("8080")));
  }
}

TEST_F(ManagerTest, IptablesManagerForOneFamily) {
  ManagerOptions o = Options();
  auto m = NewHostportManager({IPFamily::kIPv6, IptablesVariant::kLegacy}, o);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT((*m)->Backends(), ::testing::ElementsAre("iptables-legacy IPv6"));
  PodPortMapping pod = Pod(
      {"fd00::5"}, {M(8080, 80), M(53, 53, Protocol::kUDP, "2001:db8::10")});
  ASSERT_TRUE((*m)->Add("s1", pod, "").ok());
  EXPECT_THAT(iptables_.Rules(IPFamily::kIPv6, "nat", "KUBE-HOSTPORTS"),
              SizeIs(2));
  // An injected refusal of both attempts leaves the table as it was.
  const std::string before = KernelState();
  iptables_.FailNext("restore", 1, "iptables-restore: line 3 failed");
  iptables_.FailNext("restore", 1, "iptables-restore: line 3 failed");
  absl::Status s = (*m)->Add("s2", Pod({"fd00::6"}, {M(9090, 90)}, "b"), "");
  EXPECT_THAT(std::string(s.message()), HasSubstr("line 3 failed"));
  EXPECT_EQ(KernelState(), before);
  ASSERT_TRUE((*m)->Remove("s1", WithoutIps(pod)).ok());
  EXPECT_THAT(iptables_.Rules(IPFamily::kIPv6, "nat", "KUBE-HOSTPORTS"),
              IsEmpty());
  EXPECT_FALSE(iptables_.HasChain(
      IPFamily::kIPv6, "nat",
      "KUBE-HP-" + MappingHash("s1", 8080, Protocol::kTCP, "")));
}

TEST_F(ManagerTest, MetaCleansUpWhatAnotherBackendLeft) {
  PodPortMapping pod = Pod(kDual, {M(8080, 80)});
  {
    auto old = Meta(MetaOptions::Backend::kIptablesLegacy);
    ASSERT_TRUE(old->Add("s1", pod, "").ok());
  }
  sysctl_.SetProcNet("ip_tables_names", "nat\nraw");
  sysctl_.SetProcNet("ip6_tables_names", "nat");
  auto m = Meta(MetaOptions::Backend::kNftables);
  EXPECT_THAT(m->Backends(), Contains("iptables-legacy IPv4 (cleanup)"));
  ASSERT_TRUE(m->Remove("s1", WithoutIps(pod)).ok());
  EXPECT_THAT(iptables_.Rules(IPFamily::kIPv4, "nat", "KUBE-HOSTPORTS"),
              IsEmpty());
  EXPECT_THAT(iptables_.Rules(IPFamily::kIPv6, "nat", "KUBE-HOSTPORTS"),
              IsEmpty());
}

TEST_F(ManagerTest, CustomObjectNamesAreUsedAndFoundAgain) {
  ObjectNames names;
  names.hostports_chain = "RT-HOSTPORTS";
  names.hostport_chain_prefix = "RT-HP-";
  names.masquerade_chain = "RT-MASQ";
  names.masquerade_chain_prefix = "RT-MQ-";
  names.loopback_guard_chain = "RT-LOOPBACK";
  names.nft_table = "rt-hostports";
  PodPortMapping pod =
      Pod(kDual, {M(8080, 80), M(9000, 90, Protocol::kTCP, "127.0.0.1")});
  for (auto backend :
       {MetaOptions::Backend::kNftables, MetaOptions::Backend::kIptablesNft}) {
    MetaOptions o = Options(backend);
    o.names = names;
    {
      auto m = NewMetaHostportManager(o);
      ASSERT_TRUE(m.ok()) << m.status();
      ASSERT_TRUE((*m)->Add("s1", pod, "").ok());
    }
    EXPECT_FALSE(nft_.HasTable("ip", "crio-hostports"));
    EXPECT_FALSE(iptables_.HasChain(IPFamily::kIPv4, "nat", "KUBE-HOSTPORTS"));
    // A new manager finds them under the same names and removes them.
    auto m = NewMetaHostportManager(o);
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE((*m)->Remove("s1", WithoutIps(pod)).ok());
  }
  EXPECT_THAT(nft_.Elements("ip", "rt-hostports", "hostports"), IsEmpty());
  EXPECT_THAT(nft_.Elements("ip", "rt-hostports", "loopbackports"), IsEmpty());
  // The last Remove took the shared chains away again, under their names.
  EXPECT_FALSE(iptables_.HasChain(IPFamily::kIPv4, "nat", "RT-HOSTPORTS"));
  EXPECT_FALSE(iptables_.HasChain(IPFamily::kIPv4, "raw", "RT-LOOPBACK"));
  EXPECT_FALSE(nft_.HasTable("ip", "rt-hostports"));
  // Invalid names are refused up front, naming the field.
  MetaOptions bad = Options();
  bad.names.hostport_chain_prefix = "WAY-TOO-LONG-PREFIX-";
  absl::StatusOr<std::unique_ptr<HostPortManager>> refused =
      NewMetaHostportManager(bad);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("hostport_chain_prefix"));
}

TEST_F(ManagerTest, SyncHoldsExactlyTheGivenPods) {
  auto m = Meta();
  ASSERT_TRUE(
      m->Add("gone", Pod({"10.88.0.9"}, {M(7000, 70)}, "gone"), "").ok());
  // Someone's stale element of ours in the kernel, owned by no pod.
  ASSERT_TRUE(nft_.Apply("add element ip crio-hostports hostports { udp . 5000 "
                         "comment \"STALEOWNER000000\" : 10.88.9.9 . 50 }\n")
                  .ok());
  std::vector<HostPortManager::PodRequest> want = {
      {"a", Pod(kDual, {M(8080, 80)}, "a"), ""},
      {"b", Pod({"10.88.0.6"}, {M(53, 53, Protocol::kUDP, "192.0.2.10")}, "b"),
       "hp-br0"},
  };
  ASSERT_TRUE(m->Sync(want).ok());
  EXPECT_THAT(Elements("ip", "hostports"),
              ::testing::ElementsAre(HasSubstr("tcp . 8080")));
  EXPECT_THAT(Elements("ip6", "hostports"),
              ::testing::ElementsAre(HasSubstr("tcp . 8080")));
  EXPECT_THAT(Elements("ip", "hostipports"),
              ::testing::ElementsAre(HasSubstr("192.0.2.10 . udp . 53")));
  EXPECT_THAT(ports_.Held(), SizeIs(3));
  EXPECT_EQ(*sysctl_.Read(RouteLocalnetSysctl("hp-br0")), "1");
  // The synced pods are the manager's: Remove works on them, and conflicts
  // count.
  EXPECT_EQ(m->Add("c", Pod({"10.88.0.7"}, {M(8080, 80)}, "c"), "").code(),
            absl::StatusCode::kAlreadyExists);
  // Conflicting pods in one sync change nothing.
  const std::string before = KernelState();
  want.push_back(
      {"d", Pod({"fd00::8"}, {M(8080, 80, Protocol::kTCP, "::")}, "d"), ""});
  EXPECT_EQ(m->Sync(want).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(KernelState(), before);
  // Syncing nothing removes everything of ours.
  ASSERT_TRUE(m->Sync({}).ok());
  EXPECT_THAT(Elements("ip", "hostports"), IsEmpty());
  EXPECT_THAT(Elements("ip", "hairpins"), IsEmpty());
  EXPECT_THAT(ports_.Held(), IsEmpty());
}

// A sync that adds one pod sends the kernel only that pod: pods installed
// exactly as given (keys and values) are left alone; a pod whose address
// changed is rewritten.
TEST_F(ManagerTest, SyncSendsOnlyWhatChanges) {
  auto m = Meta();
  std::vector<HostPortManager::PodRequest> want = {
      {"a", Pod(kDual, {M(8080, 80)}, "a"), ""},
      {"b", Pod({"10.88.0.6"}, {M(9090, 80)}, "b"), ""}};
  ASSERT_TRUE(m->Sync(want).ok());
  auto sent_since = [&](size_t first) {
    std::string sent;
    const std::vector<std::string> scripts = nft_.scripts();
    for (size_t i = first; i < scripts.size(); ++i) sent += scripts[i];
    return sent;
  };
  size_t first = nft_.scripts().size();
  want.push_back({"c", Pod({"10.88.0.7"}, {M(7070, 80)}, "c"), ""});
  ASSERT_TRUE(m->Sync(want).ok());
  std::string sent = sent_since(first);
  EXPECT_THAT(sent, HasSubstr("7070"));
  EXPECT_THAT(sent, Not(HasSubstr("8080")));
  EXPECT_THAT(sent, Not(HasSubstr("9090")));

  first = nft_.scripts().size();
  want[1] = {"b", Pod({"10.88.0.16"}, {M(9090, 80)}, "b"), ""};
  ASSERT_TRUE(m->Sync(want).ok());
  sent = sent_since(first);
  EXPECT_THAT(sent, HasSubstr("10.88.0.16"));
  EXPECT_THAT(sent, Not(HasSubstr("8080")));
  EXPECT_THAT(Elements("ip", "hostports"),
              Contains(HasSubstr("tcp . 9090 comment")));
  EXPECT_THAT(Elements("ip", "hostports"),
              Contains(HasSubstr("10.88.0.16 . 80")));
  EXPECT_THAT(Elements("ip", "hostports"),
              Not(Contains(HasSubstr("10.88.0.6 "))));
}

TEST_F(ManagerTest, SyncThroughIptablesRemovesLeftoverChains) {
  auto m = Meta(MetaOptions::Backend::kIptablesLegacy);
  ASSERT_TRUE(m->Add("old", Pod(kDual, {M(8080, 80)}, "old"), "").ok());
  ASSERT_TRUE(m->Sync({{"new", Pod(kDual, {M(9090, 90)}, "new"), ""}}).ok());
  const auto rules = iptables_.Rules(IPFamily::kIPv4, "nat", "KUBE-HOSTPORTS");
  ASSERT_THAT(rules, SizeIs(1));
  EXPECT_THAT(rules[0], HasSubstr("--dport 9090"));
  EXPECT_FALSE(iptables_.HasChain(
      IPFamily::kIPv4, "nat",
      "KUBE-HP-" + MappingHash("old", 8080, Protocol::kTCP, "")));
}

TEST_F(ManagerTest, ConcurrentAddsAndRemovesStayConsistent) {
  auto m = Meta();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string id = absl::StrCat("t", t, "-", i);
        PodPortMapping pod = Pod({absl::StrCat("10.88.", t, ".", i + 1)},
                                 {M(10000 + t * 100 + i, 80)}, id);
        EXPECT_TRUE(m->Add(id, pod, "").ok());
        if (i % 2 == 0) {
          EXPECT_TRUE(m->Remove(id, pod).ok());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(Elements("ip", "hostports"), SizeIs(4 * 12));
  EXPECT_THAT(ports_.Held(), SizeIs(4 * 12));
}

}  // namespace
}  // namespace hostport
