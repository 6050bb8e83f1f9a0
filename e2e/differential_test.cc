// The simulator against the kernel. Generated pod sets (fixed seed) are applied
// to the real kernel by the managers, every backend in turn; then for each of a
// set of packets the kernel's outcome (which pod answered, with which source
// seen) is compared with what `hostportctl trace --live` predicts from the
// namespace's dumped rules, addresses and sysctls, and with what DESIGN §4
// says (semantics::Expect over the namespace's addresses and routes). A
// disagreement fails with every side. The same is done over rules we did not
// write: Debian's CNI portmap plugin, chained after bridge + host-local.
#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "e2e/hosts/fixture.h"
#include "e2e/hosts/loader.h"
#include "e2e/netns.h"
#include "e2e/topology.h"
#include "e2e/traffic.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/hostport_manager.h"
#include "semantics/semantics.h"
#include "sim/host_model.h"
#include "sim/simulator.h"

namespace hostport::e2e {
namespace {

using Backend = MetaOptions::Backend;

constexpr absl::Duration kAnswer = absl::Seconds(2);
constexpr absl::Duration kNoAnswer = absl::Milliseconds(300);
constexpr int kContainerPorts[] = {8000, 8001};
constexpr int kHostPorts[] = {30000, 30001, 30002};

// What a packet came to: the answering pod's identity and the source it saw,
// or "" for no answer (dropped, refused, or a host socket that never answers).
struct Outcome {
  std::string pod;
  std::string source;
  friend bool operator==(const Outcome& a, const Outcome& b) {
    return a.pod == b.pod && a.source == b.source;
  }
};

std::string Show(const Outcome& o) {
  return o.pod.empty() ? "no pod answers"
                       : absl::StrCat(o.pod, " sees ", o.source);
}

struct Probe {
  std::string from;  // "external:hp-ext", "local", "pod:10.88.0.2"
  Netns* ns;         // Where the kernel packet starts.
  Protocol protocol;
  std::string dst;
  int port;
  std::string src;  // Source address to use ("" the kernel's choice).
};

std::string Bracketed(const std::string& address) {
  return absl::StrContains(address, ':') ? absl::StrCat("[", address, "]")
                                         : address;
}

class Differential {
 public:
  explicit Differential(Topology* topology) : t_(topology) {
    for (int i = 0; i < 3; ++i) {
      for (const std::string& ip : t_->PodIps(i)) {
        AddOwner(ip, absl::StrCat("pod", i));
      }
    }
  }

  // The echo server identity answering for a pod address.
  void AddOwner(const std::string& address, const std::string& identity) {
    owners_[address] = identity;
  }

  // An address that answers nothing (no echo server there): a packet
  // delivered to it comes to "no pod answers".
  void AddSilent(const std::string& address) { owners_[address] = ""; }

  // Identity of the pod that owns `address` ("pod2"), "" for a silent
  // address, or the address itself.
  std::string PodOf(const std::string& address) const {
    auto it = owners_.find(address);
    return it == owners_.end() ? address : it->second;
  }

  Outcome Kernel(const Probe& p) {
    absl::StatusOr<std::string> reply =
        Exchange(*p.ns, p.protocol, p.dst, p.port, kNoAnswer, 0, p.src);
    if (!reply.ok()) {
      // A slow first answer (ARP, neighbour discovery) is retried once.
      reply = Exchange(*p.ns, p.protocol, p.dst, p.port, kAnswer, 0, p.src);
    }
    if (!reply.ok()) return {};
    std::vector<std::string> words = absl::StrSplit(*reply, ' ');
    if (words.size() < 2) return {};
    return {words[0], words[1]};
  }

