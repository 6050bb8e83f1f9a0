#include "hostport/model/plan.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "hostport/model/naming.h"

namespace hostport {
namespace {

constexpr int kMaxCommentBytes =
    255;  // xt_comment holds 256 bytes with the NUL.

// Characters that could break out of a quoted rule comment, or confuse a
// reader.
absl::Status CheckText(absl::string_view what, absl::string_view text,
                       absl::string_view pod) {
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s %s has character 0x%02x at offset %d: quotes, backslashes and "
          "control characters are not allowed (they would break rule comments)",
          pod, what, c, i));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPort(absl::string_view field, int32_t port, int index,
                       absl::string_view pod) {
  if (port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", port, " out of range 1..65535 in mapping ",
                     index, " of ", pod));
  }
  return absl::OkStatus();
}

// Cuts `owner` so that "<owner> hostport <port>" fits a rule comment, never
// inside a UTF-8 sequence.
std::string MakeComment(absl::string_view owner, int host_port) {
  const std::string suffix = absl::StrCat(" hostport ", host_port);
  size_t room = kMaxCommentBytes - suffix.size();
  if (owner.size() > room) {
    while (room > 0 &&
           (static_cast<unsigned char>(owner[room]) & 0xc0) == 0x80) {
      --room;
    }
    owner = owner.substr(0, room);
  }
  return absl::StrCat(owner, suffix);
}

// The pod's names, checked: id, owner and owner comment, and the NAT
// interface when it means one.
absl::Status PlanIdentity(absl::string_view id, const PodPortMapping& pod,
                          absl::string_view nat_interface, PodPlan* plan) {
  plan->id = std::string(id);
  plan->host_network = pod.host_network;
  if (pod.namespace_.empty() && pod.name.empty()) {
    plan->owner = plan->id;
  } else {
    plan->owner = absl::StrCat(pod.namespace_, "/", pod.name);
  }
  const std::string label = absl::StrCat("pod ", plan->owner);
  if (id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label,
                     " has an empty id: every pod needs a unique id "
                     "(the sandbox id)"));
  }
  if (absl::Status s = CheckText("id", id, label); !s.ok()) return s;
  if (absl::Status s = CheckText("namespace", pod.namespace_, label); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckText("name", pod.name, label); !s.ok()) return s;
  plan->owner_comment = OwnerComment(id);
  if (!nat_interface.empty() && nat_interface != "lo") {
    if (absl::Status s = ValidateInterfaceName(nat_interface); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("nat interface of ", label, ": ", s.message()));
    }
    plan->nat_interface = std::string(nat_interface);
  }
  return absl::OkStatus();
}

// Sorts the pod's IPs into the family plans: every one parsed, none twice,
// none that could not be a pod's.
absl::Status PlanPodIps(const PodPortMapping& pod, absl::string_view label,
                        PodPlan* plan) {
  absl::flat_hash_set<IpAddress> seen_ips;
  for (size_t i = 0; i < pod.ips.size(); ++i) {
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(pod.ips[i]);
    if (!ip.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, " ip ", i, ": ", ip.status().message()));
    }
    if (ip->IsUnspecified() || ip->IsLoopback() || ip->IsMulticast() ||
        ip->IsV4Mapped() || ip->IsReservedV4()) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, " ip ", i, " \"", pod.ips[i],
          "\" cannot be a pod address: want a unicast address that is not "
          "unspecified, loopback, multicast, broadcast, IPv4-mapped or in "
          "0.0.0.0/8 or 240.0.0.0/4"));
    }
    if (!seen_ips.insert(*ip).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, " lists ip ", ip->ToString(), " twice (ip ", i, ")"));
    }
    FamilyPlan& fp = ip->family() == IPFamily::kIPv4 ? plan->ipv4 : plan->ipv6;
    fp.pod_ips.push_back(*ip);
  }
  return absl::OkStatus();
}

