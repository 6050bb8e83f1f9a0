// DESIGN §4 written down on its own: the oracle that hostport's validation,
// conflict checks and rendered rules (through the simulator) are held to.
//
// It answers four questions from the pods as a runtime gives them (hostport's
// plain PortMapping / PodPortMapping values) and, for packets, the host a
// packet meets (sim::HostModel):
//   * CheckPod     is a pod valid (ports 1..65535, TCP/UDP/SCTP, pod IPs,
//                  HostIP forms, ids and interface names)?
//   * FindConflict may two pods hold their mappings side by side?
//   * Claimant     which mapping claims (DNATs) a packet?
//   * Expect       where does the packet end: at a pod (which endpoint, which
//                  source the pod sees), at a socket on the host, elsewhere
//                  (not ours: routed unchanged), or nowhere?
//
// Promises: shares no logic with //hostport. It reads the value structs of
// hostport/model/types.h and sim's value types (IpAddress, HostModel, Packet)
// and calls no hostport function (no PlanPod, PortClaims, hostport IpAddress),
// so a bug in hostport's validation, conflict check or renderers shows up as
// a disagreement with it. Every function is pure and thread-safe.
// Requires: per function below. Tests and tools only: //hostport must never
// depend on this package.
#ifndef SEMANTICS_SEMANTICS_H_
#define SEMANTICS_SEMANTICS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "hostport/model/types.h"
#include "sim/host_model.h"
#include "sim/ip_address.h"
#include "sim/simulator.h"

namespace semantics {

using hostport::PodPortMapping;
using hostport::PortMapping;
using sim::IpFamily;

// A pod as a runtime hands it to Add(id, pod, nat_interface).
struct Pod {
  std::string id;
  PodPortMapping pod;
  // The interface localhost traffic to the pod leaves by; "" and "lo" both
  // mean none.
  std::string nat_interface;
};

// --- Valid pods ---

// OK when `pod` is valid, else InvalidArgument naming the pod, the field and
// the value. Valid means:
// * id not empty; id, namespace and name without control characters, '"' or
//   '\' (they end up in rule comments);
// * nat_interface "", "lo" or a Linux interface name: 1..15 bytes, not "." or
//   "..", no whitespace, control characters, '"', '\', '/' or ':';
// * a host-network pod maps nothing, so nothing else about it matters;
// * every pod IP an address that a pod can hold: not unspecified, loopback,
//   multicast, IPv4-mapped, in 0.0.0.0/8 or in 240.0.0.0/4; none twice; at
//   least one when the pod has mappings;
// * every mapping: host_port and container_port in 1..65535; protocol TCP,
//   UDP or SCTP; host_ip "", "0.0.0.0", "::" or an address that is not ::1
//   (IPv6 has no route_localnet), IPv4-mapped, IPv6 link-local or multicast;
// * no two mappings of the pod Overlap in a family (whatever the pod's IPs).
// REQUIRES nothing.
absl::Status CheckPod(const Pod& pod);

// --- Mappings, families, claims ---

// Whether `m`'s HostIP names `family`: "" both, "0.0.0.0" and IPv4 addresses
// IPv4, "::" and IPv6 addresses IPv6. An unparsable HostIP names none.
bool Names(const PortMapping& m, IpFamily family);

// The address `m` is bound to; nullopt for a wildcard ("", 0.0.0.0, ::) or
// an unparsable HostIP.
std::optional<sim::IpAddress> BoundAddress(const PortMapping& m);

// Whether `a` and `b` hold the same port in `family`: same protocol and host
// port, both name the family, and one is a wildcard or both are bound to the
// same address (compared as addresses, not text).
bool Overlap(const PortMapping& a, const PortMapping& b, IpFamily family);

// The pod's first IP of `family`, the DNAT target of its mappings there.
std::optional<sim::IpAddress> Target(const Pod& pod, IpFamily family);

// Whether `pod` owns `address` (any of its IPs: hairpin sources).
bool Owns(const Pod& pod, const sim::IpAddress& address);

// Whether `m` (a mapping of `pod`) maps anything in `family`: the pod is not
// host-network, `m` names the family and the pod has an IP of it. (A mapping
// of a family the pod lacks is skipped, not an error.)
bool Maps(const Pod& pod, const PortMapping& m, IpFamily family);

// Where two pods cannot stand side by side: the first pair of their mappings
// that both map in a family and Overlap there, described ("8080/TCP on all
// addresses of pod a overlaps 8080/TCP on 192.0.2.10 of pod b in IPv4");
// nullopt when none does. Pods with the same id never conflict (Add again
// replaces). REQUIRES: CheckPod of both is OK.
std::optional<std::string> FindConflict(const Pod& a, const Pod& b);

// The mapping that claims a packet, and its pod.
struct Claim {
  const Pod* pod = nullptr;
  const PortMapping* mapping = nullptr;
};

// Which mapping claims `packet`: one that Maps in the packet's family with
// its protocol and destination port, whose HostIP is a wildcard or the
// destination, and only when the destination is a local address of `host`
// (the rules are entered for local destinations only: a host's own traffic
// to another machine's port is never taken). nullopt when none.
// REQUIRES: valid pods that do not conflict (else the first in order wins).
std::optional<Claim> Claimant(const std::vector<Pod>& pods,
                              const sim::HostModel& host,
                              const sim::Packet& packet);

// --- Where a packet ends ---

struct Expected {
  sim::PacketVerdict verdict = sim::PacketVerdict::kDropped;
  std::string to;      // "10.88.0.5:80" when delivered or local.
  std::string source;  // The source the receiver sees.

  // "reaches 10.88.0.5:80, sees 203.0.113.7", "host socket" or "blocked".
  std::string Text() const;
};

// What `packet` does on `host` with `pods` installed:
// * claimed: DNATed to Target(pod):container_port. From outside it is seen
//   from its source, but never to a loopback-bound mapping, nor through ::1,
//   nor to 127/8 other than on an IPv4 wildcard (the kernel DNATs before
//   routing calls it martian). From the host to a local non-loopback address
//   it keeps its source; to 127/8 it needs the pod's nat_interface to be the
//   interface towards the pod, with route_localnet, and is masqueraded; ::1
//   never leaves loopback. From a pod it keeps its source, except the pod's
//   own hostport (hairpin), which is masqueraded and needs hairpin_mode on
//   the pod's bridge port.
// * unclaimed to a local address: a socket on the host, except loopback
//   arriving from outside (martian).
// * unclaimed to another address: not ours; routed unchanged (delivered to
//   the destination as sent, dropped when no route leads there or when a
//   loopback source would leave the host).
// REQUIRES: packet.src set; what Claimant requires.
Expected Expect(const std::vector<Pod>& pods, const sim::HostModel& host,
                const sim::Packet& packet);

// How a verdict reads in Expected::Text().
std::string OutcomeText(sim::PacketVerdict verdict, absl::string_view to,
                        absl::string_view source);

// Whether the simulator's result is `expected` (endpoint and source seen only
// when delivered).
bool Agrees(const Expected& expected, const sim::TraceResult& actual);

// hostport's protocol as the simulator's.
sim::Protocol SimProtocol(hostport::Protocol protocol);

}  // namespace semantics

#endif  // SEMANTICS_SEMANTICS_H_
