// PlanPod: validates a pod's port mappings and decides what each address family
// gets.
//
// This is the pure core every backend renders from. The rules (DESIGN §4):
// * HostIP "" maps on both families, "0.0.0.0" only IPv4, "::" only IPv6, a
// specific
//   address only its own family (matched on destination address).
// * A mapping whose family has no pod IP is skipped and reported, not an error.
// * Per family the DNAT target is the first pod IP of that family; all pod IPs
// of the
//   family are the pod's own addresses for hairpin masquerade.
// * HostIP ::1 is rejected: IPv6 has no route_localnet, ::1 can never be
// DNATed.
// * Host-network pods plan nothing.
// * With a NAT interface (not "" and not "lo"), IPv4 loopback clients on the
// host reach
//   the pod's hostports: the plan carries the interface, and the renderers
//   masquerade loopback sources leaving through it (the caller also sets
//   route_localnet there).
// Errors name the pod, the mapping index, the bad value and what would be
// valid; a pod with any error plans nothing.
#ifndef HOSTPORT_MODEL_PLAN_H_
#define HOSTPORT_MODEL_PLAN_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/model/ip_address.h"
#include "hostport/model/types.h"

namespace hostport {

// One mapping as it applies to one family.
struct PlannedMapping {
  int index = 0;  // Position in PodPortMapping::port_mappings.
  Protocol protocol = Protocol::kTCP;
  int host_port = 0;
  int container_port = 0;
  // The address the mapping answers on; nullopt for every address of the
  // family.
  std::optional<IpAddress> host_ip;
  // The pod's HostIP in canonical text ("", "0.0.0.0", "::" or the address):
  // the input of the chain hash, so the same mapping hashes the same in both
  // families.
  std::string host_ip_text;
  IpAddress pod_ip = IpAddress::Any(IPFamily::kIPv4);  // The DNAT target.
  // MappingHash(id, host_port, protocol, host_ip_text).
  std::string hash;
  // "<namespace/name or id> hostport <host_port>", at most 255 bytes.
  std::string comment;

  bool IsLoopbackBound() const { return host_ip && host_ip->IsLoopback(); }
};

// Everything one family's ruleset needs for one pod.
struct FamilyPlan {
  IPFamily family = IPFamily::kIPv4;
  std::vector<PlannedMapping> mappings;
  // Every pod IP of this family, in the pod's order: hairpin sources.
  std::vector<IpAddress> pod_ips;
};

// A mapping (or one family of a both-families mapping) that maps nothing, and
// why.
struct SkippedMapping {
  int index = 0;
  IPFamily family = IPFamily::kIPv4;
  std::string reason;
};

struct PodPlan {
  std::string id;
  // "namespace/name" when the pod has them, else the id: how messages and rule
  // comments name the pod.
  std::string owner;
  // OwnerComment(id): the comment on the pod's nftables elements.
  std::string owner_comment;
  bool host_network = false;
  // The interface localhost traffic to this pod leaves by; "" when none ("" and
  // "lo" both mean none: loopback clients then do not reach the pod).
  std::string nat_interface;
  FamilyPlan ipv4{IPFamily::kIPv4, {}, {}};
  FamilyPlan ipv6{IPFamily::kIPv6, {}, {}};
  std::vector<SkippedMapping> skipped;

  const FamilyPlan& family(IPFamily f) const {
    return f == IPFamily::kIPv4 ? ipv4 : ipv6;
  }
  bool empty() const { return ipv4.mappings.empty() && ipv6.mappings.empty(); }
};

// Validates `pod` under `id` and plans it per family, with `nat_interface` as
// given to HostPortManager::Add. REQUIRES nothing: any input gets either a plan
// or an InvalidArgument status naming what is wrong.
absl::StatusOr<PodPlan> PlanPod(absl::string_view id, const PodPortMapping& pod,
                                absl::string_view nat_interface = "");

// OK when `name` could be a Linux interface name: 1..15 bytes, none of '/',
// ':', quotes, backslash, whitespace or control characters, not "." or "..".
absl::Status ValidateInterfaceName(absl::string_view name);

// "mapping 2 (8080/TCP on 10.0.0.1)", "mapping 0 (53/UDP on all addresses)":
// how messages name a mapping.
std::string DescribeMapping(int index, int host_port, Protocol protocol,
                            absl::string_view host_ip);

}  // namespace hostport

#endif  // HOSTPORT_MODEL_PLAN_H_
