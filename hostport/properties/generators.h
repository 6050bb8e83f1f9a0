// Generators for hostport's property tests: hosts, dual-stack pod sets and the
// clients that probe them, as RapidCheck generators built from rc::gen
// combinators so that a failure shrinks to a small host, few pods and few
// mappings.
//
// A Scenario is always valid: every pod passes PlanPod() and no two pods
// conflict under PortClaims (DESIGN §4). Generation draws raw pods first and
// then drops, mapping by mapping, whatever PlanPod or PortClaims refuse, so
// the refusals themselves are exercised and the rest is kept. Ports come from
// a pool of four so mappings collide often; HostIPs mix "", 0.0.0.0, ::, the
// host's own addresses of both families, 127.0.0.1, ::1 (always refused) and
// addresses the host does not have. showValue() prints every type readably.
#ifndef HOSTPORT_PROPERTIES_GENERATORS_H_
#define HOSTPORT_PROPERTIES_GENERATORS_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "hostport/types.h"
#include "rapidcheck.h"
#include "sim/host_model.h"
#include "sim/simulator.h"
#include "tools/pods_file.h"

namespace hostport::properties {

// The pod bridge every generated host has: 10.88.0.1/16 and fd00:88::1/64,
// route_localnet on, carrying the routes of the pod network.
inline constexpr char kPodBridge[] = "hp-br0";

// One external interface: eth<index> with 192.0.<2+index>.10/24 and/or
// 2001:db8:<index>::10/64.
struct ExternalInterface {
  int index = 0;
  bool v4 = true;
  bool v6 = true;

  std::string Name() const;
  std::string V4() const;  // "192.0.2.10"
  std::string V6() const;  // "2001:db8::10"
};

struct HostSpec {
  std::vector<ExternalInterface> interfaces;  // 1..3

  // Every non-loopback address of the host of `family` ("4"/"6" via
  // IPFamily), the pod bridge's included, in interface order.
  std::vector<std::string> Addresses(IPFamily family) const;
  // lo, the external interfaces, the pod bridge (with one bridge port per pod,
  // hairpin_mode on) and the pod network's routes.
  sim::HostModel Model(const std::vector<PodEntry>& pods) const;
};

// A host and a valid, conflict-free set of pods on it.
struct Scenario {
  HostSpec host;
  std::vector<PodEntry> pods;
  // What generation dropped and why (PlanPod or PortClaims refusals), for
  // reading a counterexample.
  std::vector<std::string> dropped;
};

// Keeps, pod by pod and mapping by mapping, what PlanPod accepts and what
// PortClaims lets in beside the pods kept before; pods whose IPs another pod
// already has lose those IPs. Everything dropped is described in `dropped`.
Scenario MakeValid(HostSpec host, std::vector<PodEntry> raw);

rc::Gen<HostSpec> GenHostSpec();
// 1..4 raw pods (ids pod0, pod1, ...) for `host`: 1..4 IPs of either or both
// families from a pool of eight, 0..8 mappings, nat_interface "", "lo" or
// the pod bridge. Not yet valid: see MakeValid.
rc::Gen<std::vector<PodEntry>> GenRawPods(const HostSpec& host);
rc::Gen<Scenario> GenScenario();

// One packet and who sends it, for reading a counterexample.
struct Probe {
  std::string client;  // "external eth0", "host", "pod 10.88.0.2", ...
  sim::Packet packet;  // src always set (Expect() requires it)
};

// Every client of every mapping, in each family the mapping applies to and the
// pod has an address of: external on each host interface to each host address
// of the family and to its loopback, host-local to each local address incl.
// 127.0.0.1 and ::1, every pod address (the pod itself, other pods) to each
// host address. Mappings bound to an address the host lacks are probed on the
// host's addresses only (nothing routes their own address to the host).
std::vector<Probe> MappingProbes(const Scenario& s);
// The same clients to every port of the pool and one port nothing uses, for
// every protocol: every packet the host can meet, mapped or not.
std::vector<Probe> AllProbes(const Scenario& s);

// The ports mappings are drawn from, and one never drawn.
const std::vector<int>& PortPool();
inline constexpr int kUnusedPort = 9999;

std::string DescribeProbe(const Probe& p);
std::string DescribeResult(const sim::TraceResult& r);

void showValue(const ExternalInterface& v, std::ostream& os);
void showValue(const HostSpec& v, std::ostream& os);
void showValue(const Scenario& v, std::ostream& os);
void showValue(const Probe& v, std::ostream& os);

}  // namespace hostport::properties

namespace hostport {
// RapidCheck finds these by argument-dependent lookup.
void showValue(const PortMapping& v, std::ostream& os);
void showValue(const PodEntry& v, std::ostream& os);
}  // namespace hostport

#endif  // HOSTPORT_PROPERTIES_GENERATORS_H_