  // What trace --live says: one outcome, or every outcome of a probabilistic
  // path (kube-proxy's endpoint choice), any of which the kernel may take.
  absl::StatusOr<std::vector<Outcome>> Simulated(const Probe& p,
                                                 std::string* trace) {
    std::vector<std::string> argv = {
        RunfilePath("tools/hostportctl"),
        "trace",
        "--live",
        "--from",
        p.from,
        "--proto",
        std::string(ProtocolKeyword(p.protocol)),
        "--dst",
        absl::StrCat(Bracketed(p.dst), ":", p.port),
        "--output",
        "json"};
    if (!p.src.empty()) {
      argv.push_back("--src");
      argv.push_back(p.src);
    }
    absl::StatusOr<std::string> out = t_->host().Check(argv);
    if (!out.ok()) return out.status();
    nlohmann::json doc = nlohmann::json::parse(*out, nullptr, false);
    if (doc.is_discarded()) return absl::InternalError("trace printed no JSON");
    *trace = doc.dump(1);
    std::vector<Outcome> outcomes;
    for (const nlohmann::json& o :
         doc.value("outcomes", nlohmann::json::array({doc}))) {
      outcomes.push_back(Meaning(o));
    }
    return outcomes;
  }

  // The echo servers' view of one trace outcome.
  Outcome Meaning(const nlohmann::json& o) const {
    if (o.value("verdict", "") != "delivered") return Outcome{};
    std::string to = o.value("to", "");
    // "[fd00:88::2]:8000" / "10.88.0.2:8000" → the address.
    to = to.front() == '[' ? to.substr(1, to.find(']') - 1)
                           : to.substr(0, to.rfind(':'));
    const std::string pod = PodOf(to);
    if (pod.empty()) return Outcome{};
    return Outcome{pod, o.value("source_seen", "")};
  }

  // What DESIGN §4 says of `p` with `pods` on `host`.
  absl::StatusOr<Outcome> Semantic(const Probe& p,
                                   const std::vector<semantics::Pod>& pods,
                                   const sim::HostModel& host) const {
    sim::Packet packet;
    packet.protocol = semantics::SimProtocol(p.protocol);
    absl::StatusOr<sim::IpAddress> dst = sim::IpAddress::Parse(p.dst);
    absl::StatusOr<sim::IpAddress> src = sim::IpAddress::Parse(p.src);
    absl::StatusOr<sim::PacketOrigin> origin = sim::ParsePacketOrigin(p.from);
    if (!dst.ok()) return dst.status();
    if (!src.ok()) return src.status();
    if (!origin.ok()) return origin.status();
    packet.dst = *dst;
    packet.dst_port = static_cast<uint16_t>(p.port);
    packet.src = *src;
    packet.origin = *origin;
    const semantics::Expected e = semantics::Expect(pods, host, packet);
    if (e.verdict != sim::PacketVerdict::kDelivered) return Outcome{};
    const std::string to = e.to.front() == '['
                               ? e.to.substr(1, e.to.find(']') - 1)
                               : e.to.substr(0, e.to.rfind(':'));
    const std::string pod = PodOf(to);
    if (pod.empty()) return Outcome{};
    return Outcome{pod, e.source};
  }

  // Compares kernel and simulator on `p`, and with `pods` and `host` given
  // also DESIGN §4; records a readable failure.
  void Check(const Probe& p, const std::string& context,
             const std::vector<semantics::Pod>* pods = nullptr,
             const sim::HostModel* host = nullptr) {
    ++packets_;
    std::string trace;
    absl::StatusOr<std::vector<Outcome>> sim = Simulated(p, &trace);
    ASSERT_TRUE(sim.ok()) << context << ": " << sim.status();
    const Outcome kernel = Kernel(p);
    if (!kernel.pod.empty()) ++delivered_;
    const std::string packet =
        absl::StrCat(ProtocolKeyword(p.protocol), " from ", p.from,
                     p.src.empty() ? "" : " src " + p.src, " to ",
                     Bracketed(p.dst), ":", p.port);
    std::string predicted;
    for (const Outcome& o : *sim) {
      absl::StrAppend(&predicted, predicted.empty() ? "" : " | ", Show(o));
    }
    EXPECT_TRUE(std::find(sim->begin(), sim->end(), kernel) != sim->end())
        << context << "\n  packet: " << packet << "\n  kernel: " << Show(kernel)
        << "\n  simulator: " << predicted << "\n  simulator trace: " << trace;
    if (pods == nullptr || host == nullptr) return;
    absl::StatusOr<Outcome> semantic = Semantic(p, *pods, *host);
    ASSERT_TRUE(semantic.ok()) << context << ": " << semantic.status();
    EXPECT_EQ(kernel, *semantic)
        << context << "\n  packet: " << packet << "\n  kernel: " << Show(kernel)
        << "\n  DESIGN §4: " << Show(*semantic)
        << "\n  simulator trace: " << trace;
  }

