#include "hostport/properties/scenario.h"

#include <regex>
#include <set>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "hostport/model/ip_address.h"
#include "hostport/render/iptables_renderer.h"
#include "hostport/render/nft_renderer.h"
#include "sim/ruleset_text.h"

namespace hostport::properties {

const std::vector<std::string>& PodIpPool() {
  static const auto* pool = new std::vector<std::string>{
      "10.88.0.2", "10.88.0.3",  "fd00:88::2", "fd00:88::3",
      "10.88.0.4", "fd00:88::4", "10.88.0.5",  "fd00:88::5"};
  return *pool;
}

namespace {

sim::IpAddress SimIp(absl::string_view text) {
  return *sim::IpAddress::Parse(text);
}

bool IsFamily(absl::string_view text, IPFamily f) {
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(text);
  return ip.ok() && ip->family() == f;
}

}  // namespace

std::string ExternalInterface::Name() const {
  return absl::StrCat("eth", index);
}
std::string ExternalInterface::V4() const {
  return absl::StrCat("192.0.", 2 + index, ".10");
}
std::string ExternalInterface::V6() const {
  return index == 0 ? "2001:db8::10" : absl::StrCat("2001:db8:", index, "::10");
}

std::vector<std::string> HostSpec::Addresses(IPFamily family) const {
  std::vector<std::string> out;
  for (const ExternalInterface& i : interfaces) {
    if (family == IPFamily::kIPv4 && i.v4) out.push_back(i.V4());
    if (family == IPFamily::kIPv6 && i.v6) out.push_back(i.V6());
  }
  out.push_back(family == IPFamily::kIPv4 ? "10.88.0.1" : "fd00:88::1");
  return out;
}

sim::HostModel HostSpec::Model(const std::vector<PodRequest>& pods) const {
  sim::HostModel host;
  for (const ExternalInterface& i : interfaces) {
    sim::HostInterface iface;
    iface.name = i.Name();
    if (i.v4) iface.addresses.emplace_back(SimIp(i.V4()), 24);
    if (i.v6) iface.addresses.emplace_back(SimIp(i.V6()), 64);
    host.AddInterface(std::move(iface));
  }
  sim::HostInterface bridge_if;
  bridge_if.name = kPodBridge;
  bridge_if.addresses = {sim::IpPrefix(SimIp("10.88.0.1"), 16),
                         sim::IpPrefix(SimIp("fd00:88::1"), 64)};
  bridge_if.route_localnet = true;
  host.AddInterface(std::move(bridge_if));
  host.AddRoute({sim::IpPrefix(SimIp("10.88.0.0"), 16), kPodBridge});
  host.AddRoute({sim::IpPrefix(SimIp("fd00:88::"), 64), kPodBridge});
  if (!bridged) return host;
  sim::Bridge bridge;
  bridge.name = kPodBridge;
  for (const PodRequest& p : pods) {
    if (p.pod.ips.empty()) continue;
    sim::BridgePort port;
    port.name = absl::StrCat("veth-", p.id);
    port.hairpin_mode = hairpin_mode;
    for (const std::string& ip : p.pod.ips) port.addresses.push_back(SimIp(ip));
    bridge.ports.push_back(std::move(port));
  }
  host.AddBridge(std::move(bridge));
  return host;
}

std::vector<semantics::Pod> SemanticPods(const std::vector<PodRequest>& pods) {
  std::vector<semantics::Pod> out;
  out.reserve(pods.size());
  for (const PodRequest& e : pods)
    out.push_back({e.id, e.pod, e.nat_interface});
  return out;
}

Scenario MakeValid(HostSpec host, std::vector<PodRequest> raw) {
  Scenario s;
  s.host = std::move(host);
  std::vector<semantics::Pod> kept_pods;
  absl::flat_hash_set<sim::IpAddress> used;
  for (PodRequest& e : raw) {
    semantics::Pod kept{e.id, e.pod, e.nat_interface};
    kept.pod.ips.clear();
    kept.pod.port_mappings.clear();
    for (const std::string& text : e.pod.ips) {
      absl::StatusOr<sim::IpAddress> ip = sim::IpAddress::Parse(text);
      if (ip.ok() && !used.insert(*ip).second) {
        s.dropped.push_back(absl::StrCat(e.id, ": ip ", text, " taken"));
        continue;
      }
      kept.pod.ips.push_back(ip.ok() ? ip->ToString() : text);
    }
    if (absl::Status v = semantics::CheckPod(kept); !v.ok()) {
      s.dropped.push_back(std::string(v.message()));
      continue;
    }
    for (const PortMapping& m : e.pod.port_mappings) {
      semantics::Pod trial = kept;
      trial.pod.port_mappings.push_back(m);
      if (absl::Status v = semantics::CheckPod(trial); !v.ok()) {
        s.dropped.push_back(std::string(v.message()));
        continue;
      }
      std::optional<std::string> conflict;
      for (const semantics::Pod& other : kept_pods) {
        conflict = semantics::FindConflict(trial, other);
        if (conflict) break;
      }
      if (conflict) {
        s.dropped.push_back(*conflict);
        continue;
      }
      kept = std::move(trial);
    }
    s.pods.push_back({kept.id, kept.pod, kept.nat_interface});
    kept_pods.push_back(std::move(kept));
  }
  return s;
}

const std::vector<int>& PortPool() {
  static const auto* pool = new std::vector<int>{80, 1, 8080, 65535, 53};
  return *pool;
}

int UnusedPort(const Scenario& s) {
  absl::flat_hash_set<int> used;
  for (const PodRequest& p : s.pods) {
    for (const PortMapping& m : p.pod.port_mappings) used.insert(m.host_port);
  }
  int port = 9999;
  while (used.contains(port)) ++port;
  return port;
}

namespace {

// The neighbour and the host's address on its subnet (the source the host
// sends to it from).
std::pair<std::string, std::string> Neighbour(const HostSpec& host,
                                              IPFamily family) {
  for (const ExternalInterface& i : host.interfaces) {
    if (family == IPFamily::kIPv4 && i.v4) {
      return {absl::StrCat("192.0.", 2 + i.index, ".99"), i.V4()};
    }
    if (family == IPFamily::kIPv6 && i.v6) {
      return {i.index == 0 ? "2001:db8::99"
                           : absl::StrCat("2001:db8:", i.index, "::99"),
              i.V6()};
    }
  }
  return family == IPFamily::kIPv4
             ? std::pair<std::string, std::string>{"10.88.0.99", "10.88.0.1"}
             : std::pair<std::string, std::string>{"fd00:88::99", "fd00:88::1"};
}

std::vector<Probe> ProbesFor(
    const Scenario& s, const std::set<std::pair<Protocol, int>>& services) {
  std::vector<Probe> out;
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    std::vector<std::string> dsts = s.host.Addresses(f);
    dsts.push_back(f == IPFamily::kIPv4 ? "127.0.0.1" : "::1");
    // Last: not the host's, so only the host and pods send to it.
    const std::pair<std::string, std::string> n = Neighbour(s.host, f);
    const std::string& neighbour = n.first;
    dsts.push_back(neighbour);
    const sim::IpAddress outside =
        SimIp(f == IPFamily::kIPv4 ? "203.0.113.7" : "2001:db8:ffff::7");
    std::vector<std::pair<std::string, sim::IpAddress>> pod_ips;
    for (const PodRequest& p : s.pods) {
      for (const std::string& ip : p.pod.ips) {
        if (IsFamily(ip, f)) pod_ips.push_back({p.id, SimIp(ip)});
      }
    }
    for (const std::pair<Protocol, int>& service : services) {
      // Not a structured binding: clang-14 (the fuzz toolchain) rejects
      // capturing those in the lambda below.
      const Protocol protocol = service.first;
      const int port = service.second;
      for (const std::string& dst_text : dsts) {
        const sim::IpAddress dst = SimIp(dst_text);
        const bool elsewhere = dst_text == neighbour;
        auto add = [&](std::string client, sim::PacketOrigin origin,
                       sim::IpAddress src) {
          Probe p;
          p.client = std::move(client);
          p.packet.protocol = semantics::SimProtocol(protocol);
          p.packet.dst = dst;
          p.packet.dst_port = static_cast<uint16_t>(port);
          p.packet.src = src;
          p.packet.origin = std::move(origin);
          out.push_back(std::move(p));
        };
        for (const ExternalInterface& i : s.host.interfaces) {
          if (elsewhere || (f == IPFamily::kIPv4 ? !i.v4 : !i.v6)) continue;
          sim::PacketOrigin o;
          o.kind = sim::PacketOrigin::Kind::kExternal;
          o.interface = i.Name();
          add(absl::StrCat("external ", i.Name()), o, outside);
        }
        sim::PacketOrigin local;
        local.kind = sim::PacketOrigin::Kind::kLocal;
        if (elsewhere) {
          add("host to a neighbour", local, SimIp(n.second));
        } else {
          add("host", local, dst);
        }
        // A pod's packet to its loopback stays in the pod: not a client.
        if (dst.IsLoopback()) continue;
        for (const auto& [id, ip] : pod_ips) {
          sim::PacketOrigin o;
          o.kind = sim::PacketOrigin::Kind::kPod;
          o.pod = ip;
          add(absl::StrCat("pod ", id, " (", ip.ToString(), ")"), o, ip);
          // To a neighbour one pod stands for all: the path is the same.
          if (elsewhere) break;
        }
      }
    }
  }
  return out;
}

}  // namespace

