#include "semantics/semantics.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace semantics {
namespace {

using hostport::Protocol;
using sim::IpAddress;
using sim::PacketOrigin;
using sim::PacketVerdict;

std::optional<IpAddress> ParseIp(absl::string_view text) {
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(text);
  if (!ip.ok()) return std::nullopt;
  return *ip;
}

bool IsZero(const IpAddress& a, int from, int to) {
  for (int i = from; i < to; ++i) {
    if (a.bytes()[i] != 0) return false;
  }
  return true;
}

bool IsUnspecified(const IpAddress& a) { return IsZero(a, 0, a.size()); }

// ::ffff:a.b.c.d
bool IsV4Mapped(const IpAddress& a) {
  return !a.is_v4() && IsZero(a, 0, 10) && a.bytes()[10] == 0xff &&
         a.bytes()[11] == 0xff;
}

// 0.0.0.0/8 ("this network") and 240.0.0.0/4 (reserved, with broadcast).
bool IsReservedV4(const IpAddress& a) {
  return a.is_v4() && (a.bytes()[0] == 0 || a.bytes()[0] >= 240);
}

bool IsV6LinkLocal(const IpAddress& a) {
  return !a.is_v4() && a.bytes()[0] == 0xfe && (a.bytes()[1] & 0xc0) == 0x80;
}

absl::string_view ProtocolText(Protocol p) {
  switch (p) {
    case Protocol::kTCP:
      return "TCP";
    case Protocol::kUDP:
      return "UDP";
    case Protocol::kSCTP:
      return "SCTP";
  }
  return "?";
}

bool IsKnownProtocol(Protocol p) {
  return p == Protocol::kTCP || p == Protocol::kUDP || p == Protocol::kSCTP;
}

std::string Label(const Pod& p) {
  return p.pod.namespace_.empty() && p.pod.name.empty()
             ? absl::StrCat("pod ", p.id)
             : absl::StrCat("pod ", p.pod.namespace_, "/", p.pod.name);
}

std::string Describe(int index, const PortMapping& m) {
  return absl::StrCat("mapping ", index, " (", m.host_port, "/",
                      ProtocolText(m.protocol), " on ",
                      m.host_ip.empty() ? "all addresses" : m.host_ip, ")");
}

absl::string_view FamilyText(IpFamily f) {
  return f == IpFamily::kV4 ? "IPv4" : "IPv6";
}

// Text that lands in rule comments: no control characters, quotes or
// backslashes.
absl::Status CheckCommentText(absl::string_view what, absl::string_view text,
                              const std::string& label) {
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: %s has character 0x%02x at offset %d", label, what, c, i));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckInterface(absl::string_view name, const std::string& label) {
  if (name.empty() || name == "lo") return absl::OkStatus();
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": nat_interface \"", name,
                     "\" is not an interface name: ", why));
  };
  if (name.size() > 15) return bad("longer than 15 bytes");
  if (name == "." || name == "..") return bad("\".\" and \"..\" are not names");
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == ':' || c == '"' ||
        c == '\\') {
      return bad(absl::StrFormat("it has character 0x%02x", u));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPort(absl::string_view field, int32_t port, int index,
                       const std::string& label) {
  if (port >= 1 && port <= 65535) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      label, ": mapping ", index, " ", field, " ", port, " not in 1..65535"));
}

absl::Status CheckHostIp(const PortMapping& m, int index,
                         const std::string& label) {
  if (m.host_ip.empty()) return absl::OkStatus();
  const std::optional<IpAddress> ip = ParseIp(m.host_ip);
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": ", Describe(index, m), ": host_ip ", why));
  };
  if (!ip) return bad("is not an IP address");
  if (!ip->is_v4() && ip->IsLoopback()) {
    return bad("::1 can never be DNATed (IPv6 has no route_localnet)");
  }
  if (IsV4Mapped(*ip)) return bad("is IPv4-mapped: write the IPv4 address");
  if (IsV6LinkLocal(*ip)) return bad("is IPv6 link-local (needs a scope)");
  if (ip->IsMulticast()) return bad("is multicast");
  return absl::OkStatus();
}

// The HostIP as a description names it: "all addresses", or the address in
// canonical text ("0.0.0.0" and "::" included).
std::string Where(const PortMapping& m) {
  if (m.host_ip.empty()) return "all addresses";
  const std::optional<IpAddress> ip = ParseIp(m.host_ip);
  return ip ? ip->ToString() : m.host_ip;
}

bool HasFamily(const Pod& pod, IpFamily family) {
  return Target(pod, family).has_value();
}

// The address masquerade gives a packet leaving towards `target`.
std::string MasqueradeSource(const sim::HostModel& host,
                             const IpAddress& target) {
  const sim::HostInterface* out = host.Route(target);
  if (out == nullptr) return "";
  std::optional<IpAddress> src = host.SourceAddress(*out, target);
  return src ? src->ToString() : "";
}