  int packets() const { return packets_; }
  // Packets a pod answered (the rest must agree on "no pod").
  int delivered() const { return delivered_; }

 private:
  Topology* t_;
  std::map<std::string, std::string> owners_;
  int packets_ = 0;
  int delivered_ = 0;
};

// diff/pod0 with the first topology pod's addresses and `mappings`.
PodPortMapping FirstPod(const Topology& t, std::vector<PortMapping> mappings) {
  PodPortMapping pod;
  pod.namespace_ = "diff";
  pod.name = "pod0";
  pod.ips = t.PodIps(0);
  pod.port_mappings = std::move(mappings);
  return pod;
}

PodPortMapping RandomPod(std::mt19937& rng, const Topology& t, int i) {
  PodPortMapping pod;
  pod.namespace_ = "diff";
  pod.name = absl::StrCat("pod", i);
  const std::vector<std::string> ips = t.PodIps(i);
  // Some pods are single-stack.
  switch (rng() % 4) {
    case 0:
      pod.ips = {ips[0]};
      break;
    case 1:
      pod.ips = {ips[1]};
      break;
    default:
      pod.ips = ips;
  }
  const std::vector<std::string> host_ips = {
      "",
      "0.0.0.0",
      "::",
      Topology::HostAddress(IPFamily::kIPv4, 0),
      Topology::HostAddress(IPFamily::kIPv4, 1),
      Topology::HostAddress(IPFamily::kIPv6, 0),
      Topology::HostAddress(IPFamily::kIPv6, 1),
      "127.0.0.1"};
  const int n = 1 + rng() % 3;
  for (int m = 0; m < n; ++m) {
    pod.port_mappings.push_back(
        {kHostPorts[rng() % 3], kContainerPorts[rng() % 2],
         rng() % 3 == 0 ? Protocol::kUDP : Protocol::kTCP,
         host_ips[rng() % host_ips.size()]});
  }
  return pod;
}

// The host namespace's addresses, routes and route_localnet, as `trace --live`
// reads them (no bridge ports: every pod here has hairpin_mode on).
absl::StatusOr<sim::HostModel> LiveHost(Netns& host) {
  absl::StatusOr<std::string> addrs = host.Check({"ip", "-j", "addr"});
  if (!addrs.ok()) return addrs.status();
  std::vector<std::string> routes;
  for (const char* family : {"-4", "-6"}) {
    absl::StatusOr<std::string> r = host.Check({"ip", family, "-j", "route"});
    if (!r.ok()) return r.status();
    routes.push_back(*r);
  }
  std::map<std::string, bool> route_localnet;
  for (const char* name : {Topology::kBridge, Topology::kHostExternal}) {
    absl::StatusOr<std::string> v =
        host.Check({"cat", absl::StrCat("/proc/sys/net/ipv4/conf/", name,
                                        "/route_localnet")});
    if (!v.ok()) return v.status();
    route_localnet[name] = absl::StartsWith(*v, "1");
  }
  return sim::HostModel::FromIpJson(*addrs, routes, route_localnet);
}

class DifferentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HOSTPORT_REQUIRE_KERNEL();
    TopologyOptions options;
    options.pods = {PodSpec{2, true, false}, PodSpec{3, true, false},
                    PodSpec{4, true, false}};
    absl::StatusOr<std::unique_ptr<Topology>> t = Topology::Create(options);
    ASSERT_TRUE(t.ok()) << t.status();
    topology_ = std::move(*t);
    for (int i = 0; i < 3; ++i) {
      for (int port : kContainerPorts) {
        absl::StatusOr<std::unique_ptr<EchoServer>> s =
            EchoServer::Start(topology_->pod(i), absl::StrCat("pod", i), port);
        ASSERT_TRUE(s.ok()) << s.status();
        servers_.push_back(std::move(*s));
      }
    }
  }

  std::unique_ptr<Topology> topology_;
  std::vector<std::unique_ptr<EchoServer>> servers_;
};

