#include "hostport/properties/generators.h"

#include <set>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hostport/conflict.h"
#include "hostport/ip_address.h"
#include "hostport/plan.h"

namespace hostport::properties {
namespace {

const std::vector<std::string>& PodIpPool() {
  static const auto* pool = new std::vector<std::string>{
      "10.88.0.2", "10.88.0.3",  "fd00:88::2", "fd00:88::3",
      "10.88.0.4", "fd00:88::4", "10.88.0.5",  "fd00:88::5"};
  return *pool;
}

sim::IpAddress SimIp(absl::string_view text) {
  return *sim::IpAddress::Parse(text);
}

sim::Protocol SimProtocol(Protocol p) {
  switch (p) {
    case Protocol::kUDP:
      return sim::Protocol::kUdp;
    case Protocol::kSCTP:
      return sim::Protocol::kSctp;
    default:
      return sim::Protocol::kTcp;
  }
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

sim::HostModel HostSpec::Model(const std::vector<PodEntry>& pods) const {
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
  sim::Bridge bridge;
  bridge.name = kPodBridge;
  for (const PodEntry& p : pods) {
    if (p.pod.ips.empty()) continue;
    sim::BridgePort port;
    port.name = absl::StrCat("veth-", p.id);
    for (const std::string& ip : p.pod.ips) port.addresses.push_back(SimIp(ip));
    bridge.ports.push_back(std::move(port));
  }
  host.AddBridge(std::move(bridge));
  return host;
}

Scenario MakeValid(HostSpec host, std::vector<PodEntry> raw) {
  Scenario s;
  s.host = std::move(host);
  PortClaims claims;
  absl::flat_hash_set<IpAddress> used;
  for (PodEntry& e : raw) {
    PodEntry kept = e;
    kept.pod.ips.clear();
    kept.pod.port_mappings.clear();
    for (const std::string& text : e.pod.ips) {
      IpAddress ip = *IpAddress::Parse(text);
      if (!used.insert(ip).second) {
        s.dropped.push_back(absl::StrCat(e.id, ": ip ", text, " taken"));
        continue;
      }
      kept.pod.ips.push_back(ip.ToString());
    }
    if (absl::StatusOr<PodPlan> p =
            PlanPod(kept.id, kept.pod, kept.nat_interface);
        !p.ok()) {
      s.dropped.push_back(std::string(p.status().message()));
      continue;
    }
    for (const PortMapping& m : e.pod.port_mappings) {
      PodEntry trial = kept;
      trial.pod.port_mappings.push_back(m);
      absl::StatusOr<PodPlan> plan =
          PlanPod(trial.id, trial.pod, trial.nat_interface);
      if (!plan.ok()) {
        s.dropped.push_back(std::string(plan.status().message()));
        continue;
      }
      if (absl::Status c = claims.Check(*plan); !c.ok()) {
        s.dropped.push_back(std::string(c.message()));
        continue;
      }
      kept = std::move(trial);
    }
    claims.Claim(*PlanPod(kept.id, kept.pod, kept.nat_interface));
    s.pods.push_back(std::move(kept));
  }
  return s;
}

const std::vector<int>& PortPool() {
  static const auto* pool = new std::vector<int>{8080, 80, 53, 443};
  return *pool;
}

rc::Gen<HostSpec> GenHostSpec() {
  // 0: both families, 1: IPv4 only, 2: IPv6 only.
  return rc::gen::map(
      rc::gen::resize(3, rc::gen::nonEmpty(rc::gen::container<std::vector<int>>(
                             rc::gen::inRange(0, 3)))),
      [](const std::vector<int>& kinds) {
        HostSpec h;
        for (size_t i = 0; i < kinds.size(); ++i) {
          h.interfaces.push_back(
              {static_cast<int>(i), kinds[i] != 2, kinds[i] != 1});
        }
        return h;
      });
}

rc::Gen<std::vector<PodEntry>> GenRawPods(const HostSpec& host) {
  std::vector<std::string> host_ips = {"", "0.0.0.0", "::"};
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    for (const std::string& a : host.Addresses(f)) host_ips.push_back(a);
  }
  for (const char* a :
       {"127.0.0.1", "::1", "198.51.100.99", "2001:db8:dead::1"}) {
    host_ips.push_back(a);
  }
  auto mapping = rc::gen::apply(
      [](int host_port, int container_port, Protocol protocol,
         std::string host_ip) {
        return PortMapping{host_port, container_port, protocol,
                           std::move(host_ip)};
      },
      rc::gen::elementOf(PortPool()),
      rc::gen::elementOf(std::vector<int>{80, 8080, 5353}),
      rc::gen::elementOf(std::vector<Protocol>{Protocol::kTCP, Protocol::kUDP,
                                               Protocol::kSCTP}),
      rc::gen::elementOf(host_ips));
  auto pod = rc::gen::apply(
      [](std::vector<std::string> ips, std::vector<PortMapping> mappings,
         std::string nat) {
        PodEntry e;
        e.pod.namespace_ = "ns";
        e.pod.ips = std::move(ips);
        e.pod.port_mappings = std::move(mappings);
        e.nat_interface = std::move(nat);
        return e;
      },
      // Variable-size containers, so shrinking removes elements.
      rc::gen::resize(
          4, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(
                 rc::gen::elementOf(PodIpPool())))),
      rc::gen::resize(8, rc::gen::container<std::vector<PortMapping>>(mapping)),
      rc::gen::elementOf(std::vector<std::string>{kPodBridge, "", "lo"}));
  return rc::gen::map(
      rc::gen::resize(
          4, rc::gen::nonEmpty(rc::gen::container<std::vector<PodEntry>>(pod))),
      [](std::vector<PodEntry> pods) {
        for (size_t i = 0; i < pods.size(); ++i) {
          pods[i].id = absl::StrCat("pod", i);
          pods[i].pod.name = absl::StrCat("p", i);
        }
        return pods;
      });
}

rc::Gen<Scenario> GenScenario() {
  return rc::gen::mapcat(GenHostSpec(), [](HostSpec host) {
    return rc::gen::map(GenRawPods(host), [host](std::vector<PodEntry> raw) {
      return MakeValid(host, std::move(raw));
    });
  });
}

namespace {

std::vector<Probe> ProbesFor(
    const Scenario& s, const std::set<std::pair<Protocol, int>>& services) {
  std::vector<Probe> out;
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    std::vector<std::string> dsts = s.host.Addresses(f);
    dsts.push_back(f == IPFamily::kIPv4 ? "127.0.0.1" : "::1");
    const sim::IpAddress outside =
        SimIp(f == IPFamily::kIPv4 ? "203.0.113.7" : "2001:db8:ffff::7");
    std::vector<std::pair<std::string, sim::IpAddress>> pod_ips;
    for (const PodEntry& p : s.pods) {
      for (const std::string& ip : p.pod.ips) {
        if (IsFamily(ip, f)) pod_ips.push_back({p.id, SimIp(ip)});
      }
    }
    for (const auto& [protocol, port] : services) {
      for (const std::string& dst_text : dsts) {
        const sim::IpAddress dst = SimIp(dst_text);
        auto add = [&](std::string client, sim::PacketOrigin origin,
                       sim::IpAddress src) {
          Probe p;
          p.client = std::move(client);
          p.packet.protocol = SimProtocol(protocol);
          p.packet.dst = dst;
          p.packet.dst_port = static_cast<uint16_t>(port);
          p.packet.src = src;
          p.packet.origin = std::move(origin);
          out.push_back(std::move(p));
        };
        for (const ExternalInterface& i : s.host.interfaces) {
          if (f == IPFamily::kIPv4 ? !i.v4 : !i.v6) continue;
          sim::PacketOrigin o;
          o.kind = sim::PacketOrigin::Kind::kExternal;
          o.interface = i.Name();
          add(absl::StrCat("external ", i.Name()), o, outside);
        }
        sim::PacketOrigin local;
        local.kind = sim::PacketOrigin::Kind::kLocal;
        add("host", local, dst);
        // A pod's packet to its loopback stays in the pod: not a client.
        if (dst.IsLoopback()) continue;
        for (const auto& [id, ip] : pod_ips) {
          sim::PacketOrigin o;
          o.kind = sim::PacketOrigin::Kind::kPod;
          o.pod = ip;
          add(absl::StrCat("pod ", id, " (", ip.ToString(), ")"), o, ip);
        }
      }
    }
  }
  return out;
}

}  // namespace

