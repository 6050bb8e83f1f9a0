// Harness for hostport's property tests: renders a Scenario with either
// backend, builds the simulator over the rendered text (or over what the
// kernel-like fakes hold), and compares the simulator's verdicts with
// Expect(), DESIGN §4 written down independently of the renderers.
#ifndef HOSTPORT_PROPERTIES_HARNESS_H_
#define HOSTPORT_PROPERTIES_HARNESS_H_

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "hostport/hostport_manager.h"
#include "hostport/plan.h"
#include "hostport/port_holder.h"
#include "hostport/properties/generators.h"
#include "hostport/testing/fakes.h"
#include "sim/simulator.h"
#include "tools/reachability.h"

namespace hostport::properties {

enum class Backend { kIptables, kNftables };
std::string BackendName(Backend b);
void showValue(Backend b, std::ostream& os);

// PlanPod of every pod. REQUIRES: a valid scenario (MakeValid).
std::vector<PodPlan> Plans(const std::vector<PodEntry>& pods);

// IptablesRenderer().Full / NftRenderer().Full, rendered.
std::string RenderFull(Backend b, IPFamily f, const std::vector<PodPlan>& pods);

// A simulator over ruleset texts, each with its family.
absl::StatusOr<std::unique_ptr<sim::Simulator>> SimulateTexts(
    const std::vector<std::pair<IPFamily, std::string>>& texts,
    const sim::HostModel& host);
// A simulator over `b`'s complete rendering of the scenario's pods.
absl::StatusOr<std::unique_ptr<sim::Simulator>> SimulateFull(Backend b,
                                                             const Scenario& s);

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

// Whether the simulator's result is what Expect() says (endpoint and source
// seen when delivered).
bool Matches(const Expected& e, const sim::TraceResult& r);

// The one case the simulator cannot see for iptables yet: it ignores table
// raw, where the iptables rendering drops an external packet to a
// 127.0.0.1-bound hostport (the loopback guard). True for an external IPv4
// packet to a loopback destination that a mapping bound to that address
// claims (of a pod that has an IPv4 address, so the mapping is not skipped).
bool IsRawTableGuardCase(const Scenario& s, const sim::Packet& p);

// The first probe where `simulator` disagrees with Expect(), described; or
// nullopt. Probes for which `skip` is true are not looked at.
template <typename Skip>
std::optional<std::string> FirstMismatch(const Scenario& s,
                                         const sim::HostModel& host,
                                         const sim::Simulator& simulator,
                                         const std::vector<Probe>& probes,
                                         Skip skip);

// The OS seams of a manager, all fakes, and the manager over them.
struct FakeHost {
  FakeHost();
  // A meta manager preferring `b` (iptables: the iptables-nft variant).
  std::unique_ptr<HostPortManager> NewManager(Backend b);
  // iptables-save of both families plus `nft list table` of both families:
  // everything the fakes hold.
  std::string State() const;
  // The simulator over what the fakes hold (Save / List text).
  absl::StatusOr<std::unique_ptr<sim::Simulator>> Simulate(
      const sim::HostModel& host) const;

  testing::FakeIptables iptables;
  testing::FakeNft nft;
  testing::FakePortHolder ports;
  testing::FakeConntrack conntrack;
  testing::FakeSysctl sysctl;
  std::vector<std::string> log;
};

// The ports a manager must hold for `plans`: one per planned mapping and
// family, sorted by ToString().
std::vector<std::string> ExpectedHeldPorts(const std::vector<PodPlan>& plans);
std::vector<std::string> HeldPorts(const testing::FakePortHolder& ports);

// --- implementation of the template ---

template <typename Skip>
std::optional<std::string> FirstMismatch(const Scenario& s,
                                         const sim::HostModel& host,
                                         const sim::Simulator& simulator,
                                         const std::vector<Probe>& probes,
                                         Skip skip) {
  sim::TraceOptions fast;
  fast.record_trace = false;
  for (const Probe& p : probes) {
    if (skip(p)) continue;
    const Expected e = Expect(s.pods, host, p.packet);
    absl::StatusOr<sim::TraceResult> r = simulator.Trace(p.packet, fast);
    if (!r.ok()) {
      return DescribeProbe(p) + ": simulator error " +
             std::string(r.status().message());
    }
    if (!Matches(e, *r)) {
      sim::TraceResult traced = *simulator.Trace(p.packet);
      std::string trace;
      for (const std::string& line : traced.trace) trace += "\n    " + line;
      return DescribeProbe(p) + "\n  expected " +
             OutcomeText(e.verdict, e.to, e.source) + "\n  simulator " +
             DescribeResult(*r) + trace;
    }
  }
  return std::nullopt;
}

}  // namespace hostport::properties

#endif  // HOSTPORT_PROPERTIES_HARNESS_H_