TEST_F(DifferentialTest, SimulatorPredictsTheKernelOnGeneratedPodSets) {
  Topology& t = *topology_;
  Differential diff(&t);
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    diff.AddSilent(Topology::ClientAddress(f));
  }
  std::mt19937 rng(20261126);
  absl::StatusOr<std::unique_ptr<Netns::Entered>> entered = t.host().Enter();
  ASSERT_TRUE(entered.ok()) << entered.status();
  const Backend backends[] = {Backend::kNftables, Backend::kIptablesNft,
                              Backend::kIptablesLegacy};
  const char* names[] = {"nftables", "iptables-nft", "iptables-legacy"};
  constexpr int kPodSets = 21;
  int elsewhere = 0;  // Probes to another machine: no pod ever answers.
  for (int set = 0; set < kPodSets; ++set) {
    const int b = set % 3;
    MetaOptions options;
    options.prefer = backends[b];
    absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
        NewMetaHostportManager(options);
    ASSERT_TRUE(manager.ok()) << manager.status();
    // A valid, conflict-free pod set: what DESIGN §4 (//semantics, not the
    // manager under test) calls invalid or conflicting is left out.
    std::vector<HostPortManager::PodRequest> pods;
    std::vector<semantics::Pod> kept_pods;
    for (int i = 0; i < 3; ++i) {
      semantics::Pod pod{absl::StrCat("pod", i), RandomPod(rng, t, i), ""};
      std::vector<PortMapping> wanted;
      wanted.swap(pod.pod.port_mappings);
      for (const PortMapping& m : wanted) {
        semantics::Pod trial = pod;
        trial.pod.port_mappings.push_back(m);
        bool free = semantics::CheckPod(trial).ok();
        for (const semantics::Pod& other : kept_pods) {
          free = free && !semantics::FindConflict(trial, other);
        }
        if (free) pod = std::move(trial);
      }
      ASSERT_TRUE(semantics::CheckPod(pod).ok()) << semantics::CheckPod(pod);
      pod.nat_interface = rng() % 2 ? std::string(Topology::kBridge) : "";
      pods.push_back({pod.id, pod.pod, pod.nat_interface});
      kept_pods.push_back(std::move(pod));
    }
    ASSERT_TRUE((*manager)->Sync(pods).ok());
    // Flows of the previous set must not steer this one's packets.
    ASSERT_TRUE(t.host().Check({"conntrack", "-F"}).ok());
    const std::string context =
        absl::StrCat("pod set ", set, " (", names[b], ")");
    absl::StatusOr<sim::HostModel> host = LiveHost(t.host());
    ASSERT_TRUE(host.ok()) << host.status();
    const std::vector<semantics::Pod>* sem = &kept_pods;

    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      for (int port : kHostPorts) {
        const Protocol proto =
            (set + port) % 3 == 0 ? Protocol::kUDP : Protocol::kTCP;
        for (int which : {0, 1}) {
          diff.Check({"external:hp-ext", &t.client(), proto,
                      Topology::HostAddress(f, which), port,
                      Topology::ClientAddress(f)},
                     context, sem, &*host);
        }
        // The pod itself and another pod, to the first host address.
        const int a = port % 3;
        const std::string pod_a = Topology::PodAddress(f, a + 2);
        diff.Check({absl::StrCat("pod:", pod_a), &t.pod(a), proto,
                    Topology::HostAddress(f, 0), port, pod_a},
                   context, sem, &*host);
        const int other = (a + 1) % 3;
        const std::string pod_b = Topology::PodAddress(f, other + 2);
        diff.Check({absl::StrCat("pod:", pod_b), &t.pod(other), proto,
                    Topology::HostAddress(f, 0), port, pod_b},
                   context, sem, &*host);
        if (f == IPFamily::kIPv4) {
          diff.Check(
              {"local", &t.host(), proto, "127.0.0.1", port, "127.0.0.1"},
              context, sem, &*host);
        }
        // The host's own traffic to another machine on a mapped port is not
        // the mapping's: the client listens on nothing, so nobody answers.
        diff.Check({"local", &t.host(), proto, Topology::ClientAddress(f), port,
                    Topology::HostAddress(f, 0)},
                   context, sem, &*host);
        ++elsewhere;
      }
    }
    ASSERT_FALSE(HasFatalFailure());
  }
  EXPECT_GE(diff.packets(), 200);
  // Not a comparison of nothing with nothing: many packets reach a pod (the
  // rest probe addresses and ports no mapping claims).
  EXPECT_GE(diff.delivered(), (diff.packets() - elsewhere) / 5);
  std::cout << "differential: " << diff.packets() << " packets over "
            << kPodSets << " pod sets, " << diff.delivered()
            << " answered by a pod\n";
}

