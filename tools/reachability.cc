#include "tools/reachability.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hostport {
namespace {

using sim::IpAddress;
using sim::IpFamily;

// A host address of `family` on a subnet with room for another machine, and
// that other machine: the first address after it in the prefix that is not
// local.
std::optional<std::pair<IpAddress, IpAddress>> Neighbour(
    const sim::HostModel& host,
    const std::vector<std::pair<std::string, sim::IpPrefix>>& external) {
  for (const auto& [name, prefix] : external) {
    const IpAddress own = prefix.address();
    uint8_t bytes[16];
    std::copy(own.bytes(), own.bytes() + own.size(), bytes);
    for (int step = 0; step < 8; ++step) {
      uint8_t& last = bytes[own.size() - 1];
      last = static_cast<uint8_t>(last + 1);
      const IpAddress candidate = IpAddress::FromBytes(own.family(), bytes);
      // Not the IPv4 broadcast (255) nor the subnet's own address (0).
      if (last == 0 || (own.is_v4() && last == 255)) continue;
      if (prefix.Contains(candidate) && !host.IsLocal(candidate)) {
        return std::make_pair(own, candidate);
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::string Cell::Text() const {
  return semantics::OutcomeText(actual.verdict, actual.To(),
                                actual.SourceSeen());
}

std::string Cell::ExpectedText() const { return expected.Text(); }

namespace {

std::string Describe(const PortMapping& m) {
  return absl::StrCat(m.host_port, "/", ProtocolName(m.protocol), " on ",
                      m.host_ip.empty() ? "all addresses" : m.host_ip, " -> ",
                      m.container_port);
}

}  // namespace

absl::StatusOr<std::vector<Row>> VerifyReachability(
    const std::vector<PodRequest>& entries, const sim::Simulator& simulator) {
  const sim::HostModel& host = simulator.host();
  std::vector<semantics::Pod> pods;
  for (const PodRequest& e : entries) {
    pods.push_back({e.id, e.pod, e.nat_interface});
  }
  std::vector<Row> rows;
  for (const semantics::Pod& pod : pods) {
    if (pod.pod.host_network) continue;
    const std::string owner =
        pod.pod.namespace_.empty() && pod.pod.name.empty()
            ? pod.id
            : absl::StrCat(pod.pod.namespace_, "/", pod.pod.name);
    for (const PortMapping& m : pod.pod.port_mappings) {
      for (IpFamily family : {IpFamily::kV4, IpFamily::kV6}) {
        if (!semantics::Names(m, family)) continue;
        Row row{owner,
                Describe(m),
                family == IpFamily::kV4 ? "IPv4" : "IPv6",
                "",
                {}};
        const std::optional<IpAddress> pod_ip = semantics::Target(pod, family);
        if (!pod_ip) {
          row.note =
              absl::StrCat("skipped: the pod has no ", row.family, " address");
          rows.push_back(std::move(row));
          continue;
        }
        // Destinations: the mapping's own address, else every host address of
        // the family that is not loopback and not on the pods' side.
        std::vector<std::pair<std::string, IpAddress>> external;  // (if, addr)
        std::vector<std::pair<std::string, sim::IpPrefix>> subnets;
        for (const sim::HostInterface& i : host.interfaces()) {
          if (i.name == "lo") continue;
          for (const sim::IpPrefix& p : i.addresses) {
            const IpAddress a = p.address();
            if (a.family() != family) continue;
            const sim::HostInterface* to_pod = host.Route(*pod_ip);
            if (to_pod != nullptr && to_pod->name == i.name) continue;
            external.push_back({i.name, a});
            subnets.push_back({i.name, p});
          }
        }
        const IpAddress loopback =
            *IpAddress::Parse(family == IpFamily::kV4 ? "127.0.0.1" : "::1");
        const std::optional<IpAddress> specific = semantics::BoundAddress(m);
        const IpAddress main_dst =
            specific ? *specific
                     : (external.empty() ? loopback : external.front().second);
        auto probe = [&](std::string client, sim::PacketOrigin origin,
                         IpAddress src, IpAddress dst) -> absl::Status {
          Cell cell;
          cell.client = std::move(client);
          cell.packet.protocol = semantics::SimProtocol(m.protocol);
          cell.packet.dst = dst;
          cell.packet.dst_port = static_cast<uint16_t>(m.host_port);
          cell.packet.src = src;
          cell.packet.origin = std::move(origin);
          cell.expected = semantics::Expect(pods, host, cell.packet);
          sim::TraceOptions options;
          options.record_trace = false;
          absl::StatusOr<sim::TraceResult> r =
              simulator.Trace(cell.packet, options);
          if (!r.ok()) return r.status();
          cell.actual = *r;
          cell.matches = semantics::Agrees(cell.expected, cell.actual);
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
        // The host's own traffic to another machine on the mapped port is
        // not the mapping's.
        if (const std::optional<std::pair<IpAddress, IpAddress>> n =
                Neighbour(host, subnets)) {
          if (absl::Status s =
                  probe(absl::StrCat("host -> ", n->second.ToString(),
                                     " (not local)"),
                        local, n->first, n->second);
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
          for (const semantics::Pod& other : pods) {
            if (&other == &pod) continue;
            std::optional<IpAddress> other_ip =
                semantics::Target(other, family);
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
