// Harness for hostport's property tests: renders a Scenario with either
// backend, builds the simulator over the rendered text (or over what the
// kernel-like fakes hold), and compares the simulator's verdicts with
// //semantics, DESIGN §4 written down independently of hostport.
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
#include "hostport/model/plan.h"
#include "hostport/os/port_holder.h"
#include "hostport/properties/generators.h"
#include "hostport/properties/scenario.h"
#include "hostport/testing/fakes.h"
#include "sim/simulator.h"

namespace hostport::properties {

void showValue(Backend b, std::ostream& os);

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

// Plans(pods), or the property fails with hostport's refusal.
std::vector<PodPlan> MustPlan(const std::vector<PodRequest>& pods);
// SimulateFull(b, s), or the property fails saying why.
std::unique_ptr<sim::Simulator> MustSimulate(Backend b, const Scenario& s);

// The ports a manager must hold for `plans`: one per planned mapping and
// family, sorted by ToString().
std::vector<std::string> ExpectedHeldPorts(const std::vector<PodPlan>& plans);
std::vector<std::string> HeldPorts(const testing::FakePortHolder& ports);

}  // namespace hostport::properties

#endif  // HOSTPORT_PROPERTIES_HARNESS_H_