// Hosts that drop forwarded traffic by policy, beside our rules: Docker-like
// (iptables-nft filter FORWARD policy DROP), the same with allow_forward, and
// firewalld-like (an nft forward chain with policy drop in its own table).
// The simulator, reading the live rules, must say what the kernel does.
TEST_F(DifferentialTest, SimulatorPredictsTheKernelBehindForwardPolicies) {
  Topology& t = *topology_;
  Differential diff(&t);
  absl::StatusOr<std::unique_ptr<Netns::Entered>> entered = t.host().Enter();
  ASSERT_TRUE(entered.ok()) << entered.status();
  struct Host {
    const char* name;
    std::vector<std::string> setup;  // argv; stdin for nft after "-f -"
    std::string nft;
    bool allow_forward;
    bool reaches_pods;
  };
  const std::string firewalld =
      "table inet firewalld {\n chain filter_FORWARD {\n type filter hook "
      "forward priority filter + 10; policy drop;\n ct state "
      "established,related accept\n }\n}\n";
  const Host hosts[] = {
      {"docker-like",
       {"iptables-nft", "-P", "FORWARD", "DROP"},
       "",
       false,
       false},
      {"docker-like, allow_forward", {}, "", true, true},
      {"firewalld-like",
       {"iptables-nft", "-P", "FORWARD", "ACCEPT"},
       firewalld,
       true,
       false},
  };
  int delivered_before = 0;
  for (const Host& h : hosts) {
    if (!h.setup.empty()) {
      ASSERT_TRUE(t.host().Check(h.setup).ok());
    }
    if (!h.nft.empty()) {
      ASSERT_TRUE(t.host().Check({"nft", "-f", "-"}, h.nft).ok());
    }
    MetaOptions options;
    options.prefer = Backend::kIptablesNft;
    options.allow_forward = h.allow_forward;
    absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
        NewMetaHostportManager(options);
    ASSERT_TRUE(manager.ok()) << manager.status();
    const PodPortMapping pod =
        FirstPod(t, {{kHostPorts[0], kContainerPorts[0], Protocol::kTCP, ""},
                     {kHostPorts[1], kContainerPorts[1], Protocol::kUDP, ""}});
    ASSERT_TRUE((*manager)->Sync({{"pod0", pod, Topology::kBridge}}).ok());
    ASSERT_TRUE(t.host().Check({"conntrack", "-F"}).ok());
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      for (int i = 0; i < 2; ++i) {
        const Protocol proto = i == 0 ? Protocol::kTCP : Protocol::kUDP;
        diff.Check(
            {"external:hp-ext", &t.client(), proto, Topology::HostAddress(f, 0),
             kHostPorts[i], Topology::ClientAddress(f)},
            h.name);
        const std::string pod_b = Topology::PodAddress(f, 3);
        diff.Check({absl::StrCat("pod:", pod_b), &t.pod(1), proto,
                    Topology::HostAddress(f, 0), kHostPorts[i], pod_b},
                   h.name);
      }
      if (f == IPFamily::kIPv4) {
        diff.Check({"local", &t.host(), Protocol::kTCP, "127.0.0.1",
                    kHostPorts[0], "127.0.0.1"},
                   h.name);
      }
    }
    ASSERT_TRUE((*manager)->Sync({}).ok());
    // IPv6 forwarding has no DROP policy here: only IPv4 and firewalld's
    // inet chain change the answers; count what reached a pod.
    if (h.reaches_pods) {
      EXPECT_GT(diff.delivered(), delivered_before) << h.name;
    }
    delivered_before = diff.delivered();
    ASSERT_FALSE(HasFatalFailure());
  }
  ASSERT_TRUE(
      t.host().Check({"nft", "delete", "table", "inet", "firewalld"}).ok());
  std::cout << "differential behind forward policies: " << diff.packets()
            << " packets, " << diff.delivered() << " answered by a pod\n";
}