// Ports in range and a protocol hostport maps.
absl::Status CheckMappingFields(const PortMapping& pm, int index,
                                absl::string_view label) {
  if (absl::Status s = CheckPort("host_port", pm.host_port, index, label);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckPort("container_port", pm.container_port, index, label);
      !s.ok()) {
    return s;
  }
  if (pm.protocol != Protocol::kTCP && pm.protocol != Protocol::kUDP &&
      pm.protocol != Protocol::kSCTP) {
    return absl::InvalidArgumentError(
        absl::StrCat("protocol ", static_cast<int>(pm.protocol), " in mapping ",
                     index, " of ", label, " is not TCP, UDP or SCTP"));
  }
  return absl::OkStatus();
}

// Where one mapping answers: which families, and on which address.
struct MappingScope {
  int index = 0;
  Protocol protocol = Protocol::kTCP;
  int host_port = 0;
  bool v4 = true, v6 = true;
  // nullopt for every address of the family.
  std::optional<IpAddress> host_ip;
  // The HostIP in canonical text ("" when not given): the chain hash's input.
  std::string host_ip_text;
};

// The scope of `pm`'s HostIP: "" both families, a wildcard or an address its
// own family. Rejects addresses no hostport can answer on.
absl::StatusOr<MappingScope> ScopeOf(const PortMapping& pm, int index,
                                     absl::string_view label) {
  MappingScope scope;
  scope.index = index;
  scope.protocol = pm.protocol;
  scope.host_port = pm.host_port;
  if (pm.host_ip.empty()) return scope;
  absl::StatusOr<IpAddress> parsed = IpAddress::Parse(pm.host_ip);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("host_ip in mapping ", index,
                                                   " of ", label, ": ",
                                                   parsed.status().message()));
  }
  scope.host_ip_text = parsed->ToString();
  const std::string where = absl::StrCat("host_ip ", pm.host_ip, " in mapping ",
                                         index, " of ", label);
  if (parsed->family() == IPFamily::kIPv6 && parsed->IsLoopback()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "host_ip ::1 in mapping ", index, " of ", label,
        " cannot be mapped: IPv6 has no route_localnet, so the kernel never "
        "routes ::1 to a pod; use 127.0.0.1 or a host address"));
  }
  if (parsed->IsV4Mapped()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where,
        " is an IPv4-mapped IPv6 address: write the IPv4 address instead"));
  }
  if (parsed->IsLinkLocal() && parsed->family() == IPFamily::kIPv6) {
    return absl::InvalidArgumentError(absl::StrCat(
        where,
        " is IPv6 link-local: it needs an interface scope that a mapping "
        "cannot carry; use a global or unique-local address"));
  }
  if (parsed->IsMulticast()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where,
                     " is a multicast address: want a unicast address of the "
                     "host, \"\", 0.0.0.0 or ::"));
  }
  scope.v4 = parsed->family() == IPFamily::kIPv4;
  scope.v6 = !scope.v4;
  if (!parsed->IsUnspecified()) scope.host_ip = *parsed;
  return scope;
}

// One pod may not claim a (protocol, port) twice on overlapping addresses:
// the kernel would answer with whichever rule comes first. Checked whatever
// the pod's IPs, so a pod is valid or not on its own.
absl::Status CheckOverlap(const std::vector<MappingScope>& claimed,
                          const MappingScope& scope, absl::string_view label) {
  for (const MappingScope& other : claimed) {
    if (other.protocol == scope.protocol &&
        other.host_port == scope.host_port &&
        ((other.v4 && scope.v4) || (other.v6 && scope.v6)) &&
        (!other.host_ip || !scope.host_ip ||
         *other.host_ip == *scope.host_ip)) {
      return absl::InvalidArgumentError(absl::StrCat(
          DescribeMapping(scope.index, scope.host_port, scope.protocol,
                          scope.host_ip_text),
          " of ", label, " overlaps ",
          DescribeMapping(other.index, other.host_port, other.protocol,
                          other.host_ip_text),
          ": a (protocol, host port) may be claimed once per address"));
    }
  }
  return absl::OkStatus();
}