std::vector<Probe> MappingProbes(const Scenario& s) {
  std::set<std::pair<Protocol, int>> services;
  for (const PodEntry& p : s.pods) {
    for (const PortMapping& m : p.pod.port_mappings) {
      services.insert({m.protocol, m.host_port});
    }
  }
  return ProbesFor(s, services);
}

std::vector<Probe> AllProbes(const Scenario& s) {
  std::set<std::pair<Protocol, int>> services;
  for (Protocol p : {Protocol::kTCP, Protocol::kUDP, Protocol::kSCTP}) {
    for (int port : PortPool()) services.insert({p, port});
    services.insert({p, kUnusedPort});
  }
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

void showValue(const ExternalInterface& v, std::ostream& os) {
  os << v.Name() << "{" << (v.v4 ? v.V4() : "") << (v.v4 && v.v6 ? " " : "")
     << (v.v6 ? v.V6() : "") << "}";
}

void showValue(const HostSpec& v, std::ostream& os) {
  os << "host [";
  for (const ExternalInterface& i : v.interfaces) {
    showValue(i, os);
    os << " ";
  }
  os << kPodBridge << "{10.88.0.1/16 fd00:88::1/64 route_localnet}]";
}

void showValue(const Scenario& v, std::ostream& os) {
  showValue(v.host, os);
  os << "\n";
  for (const PodEntry& p : v.pods) {
    os << "  ";
    hostport::showValue(p, os);
    os << "\n";
  }
  for (const std::string& d : v.dropped) os << "  (dropped: " << d << ")\n";
}

void showValue(const Probe& v, std::ostream& os) { os << DescribeProbe(v); }

}  // namespace hostport::properties

namespace hostport {

void showValue(const PortMapping& v, std::ostream& os) {
  os << v.host_port << "/" << ProtocolName(v.protocol) << " on "
     << (v.host_ip.empty() ? "\"\"" : v.host_ip) << " -> " << v.container_port;
}

void showValue(const PodEntry& v, std::ostream& os) {
  os << v.id << " ips [" << absl::StrJoin(v.pod.ips, " ") << "] nat \""
     << v.nat_interface << "\" {";
  for (size_t i = 0; i < v.pod.port_mappings.size(); ++i) {
    os << (i ? ", " : "");
    showValue(v.pod.port_mappings[i], os);
  }
  os << "}";
}

}  // namespace hostport