// Rules we did not write: Debian's CNI portmap plugin (snat on), chained after
// bridge + host-local for two pods, judged the same way.
TEST_F(DifferentialTest, SimulatorPredictsTheKernelOnCniPortmapRules) {
  Topology& t = *topology_;
  Differential diff(&t);
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/portmap-", t.host().name());
  std::vector<std::unique_ptr<Netns>> pods;
  std::vector<std::string> pod_ips;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<Netns>> pod = Netns::Create("cni");
    ASSERT_TRUE(pod.ok()) << pod.status();
    const nlohmann::json bridge = {
        {"cniVersion", "1.0.0"},
        {"name", "diffnet"},
        {"type", "bridge"},
        {"bridge", "cni-br0"},
        {"isGateway", true},
        {"hairpinMode", true},
        {"ipam",
         {{"type", "host-local"},
          {"ranges", {{{{"subnet", "10.99.0.0/16"}}}}},
          // isGateway only addresses the bridge; the pod's default route
          // comes from IPAM.
          {"routes", {{{"dst", "0.0.0.0/0"}}}},
          {"dataDir", dir + "/ipam"}}}};
    auto run = [&](const std::string& plugin, const std::string& command,
                   const nlohmann::json& config) {
      return t.host().Check(
          {"env", "CNI_COMMAND=" + command,
           absl::StrCat("CNI_CONTAINERID=c", i),
           "CNI_NETNS=/run/netns/" + (*pod)->name(), "CNI_IFNAME=eth0",
           "CNI_PATH=/usr/lib/cni", plugin},
          config.dump());
    };
    absl::StatusOr<std::string> added =
        run("/usr/lib/cni/bridge", "ADD", bridge);
    ASSERT_TRUE(added.ok()) << added.status();
    nlohmann::json prev = nlohmann::json::parse(*added);
    const std::string address = prev["ips"][0]["address"].get<std::string>();
    pod_ips.push_back(address.substr(0, address.find('/')));
    diff.AddOwner(pod_ips.back(), absl::StrCat("cni", i));
    nlohmann::json portmap = {{"cniVersion", "1.0.0"},
                              {"name", "diffnet"},
                              {"type", "portmap"},
                              {"snat", true},
                              {"runtimeConfig",
                               {{"portMappings",
                                 {{{"hostPort", 31000 + i},
                                   {"containerPort", 8000},
                                   {"protocol", "tcp"}},
                                  {{"hostPort", 31100 + i},
                                   {"containerPort", 8001},
                                   {"protocol", "udp"}}}}}},
                              {"prevResult", prev}};
    absl::StatusOr<std::string> mapped =
        run("/usr/lib/cni/portmap", "ADD", portmap);
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    for (int port : kContainerPorts) {
      absl::StatusOr<std::unique_ptr<EchoServer>> s =
          EchoServer::Start(**pod, absl::StrCat("cni", i), port);
      ASSERT_TRUE(s.ok()) << s.status();
      servers_.push_back(std::move(*s));
    }
    pods.push_back(std::move(*pod));
  }
  const std::string host0 = Topology::HostAddress(IPFamily::kIPv4, 0);
  for (int i = 0; i < 2; ++i) {
    for (int port : {31000 + i, 31100 + i, 31200}) {
      const Protocol proto =
          port >= 31100 && port < 31200 ? Protocol::kUDP : Protocol::kTCP;
      const std::string context =
          absl::StrCat("portmap pod ", i, " port ", port);
      diff.Check({"external:hp-ext", &t.client(), proto, host0, port,
                  Topology::ClientAddress(IPFamily::kIPv4)},
                 context);
      diff.Check({absl::StrCat("pod:", pod_ips[i]), pods[i].get(), proto, host0,
                  port, pod_ips[i]},
                 context);
      diff.Check({absl::StrCat("pod:", pod_ips[1 - i]), pods[1 - i].get(),
                  proto, host0, port, pod_ips[1 - i]},
                 context);
      diff.Check({"local", &t.host(), proto, "127.0.0.1", port, "127.0.0.1"},
                 context);
    }
  }
  EXPECT_GE(diff.delivered(), diff.packets() / 3);
  std::cout << "portmap differential: " << diff.packets() << " packets, "
            << diff.delivered() << " answered by a pod\n";
}