// Plans `pm` in each family of its scope, or reports it skipped where the
// pod has no address of that family.
void ExpandMapping(absl::string_view id, const PortMapping& pm,
                   const MappingScope& scope, absl::string_view label,
                   PodPlan* plan) {
  for (FamilyPlan* fp : {&plan->ipv4, &plan->ipv6}) {
    if (!(fp->family == IPFamily::kIPv4 ? scope.v4 : scope.v6)) continue;
    if (fp->pod_ips.empty()) {
      plan->skipped.push_back(SkippedMapping{
          scope.index, fp->family,
          absl::StrCat(DescribeMapping(scope.index, pm.host_port, pm.protocol,
                                       scope.host_ip_text),
                       " of ", label, " maps nothing on ",
                       IPFamilyLabel(fp->family), ": the pod has no ",
                       IPFamilyLabel(fp->family), " address")});
      continue;
    }
    PlannedMapping m;
    m.index = scope.index;
    m.protocol = pm.protocol;
    m.host_port = pm.host_port;
    m.container_port = pm.container_port;
    m.host_ip = scope.host_ip;
    m.host_ip_text = scope.host_ip_text;
    m.pod_ip = fp->pod_ips.front();
    m.hash = MappingHash(id, pm.host_port, pm.protocol, scope.host_ip_text);
    m.comment = MakeComment(plan->owner, pm.host_port);
    fp->mappings.push_back(std::move(m));
  }
}

}  // namespace

std::string DescribeMapping(int index, int host_port, Protocol protocol,
                            absl::string_view host_ip) {
  return absl::StrCat("mapping ", index, " (", host_port, "/",
                      ProtocolName(protocol), " on ",
                      host_ip.empty() ? "all addresses" : host_ip, ")");
}

absl::Status ValidateInterfaceName(absl::string_view name) {
  constexpr size_t kMaxInterfaceName = 15;  // IFNAMSIZ - 1.
  if (name.empty() || name.size() > kMaxInterfaceName || name == "." ||
      name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("interface name \"", name,
                     "\" is not valid: want 1..15 characters, "
                     "not \".\" or \"..\""));
  }
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == ':' || c == '"' ||
        c == '\\') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "interface name \"%s\" has character 0x%02x: interface names have no "
          "whitespace, control characters, quotes, '/', ':' or '\\'",
          absl::CEscape(name), u));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PodPlan> PlanPod(absl::string_view id, const PodPortMapping& pod,
                                absl::string_view nat_interface) {
  PodPlan plan;
  if (absl::Status s = PlanIdentity(id, pod, nat_interface, &plan); !s.ok()) {
    return s;
  }
  if (pod.host_network) return plan;
  const std::string label = absl::StrCat("pod ", plan.owner);
  if (absl::Status s = PlanPodIps(pod, label, &plan); !s.ok()) return s;
  if (pod.ips.empty() && !pod.port_mappings.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        label, " has ", pod.port_mappings.size(),
        " port mapping(s) but no ips: give the pod's addresses (or "
        "host_network for a pod in the host's namespace)"));
  }
  std::vector<MappingScope> claimed;
  for (size_t i = 0; i < pod.port_mappings.size(); ++i) {
    const PortMapping& pm = pod.port_mappings[i];
    const int index = static_cast<int>(i);
    if (absl::Status s = CheckMappingFields(pm, index, label); !s.ok()) {
      return s;
    }
    absl::StatusOr<MappingScope> scope = ScopeOf(pm, index, label);
    if (!scope.ok()) return scope.status();
    if (absl::Status s = CheckOverlap(claimed, *scope, label); !s.ok()) {
      return s;
    }
    claimed.push_back(*scope);
    ExpandMapping(id, pm, *scope, label, &plan);
  }
  return plan;
}

}  // namespace hostport