const Expected kBlocked{PacketVerdict::kDropped, "", ""};

// Not ours: the host routes the packet as it was sent.
Expected Unchanged(const sim::HostModel& host, const sim::Packet& packet) {
  const IpAddress& dst = packet.dst;
  const IpAddress& src = *packet.src;
  const sim::HostInterface* out = host.Route(dst);
  if (out == nullptr || out->name == "lo") return kBlocked;
  // A loopback source never leaves the host unmasqueraded (IPv6: never at
  // all; IPv4: martian, or a reply that stays in the receiver's loopback).
  if (src.IsLoopback()) return kBlocked;
  return {PacketVerdict::kDelivered, dst.WithPort(packet.dst_port),
          src.ToString()};
}

}  // namespace

absl::Status CheckPod(const Pod& p) {
  const std::string label = Label(p);
  if (p.id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": empty id"));
  }
  if (absl::Status s = CheckCommentText("id", p.id, label); !s.ok()) return s;
  if (absl::Status s = CheckCommentText("namespace", p.pod.namespace_, label);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckCommentText("name", p.pod.name, label); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckInterface(p.nat_interface, label); !s.ok()) {
    return s;
  }
  if (p.pod.host_network) return absl::OkStatus();

  std::set<IpAddress> seen;
  for (size_t i = 0; i < p.pod.ips.size(); ++i) {
    const std::string& text = p.pod.ips[i];
    const std::optional<IpAddress> ip = ParseIp(text);
    const auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": ip ", i, " \"", text, "\" ", why));
    };
    if (!ip) return bad("is not an IP address");
    if (IsUnspecified(*ip) || ip->IsLoopback() || ip->IsMulticast() ||
        IsV4Mapped(*ip) || IsReservedV4(*ip)) {
      return bad("cannot be a pod's address");
    }
    if (!seen.insert(*ip).second) return bad("is listed twice");
  }
  if (p.pod.ips.empty() && !p.pod.port_mappings.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": port mappings but no ips"));
  }
  const std::vector<PortMapping>& ms = p.pod.port_mappings;
  for (size_t i = 0; i < ms.size(); ++i) {
    const int index = static_cast<int>(i);
    const PortMapping& m = ms[i];
    if (absl::Status s = CheckPort("host_port", m.host_port, index, label);
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            CheckPort("container_port", m.container_port, index, label);
        !s.ok()) {
      return s;
    }
    if (!IsKnownProtocol(m.protocol)) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, ": mapping ", index, " protocol ",
          static_cast<int>(m.protocol), " is not TCP, UDP or SCTP"));
    }
    if (absl::Status s = CheckHostIp(m, index, label); !s.ok()) return s;
    for (size_t k = 0; k < i; ++k) {
      for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
        if (Overlap(ms[k], m, f)) {
          return absl::InvalidArgumentError(absl::StrCat(
              label, ": ", Describe(index, m), " overlaps ",
              Describe(static_cast<int>(k), ms[k]), " in ", FamilyText(f)));
        }
      }
    }
  }
  return absl::OkStatus();
}

bool Names(const PortMapping& m, IpFamily family) {
  if (m.host_ip.empty()) return true;
  const std::optional<IpAddress> ip = ParseIp(m.host_ip);
  return ip && ip->family() == family;
}

std::optional<IpAddress> BoundAddress(const PortMapping& m) {
  if (m.host_ip.empty()) return std::nullopt;
  std::optional<IpAddress> ip = ParseIp(m.host_ip);
  if (!ip || IsUnspecified(*ip)) return std::nullopt;
  return ip;
}

bool Overlap(const PortMapping& a, const PortMapping& b, IpFamily family) {
  if (a.protocol != b.protocol || a.host_port != b.host_port) return false;
  if (!Names(a, family) || !Names(b, family)) return false;
  const std::optional<IpAddress> at = BoundAddress(a);
  const std::optional<IpAddress> bt = BoundAddress(b);
  return !at || !bt || *at == *bt;
}

std::optional<IpAddress> Target(const Pod& pod, IpFamily family) {
  for (const std::string& text : pod.pod.ips) {
    const std::optional<IpAddress> ip = ParseIp(text);
    if (ip && ip->family() == family) return ip;
  }
  return std::nullopt;
}

bool Owns(const Pod& pod, const IpAddress& address) {
  for (const std::string& text : pod.pod.ips) {
    const std::optional<IpAddress> ip = ParseIp(text);
    if (ip && *ip == address) return true;
  }
  return false;
}

bool Maps(const Pod& pod, const PortMapping& m, IpFamily family) {
  return !pod.pod.host_network && Names(m, family) && HasFamily(pod, family);
}