// Other owners' rules beside ours: each Docker-like, kube-proxy-like and
// netavark-like fixture of e2e/hosts is loaded, then hostport maps its own
// ports (nftables and iptables-nft in turn, forward accept on, since Docker
// drops forwarding by policy). For every probe of the fixture and of our
// mappings, what the kernel does must be what `trace --live` says (one of
// the outcomes it gives, where the rules choose at random).
TEST_F(DifferentialTest, SimulatorPredictsTheKernelBesideOtherOwnersRules) {
  Topology& t = *topology_;
  Differential diff(&t);
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    diff.AddSilent(Topology::ClientAddress(f));
  }
  absl::StatusOr<std::vector<HostFixture>> fixtures =
      ReadHostFixtures(RunfilePath("e2e/hosts"));
  ASSERT_TRUE(fixtures.ok()) << fixtures.status();
  absl::StatusOr<std::unique_ptr<Netns::Entered>> entered = t.host().Enter();
  ASSERT_TRUE(entered.ok()) << entered.status();
  int loaded = 0;
  for (const HostFixture& f : *fixtures) {
    if (!absl::StartsWith(f.name, "docker") &&
        !absl::StartsWith(f.name, "kube-proxy") &&
        !absl::StartsWith(f.name, "netavark")) {
      continue;
    }
    ASSERT_TRUE(t.host().Check({"nft", "flush", "ruleset"}).ok());
    absl::Status fixture_loaded = LoadHostFixture(t.host(), f);
    ASSERT_TRUE(fixture_loaded.ok()) << fixture_loaded;
    MetaOptions options;
    options.prefer =
        loaded % 2 == 0 ? Backend::kNftables : Backend::kIptablesNft;
    options.allow_forward = true;
    ++loaded;
    absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
        NewMetaHostportManager(options);
    ASSERT_TRUE(manager.ok()) << manager.status();
    const PodPortMapping ours =
        FirstPod(t, {{kHostPorts[0], kContainerPorts[0], Protocol::kTCP, ""},
                     {kHostPorts[1], kContainerPorts[1], Protocol::kUDP, ""},
                     {kHostPorts[2], kContainerPorts[1], Protocol::kTCP,
                      Topology::HostAddress(IPFamily::kIPv4, 1)}});
    ASSERT_TRUE((*manager)->Sync({{"pod0", ours, Topology::kBridge}}).ok())
        << f.name;
    ASSERT_TRUE(t.host().Check({"conntrack", "-F"}).ok());
    const std::string context =
        absl::StrCat(f.name, " beside hostport (",
                     loaded % 2 ? "nftables" : "iptables-nft", ")");
    for (const HostProbe& p : f.probes) {
      Netns* from = p.from == "external" ? &t.client()
                    : p.from == "local"  ? &t.host()
                                         : &t.pod(p.PodIndex());
      diff.Check({p.TraceFrom(), from,
                  p.proto == "udp" ? Protocol::kUDP : Protocol::kTCP, p.dst,
                  p.port, p.Source()},
                 context);
    }
    for (IPFamily fam : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      for (int i = 0; i < 3; ++i) {
        const Protocol proto = i == 1 ? Protocol::kUDP : Protocol::kTCP;
        for (int which : {0, 1}) {
          diff.Check({"external:hp-ext", &t.client(), proto,
                      Topology::HostAddress(fam, which), kHostPorts[i],
                      Topology::ClientAddress(fam)},
                     context);
        }
        const std::string pod_b = Topology::PodAddress(fam, 3);
        diff.Check({absl::StrCat("pod:", pod_b), &t.pod(1), proto,
                    Topology::HostAddress(fam, 0), kHostPorts[i], pod_b},
                   context);
      }
    }
    diff.Check({"local", &t.host(), Protocol::kTCP, "127.0.0.1", kHostPorts[0],
                "127.0.0.1"},
               context);
    ASSERT_TRUE((*manager)->Sync({}).ok());
    ASSERT_FALSE(HasFatalFailure());
  }
  EXPECT_GE(loaded, 5);
  EXPECT_GE(diff.delivered(), diff.packets() / 4);
  std::cout << "differential beside other owners: " << loaded << " rulesets, "
            << diff.packets() << " packets, " << diff.delivered()
            << " answered by a pod\n";
}

}  // namespace
}  // namespace hostport::e2e