std::vector<Probe> MappingProbes(const Scenario& s) {
  std::set<std::pair<Protocol, int>> services;
  for (const PodRequest& p : s.pods) {
    for (const PortMapping& m : p.pod.port_mappings) {
      services.insert({m.protocol, m.host_port});
    }
  }
  return ProbesFor(s, services);
}

std::vector<Probe> AllProbes(const Scenario& s) {
  std::set<std::pair<Protocol, int>> services;
  for (const PodRequest& p : s.pods) {
    for (const PortMapping& m : p.pod.port_mappings) {
      services.insert({m.protocol, m.host_port});
    }
  }
  // Each mapped port also with one protocol nothing maps there (which one
  // rotates with the port), and a port nothing maps: every kind of packet
  // the host can meet, at a cost that grows with the mappings, not 3x.
  const std::set<std::pair<Protocol, int>> mapped = services;
  const Protocol all[] = {Protocol::kTCP, Protocol::kUDP, Protocol::kSCTP};
  for (const auto& [protocol, port] : mapped) {
    for (int i = 0; i < 3; ++i) {
      const Protocol other = all[(port + i) % 3];
      if (!mapped.count({other, port})) {
        services.insert({other, port});
        break;
      }
    }
  }
  services.insert({Protocol::kTCP, UnusedPort(s)});
  return ProbesFor(s, services);
}