std::optional<std::string> FindConflict(const Pod& a, const Pod& b) {
  if (a.id == b.id) return std::nullopt;
  for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
    for (const PortMapping& ma : a.pod.port_mappings) {
      if (!Maps(a, ma, f)) continue;
      for (const PortMapping& mb : b.pod.port_mappings) {
        if (Maps(b, mb, f) && Overlap(ma, mb, f)) {
          return absl::StrCat(ma.host_port, "/", ProtocolText(ma.protocol),
                              " on ", Where(ma), " of ", Label(a), " overlaps ",
                              mb.host_port, "/", ProtocolText(mb.protocol),
                              " on ", Where(mb), " of ", Label(b), " in ",
                              FamilyText(f));
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<Claim> Claimant(const std::vector<Pod>& pods,
                              const sim::HostModel& host,
                              const sim::Packet& packet) {
  const IpFamily family = packet.dst.family();
  std::optional<bool> local;  // Asked once, and only for a candidate.
  for (const Pod& pod : pods) {
    for (const PortMapping& m : pod.pod.port_mappings) {
      if (m.host_port != packet.dst_port ||
          SimProtocol(m.protocol) != packet.protocol || !Maps(pod, m, family)) {
        continue;
      }
      const std::optional<IpAddress> bound = BoundAddress(m);
      if (bound && *bound != packet.dst) continue;
      if (!local) local = host.IsLocal(packet.dst);
      if (!*local) return std::nullopt;
      return Claim{&pod, &m};
    }
  }
  return std::nullopt;
}

Expected Expect(const std::vector<Pod>& pods, const sim::HostModel& host,
                const sim::Packet& packet) {
  const IpAddress& dst = packet.dst;
  const IpAddress& src = *packet.src;
  const bool external = packet.origin.kind == PacketOrigin::Kind::kExternal;
  const std::optional<Claim> claim = Claimant(pods, host, packet);
  if (!claim) {
    if (!host.IsLocal(dst)) return Unchanged(host, packet);
    // A local socket gets it, unless it is loopback traffic arriving from
    // outside (martian).
    if (external && dst.IsLoopback()) return kBlocked;
    return {PacketVerdict::kLocal, dst.WithPort(packet.dst_port),
            src.ToString()};
  }
  const PortMapping& mapping = *claim->mapping;
  const IpAddress target = *Target(*claim->pod, dst.family());
  const std::string to =
      target.WithPort(static_cast<uint16_t>(mapping.container_port));
  switch (packet.origin.kind) {
    case PacketOrigin::Kind::kExternal:
      // A loopback-bound port is never reachable from outside. (A wildcard
      // mapping is: a neighbour sending to 127.0.0.1 is DNATed before
      // routing could call the packet martian, as on the kernel; it reaches
      // nothing the host's own addresses do not.) IPv6 drops ::1 arriving on
      // any other interface before any hook.
      if (dst.IsLoopback() && (!dst.is_v4() || BoundAddress(mapping))) {
        return kBlocked;
      }
      return {PacketVerdict::kDelivered, to, src.ToString()};
    case PacketOrigin::Kind::kLocal: {
      if (!dst.IsLoopback()) {
        return {PacketVerdict::kDelivered, to, src.ToString()};
      }
      // ::1 never leaves loopback; 127/8 does, masqueraded, only through a
      // NAT interface with route_localnet.
      if (!dst.is_v4()) return kBlocked;
      const std::string& nat = claim->pod->nat_interface;
      const sim::HostInterface* out = host.Route(target);
      if (nat.empty() || nat == "lo" || out == nullptr || out->name != nat ||
          !out->route_localnet) {
        return kBlocked;
      }
      return {PacketVerdict::kDelivered, to, MasqueradeSource(host, target)};
    }
    case PacketOrigin::Kind::kPod: {
      if (!Owns(*claim->pod, src)) {
        return {PacketVerdict::kDelivered, to, src.ToString()};
      }
      // Hairpin: masqueraded, and through a bridge only with hairpin_mode.
      const sim::Bridge* bridge = nullptr;
      const sim::BridgePort* port = host.FindBridgePort(target, &bridge);
      if (port != nullptr && !port->hairpin_mode) return kBlocked;
      return {PacketVerdict::kDelivered, to, MasqueradeSource(host, target)};
    }
  }
  return kBlocked;
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

std::string Expected::Text() const { return OutcomeText(verdict, to, source); }

bool Agrees(const Expected& e, const sim::TraceResult& r) {
  if (e.verdict != r.verdict) return false;
  if (e.verdict != PacketVerdict::kDelivered) return true;
  return e.to == r.To() && e.source == r.SourceSeen();
}

sim::Protocol SimProtocol(Protocol p) {
  switch (p) {
    case Protocol::kUDP:
      return sim::Protocol::kUdp;
    case Protocol::kSCTP:
      return sim::Protocol::kSctp;
    case Protocol::kTCP:
      break;
  }
  return sim::Protocol::kTcp;
}

}  // namespace semantics
