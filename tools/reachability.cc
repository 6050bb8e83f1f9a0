#include "tools/reachability.h"

#include <optional>

#include "absl/strings/str_cat.h"

namespace hostport {
namespace {

using sim::IpAddress;
using sim::IpFamily;
using sim::PacketVerdict;

bool IsV4(const IpAddress& a) { return a.family() == IpFamily::kV4; }

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

// The first pod IP of `family`, if any.
std::optional<IpAddress> FirstIp(const PodRequest& pod, IpFamily family) {
  for (const std::string& text : pod.pod.ips) {
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(text);
    if (ip.ok() && ip->family() == family) return *ip;
  }
  return std::nullopt;
}

bool OwnsIp(const PodRequest& pod, const IpAddress& address) {
  for (const std::string& text : pod.pod.ips) {
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(text);
    if (ip.ok() && *ip == address) return true;
  }
  return false;
}

// Does `m` map anything on `family`? (DESIGN §4: "" both families, 0.0.0.0 only
// IPv4, :: only IPv6, an address only its own family.)
bool AppliesTo(const PortMapping& m, IpFamily family) {
  if (m.host_ip.empty()) return true;
  if (m.host_ip == "0.0.0.0") return family == IpFamily::kV4;
  if (m.host_ip == "::") return family == IpFamily::kV6;
  absl::StatusOr<IpAddress> host_ip = IpAddress::Parse(m.host_ip);
  return host_ip.ok() && host_ip->family() == family;
}

// Does `m` apply to `family` on destination `dst`? (DESIGN §4: "" both
// families, 0.0.0.0 only IPv4, :: only IPv6, an address only itself.)
bool Claims(const PortMapping& m, IpFamily family, const IpAddress& dst) {
  if (!AppliesTo(m, family)) return false;
  if (m.host_ip.empty() || m.host_ip == "0.0.0.0" || m.host_ip == "::") {
    return true;
  }
  return *IpAddress::Parse(m.host_ip) == dst;
}

// The address masquerade gives a packet leaving towards `target`.
std::string MasqueradeSource(const sim::HostModel& host,
                             const IpAddress& target) {
  const sim::HostInterface* out = host.Route(target);
  if (out == nullptr) return "";
  std::optional<IpAddress> src = host.SourceAddress(*out, target);
  return src ? src->ToString() : "";
}

}  // namespace

Expected Expect(const std::vector<PodRequest>& pods, const sim::HostModel& host,
                const sim::Packet& packet) {
  const IpAddress& dst = packet.dst;
  const IpAddress& src = *packet.src;
  const IpFamily family = dst.family();
  const PodRequest* owner = nullptr;
  const PortMapping* mapping = nullptr;
  for (const PodRequest& pod : pods) {
    if (pod.pod.host_network || !FirstIp(pod, family)) continue;
    for (const PortMapping& m : pod.pod.port_mappings) {
      if (SimProtocol(m.protocol) == packet.protocol &&
          m.host_port == packet.dst_port && Claims(m, family, dst)) {
        owner = &pod;
        mapping = &m;
      }
    }
  }
  const bool external =
      packet.origin.kind == sim::PacketOrigin::Kind::kExternal;
  if (mapping == nullptr) {
    // Nothing maps it: a local socket gets it, unless it is loopback traffic
    // arriving from outside (martian).
    if (external && dst.IsLoopback()) return {PacketVerdict::kDropped, "", ""};
    return {PacketVerdict::kLocal, dst.WithPort(packet.dst_port),
            src.ToString()};
  }
  const IpAddress target = *FirstIp(*owner, family);
  const std::string to = target.WithPort(mapping->container_port);
  switch (packet.origin.kind) {
    case sim::PacketOrigin::Kind::kExternal:
      // A loopback-bound port is never reachable from outside. (A wildcard
      // mapping is: a neighbour sending to 127.0.0.1 is DNATed before routing
      // could call the packet martian, as on the kernel; it reaches nothing the
      // host's own addresses do not.)
      // IPv6 drops ::1 arriving on any other interface before any hook.
      if (dst.IsLoopback() && (!IsV4(dst) || (!mapping->host_ip.empty() &&
                                              mapping->host_ip != "0.0.0.0"))) {
        return {PacketVerdict::kDropped, "", ""};
      }

      return {PacketVerdict::kDelivered, to, src.ToString()};

    case sim::PacketOrigin::Kind::kLocal: {
      if (!dst.IsLoopback())
        return {PacketVerdict::kDelivered, to, src.ToString()};
      // ::1 never leaves loopback; 127/8 does, masqueraded, only through a NAT
      // interface with route_localnet.
      if (!IsV4(dst)) return {PacketVerdict::kDropped, "", ""};
      const std::string& nat = owner->nat_interface;
      const sim::HostInterface* out = host.Route(target);
      if (nat.empty() || nat == "lo" || out == nullptr || out->name != nat ||
          !out->route_localnet) {
        return {PacketVerdict::kDropped, "", ""};
      }
      return {PacketVerdict::kDelivered, to, MasqueradeSource(host, target)};
    }
    case sim::PacketOrigin::Kind::kPod: {
      if (!OwnsIp(*owner, src)) {
        return {PacketVerdict::kDelivered, to, src.ToString()};
      }
      // Hairpin: masqueraded, and through a bridge only with hairpin_mode.
      const sim::Bridge* bridge = nullptr;
      const sim::BridgePort* port = host.FindBridgePort(target, &bridge);
      if (port != nullptr && !port->hairpin_mode) {
        return {PacketVerdict::kDropped, "", ""};
      }
      return {PacketVerdict::kDelivered, to, MasqueradeSource(host, target)};
    }
  }
  return {};
}

std::string OutcomeText(PacketVerdict verdict, absl::string_view to,
                        absl::string_view source) {
  switch (verdict) {
    case PacketVerdict::kDelivered:
      return absl::StrCat("reaches ", to, ", sees ", source);
    case PacketVerdict::kLocal:
      return "host socket";
    case PacketVerdict::kDropped:
      return "blocked";
  }
  return "?";
}

std::string Cell::Text() const {
  return OutcomeText(actual.verdict, actual.To(), actual.SourceSeen());
}

std::string Cell::ExpectedText() const {
  return OutcomeText(expected.verdict, expected.to, expected.source);
}

namespace {

bool Same(const Expected& e, const sim::TraceResult& r) {
  if (e.verdict != r.verdict) return false;
  if (e.verdict != PacketVerdict::kDelivered) return true;
  return e.to == r.To() && e.source == r.SourceSeen();
}

std::string Describe(const PortMapping& m) {
  return absl::StrCat(m.host_port, "/", ProtocolName(m.protocol), " on ",
                      m.host_ip.empty() ? "all addresses" : m.host_ip, " -> ",
                      m.container_port);
}

}  // namespace

absl::StatusOr<std::vector<Row>> VerifyReachability(
    const std::vector<PodRequest>& pods, const sim::Simulator& simulator) {
  const sim::HostModel& host = simulator.host();
  std::vector<Row> rows;
  for (const PodRequest& pod : pods) {
    if (pod.pod.host_network) continue;
    const std::string owner =
        pod.pod.namespace_.empty() && pod.pod.name.empty()
            ? pod.id
            : absl::StrCat(pod.pod.namespace_, "/", pod.pod.name);
    for (const PortMapping& m : pod.pod.port_mappings) {
      for (IpFamily family : {IpFamily::kV4, IpFamily::kV6}) {
        const bool applies = AppliesTo(m, family);
        if (!applies) continue;
        Row row{owner,
                Describe(m),
                family == IpFamily::kV4 ? "IPv4" : "IPv6",
                "",
                {}};
        const std::optional<IpAddress> pod_ip = FirstIp(pod, family);
        if (!pod_ip) {
          row.note =
              absl::StrCat("skipped: the pod has no ", row.family, " address");
          rows.push_back(std::move(row));
          continue;
        }
        // Destinations: the mapping's own address, else every host address of
        // the family that is not loopback and not on the pods' side.
        std::vector<std::pair<std::string, IpAddress>> external;  // (if, addr)
        for (const sim::HostInterface& i : host.interfaces()) {
          if (i.name == "lo") continue;
          for (const sim::IpPrefix& p : i.addresses) {
            const IpAddress a = p.address();
            if (a.family() != family) continue;
            const sim::HostInterface* to_pod = host.Route(*pod_ip);
            if (to_pod != nullptr && to_pod->name == i.name) continue;
            external.push_back({i.name, a});
          }
        }
        const IpAddress loopback =
            *IpAddress::Parse(family == IpFamily::kV4 ? "127.0.0.1" : "::1");
        std::optional<IpAddress> specific;
        if (m.host_ip != "0.0.0.0" && m.host_ip != "::") {
          if (absl::StatusOr<IpAddress> h = IpAddress::Parse(m.host_ip);
              h.ok()) {
            specific = *h;
          }
        }
        const IpAddress main_dst =
            specific ? *specific
                     : (external.empty() ? loopback : external.front().second);
        auto probe = [&](std::string client, sim::PacketOrigin origin,
                         IpAddress src, IpAddress dst) -> absl::Status {
          Cell cell;
          cell.client = std::move(client);
          cell.packet.protocol = SimProtocol(m.protocol);
          cell.packet.dst = dst;
          cell.packet.dst_port = static_cast<uint16_t>(m.host_port);
          cell.packet.src = src;
          cell.packet.origin = std::move(origin);
          cell.expected = Expect(pods, host, cell.packet);
          sim::TraceOptions options;
          options.record_trace = false;
          absl::StatusOr<sim::TraceResult> r =
              simulator.Trace(cell.packet, options);
          if (!r.ok()) return r.status();
          cell.actual = *r;
          cell.matches = Same(cell.expected, cell.actual);
          row.cells.push_back(std::move(cell));
          return absl::OkStatus();
        };
        const IpAddress outside = *IpAddress::Parse(
            family == IpFamily::kV4 ? "203.0.113.7" : "2001:db8:ffff::7");
        for (const auto& [name, addr] : external) {
          sim::PacketOrigin o;
          o.kind = sim::PacketOrigin::Kind::kExternal;
          o.interface = name;
          if (absl::Status s = probe(
                  absl::StrCat("external ", name, " -> ", addr.ToString()), o,
                  outside, addr);
              !s.ok()) {
            return s;
          }
        }
        if (specific && specific->IsLoopback() && !external.empty()) {
          // A neighbour sending straight to the loopback-bound port.
          sim::PacketOrigin o;
          o.kind = sim::PacketOrigin::Kind::kExternal;
          o.interface = external.front().first;
          if (absl::Status s = probe(absl::StrCat("external ", o.interface,
                                                  " -> ", specific->ToString()),
                                     o, outside, *specific);
              !s.ok()) {
            return s;
          }
        }
        sim::PacketOrigin local;
        local.kind = sim::PacketOrigin::Kind::kLocal;
        if (absl::Status s =
                probe(absl::StrCat("host -> ", loopback.ToString()), local,
                      loopback, loopback);
            !s.ok()) {
          return s;
        }
        if (main_dst != loopback) {
          if (absl::Status s =
                  probe(absl::StrCat("host -> ", main_dst.ToString()), local,
                        main_dst, main_dst);
              !s.ok()) {
            return s;
          }
        }
        if (!main_dst.IsLoopback()) {
          sim::PacketOrigin itself;
          itself.kind = sim::PacketOrigin::Kind::kPod;
          itself.pod = *pod_ip;
          if (absl::Status s = probe("pod itself", itself, *pod_ip, main_dst);
              !s.ok()) {
            return s;
          }
          for (const PodRequest& other : pods) {
            if (&other == &pod) continue;
            std::optional<IpAddress> other_ip = FirstIp(other, family);
            if (!other_ip) continue;
            sim::PacketOrigin o;
            o.kind = sim::PacketOrigin::Kind::kPod;
            o.pod = *other_ip;
            if (absl::Status s = probe("other pod", o, *other_ip, main_dst);
                !s.ok()) {
              return s;
            }
            break;
          }
        }
        rows.push_back(std::move(row));
      }
    }
  }
  return rows;
}

}  // namespace hostport
