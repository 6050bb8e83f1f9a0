// Scenarios for hostport's property tests and fuzzers: a host (external
// interfaces of either or both families and the pod bridge) with a valid,
// conflict-free set of pods; the clients that probe it; and the harness that
// renders it with either backend, simulates the rendering and compares the
// simulator's verdicts with //semantics (DESIGN §4 written down independently
// of hostport). Validity and conflicts are decided by //semantics too, never
// by hostport's PlanPod or PortClaims, so a bug there shows up as a failure
// rather than shaping the scenarios. No RapidCheck and no fakes here, so
// fuzzers can use it.
#ifndef HOSTPORT_PROPERTIES_SCENARIO_H_
#define HOSTPORT_PROPERTIES_SCENARIO_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "hostport/model/plan.h"
#include "hostport/model/types.h"
#include "semantics/semantics.h"
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
  // Pods sit behind the bridge's ports (br_netfilter on); else routed.
  bool bridged = true;
  // hairpin_mode of the bridge ports; off, a pod cannot reach itself.
  bool hairpin_mode = true;

  // Every non-loopback address of the host of `family` ("4"/"6" via
  // IPFamily), the pod bridge's included, in interface order.
  std::vector<std::string> Addresses(IPFamily family) const;
  // lo, the external interfaces, the pod bridge (when bridged, with one bridge
  // port per pod) and the pod network's routes.
  sim::HostModel Model(const std::vector<PodRequest>& pods) const;
};

// A host and a valid, conflict-free set of pods on it.
struct Scenario {
  HostSpec host;
  std::vector<PodRequest> pods;
  // What generation dropped and why (what //semantics calls invalid or
  // conflicting), for reading a counterexample.
  std::vector<std::string> dropped;
};

// The pods as //semantics reads them.
std::vector<semantics::Pod> SemanticPods(const std::vector<PodRequest>& pods);

// Keeps, pod by pod and mapping by mapping, what semantics::CheckPod calls
// valid and what semantics::FindConflict lets in beside the pods kept before;
// pods whose IPs another pod already has lose those IPs. Everything dropped
// is described in `dropped`. Asks nothing of hostport.
Scenario MakeValid(HostSpec host, std::vector<PodRequest> raw);

// One packet and who sends it, for reading a counterexample.
struct Probe {
  std::string client;  // "external eth0", "host", "pod 10.88.0.2", ...
  sim::Packet packet;  // src always set (semantics::Expect requires it)
};

// Every client of every mapping, in each family the mapping applies to and the
// pod has an address of: external on each host interface to each host address
// of the family and to its loopback, host-local to each local address incl.
// 127.0.0.1 and ::1, every pod address (the pod itself, other pods) to each
// host address. Mappings bound to an address the host lacks are probed on the
// host's addresses only (nothing routes their own address to the host).
// Besides, the host and one pod address to a neighbour (an address on the first
// external interface's subnet, or the pod bridge's, that is neither the host's
// nor a pod's: 192.0.2.99, 2001:db8::99, ...): a mapped port on a machine that
// is not the host is never taken.
std::vector<Probe> MappingProbes(const Scenario& s);
// The same clients to every mapped port with its mapped protocols and one
// protocol unmapped there, and to one port nothing maps: every kind of packet
// the host can meet, mapped or not.
std::vector<Probe> AllProbes(const Scenario& s);

// The pod addresses pods are given: four of each family in the pod network.
const std::vector<std::string>& PodIpPool();

// Ports that mappings often share so that they collide, the edges of the
// range among them; generators mix them with uniform draws from 1..65535.
const std::vector<int>& PortPool();
// A port no mapping of `s` uses.
int UnusedPort(const Scenario& s);

std::string DescribeProbe(const Probe& p);
std::string DescribeResult(const sim::TraceResult& r);

enum class Backend { kIptables, kNftables };
std::string BackendName(Backend b);

// PlanPod of every pod; an error naming the pod when hostport refuses one
// (for pods of a valid scenario, a hostport bug or a //semantics one).
absl::StatusOr<std::vector<PodPlan>> Plans(const std::vector<PodRequest>& pods);

// IptablesRenderer().Full / NftRenderer().Full, rendered.
std::string RenderFull(Backend b, IPFamily f, const std::vector<PodPlan>& pods);

// A simulator over ruleset texts, each with its family.
absl::StatusOr<std::unique_ptr<sim::Simulator>> SimulateTexts(
    const std::vector<std::pair<IPFamily, std::string>>& texts,
    const sim::HostModel& host);
// A simulator over `b`'s complete rendering of the scenario's pods; fails
// when Plans does.
absl::StatusOr<std::unique_ptr<sim::Simulator>> SimulateFull(Backend b,
                                                             const Scenario& s);

// The first address literal in ruleset `text` that is not of family `f`
// ("10.0.0.5:80" and "[fd00::5]:80" endpoints included), or "".
std::string ForeignAddress(const std::string& text, IPFamily f);

// Verdict, endpoint and source seen, comparable across rulesets.
struct Outcome {
  sim::PacketVerdict verdict = sim::PacketVerdict::kDropped;
  std::string to;
  std::string source;
  bool dnat = false;
  friend bool operator==(const Outcome& a, const Outcome& b) {
    return a.verdict == b.verdict && a.to == b.to && a.source == b.source &&
           a.dnat == b.dnat;
  }
};
Outcome OutcomeOf(const sim::TraceResult& r);
std::string DescribeOutcome(const Outcome& o);

// The first probe where `simulator` disagrees with semantics::Expect,
// described; or nullopt. Probes for which `skip` is true are not looked at.
template <typename Skip>
std::optional<std::string> FirstMismatch(const Scenario& s,
                                         const sim::HostModel& host,
                                         const sim::Simulator& simulator,
                                         const std::vector<Probe>& probes,
                                         Skip skip);

// --- implementation of the template ---

template <typename Skip>
std::optional<std::string> FirstMismatch(const Scenario& s,
                                         const sim::HostModel& host,
                                         const sim::Simulator& simulator,
                                         const std::vector<Probe>& probes,
                                         Skip skip) {
  sim::TraceOptions fast;
  fast.record_trace = false;
  const std::vector<semantics::Pod> pods = SemanticPods(s.pods);
  for (const Probe& p : probes) {
    if (skip(p)) continue;
    const semantics::Expected e = semantics::Expect(pods, host, p.packet);
    absl::StatusOr<sim::TraceResult> r = simulator.Trace(p.packet, fast);
    if (!r.ok()) {
      return DescribeProbe(p) + ": simulator error " +
             std::string(r.status().message());
    }
    if (!semantics::Agrees(e, *r)) {
      sim::TraceResult traced = *simulator.Trace(p.packet);
      std::string trace;
      for (const std::string& line : traced.trace) trace += "\n    " + line;
      return DescribeProbe(p) + "\n  expected " + e.Text() + "\n  simulator " +
             DescribeResult(*r) + trace;
    }
  }
  return std::nullopt;
}

}  // namespace hostport::properties

#endif  // HOSTPORT_PROPERTIES_SCENARIO_H_