std::string DescribeProbe(const Probe& p) {
  return absl::StrCat(p.client, ": ", sim::ProtocolName(p.packet.protocol), " ",
                      p.packet.src->ToString(), " -> ",
                      p.packet.dst.WithPort(p.packet.dst_port));
}

std::string DescribeResult(const sim::TraceResult& r) {
  std::string out = sim::PacketVerdictName(r.verdict);
  if (r.verdict == sim::PacketVerdict::kDropped) {
    absl::StrAppend(&out, " (", r.reason, ")");
  } else {
    absl::StrAppend(&out, " to ", r.To(), " seeing ", r.SourceSeen());
  }
  return out;
}

std::string BackendName(Backend b) {
  return b == Backend::kIptables ? "iptables" : "nftables";
}

absl::StatusOr<std::vector<PodPlan>> Plans(
    const std::vector<PodRequest>& pods) {
  std::vector<PodPlan> plans;
  for (const PodRequest& e : pods) {
    absl::StatusOr<PodPlan> plan = PlanPod(e.id, e.pod, e.nat_interface);
    if (!plan.ok()) {
      return absl::Status(plan.status().code(),
                          absl::StrCat("PlanPod refuses pod ", e.id,
                                       ", which //semantics calls valid: ",
                                       plan.status().message()));
    }
    plans.push_back(std::move(*plan));
  }
  return plans;
}

std::string RenderFull(Backend b, IPFamily f,
                       const std::vector<PodPlan>& pods) {
  return b == Backend::kIptables ? IptablesRenderer().Full(f, pods).Render()
                                 : NftRenderer().Full(f, pods).Render();
}

absl::StatusOr<std::unique_ptr<sim::Simulator>> SimulateTexts(
    const std::vector<std::pair<IPFamily, std::string>>& texts,
    const sim::HostModel& host) {
  sim::Ruleset ruleset;
  for (const auto& [f, text] : texts) {
    if (text.empty()) continue;
    absl::Status s = sim::ApplyRulesetText(
        text, absl::StrCat("IPv", IPFamilyName(f)),
        f == IPFamily::kIPv4 ? sim::IpFamily::kV4 : sim::IpFamily::kV6,
        &ruleset);
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat(s.message(), "\n--- text:\n", text));
    }
  }
  return sim::Simulator::Create(std::move(ruleset), host);
}

absl::StatusOr<std::unique_ptr<sim::Simulator>> SimulateFull(
    Backend b, const Scenario& s) {
  absl::StatusOr<std::vector<PodPlan>> plans = Plans(s.pods);
  if (!plans.ok()) return plans.status();
  return SimulateTexts(
      {{IPFamily::kIPv4, RenderFull(b, IPFamily::kIPv4, *plans)},
       {IPFamily::kIPv6, RenderFull(b, IPFamily::kIPv6, *plans)}},
      s.host.Model(s.pods));
}

Outcome OutcomeOf(const sim::TraceResult& r) {
  Outcome o;
  o.verdict = r.verdict;
  if (r.verdict != sim::PacketVerdict::kDropped) {
    o.to = r.To();
    o.source = r.SourceSeen();
  }
  for (const sim::NatBinding& b : r.bindings) {
    if (b.kind == sim::NatBinding::Kind::kDnat) o.dnat = true;
  }
  return o;
}

std::string DescribeOutcome(const Outcome& o) {
  return absl::StrCat(sim::PacketVerdictName(o.verdict), " to ", o.to,
                      " seeing ", o.source, o.dnat ? " (DNAT)" : "");
}

std::string ForeignAddress(const std::string& text, IPFamily f) {
  static const std::regex* candidate =
      new std::regex("[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*");
  for (std::sregex_iterator it(text.begin(), text.end(), *candidate), end;
       it != end; ++it) {
    std::string token = it->str();
    while (!token.empty() && (token.back() == '.' || token.back() == ':')) {
      token.pop_back();
    }
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(token);
    if (!ip.ok()) {
      // "10.0.0.5:80": an IPv4 endpoint.
      const size_t colon = token.find(':');
      if (colon != std::string::npos && token.find('.') < colon) {
        ip = IpAddress::Parse(token.substr(0, colon));
      }
    }
    if (ip.ok() && ip->family() != f) return token;
  }
  return "";
}

}  // namespace hostport::properties
