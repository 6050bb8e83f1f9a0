// Properties of the rendered rulesets, for both backends: reachability equals
// DESIGN §4 (semantics::Expect) for every mapping and client (1), nothing
// unclaimed is DNATed — a neighbour's port the host sends to included — and
// bound mappings answer only on their address (2), each family's ruleset
// names only its own addresses and skipped mappings are reported (3), and
// iptables and nftables give the same verdict for every packet (6).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hostport/model/plan.h"
#include "hostport/properties/generators.h"
#include "hostport/properties/harness.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "semantics/semantics.h"

namespace hostport::properties {
namespace {

void CheckReachability(Backend b, const Scenario& s) {
  size_t mappings = 0;
  for (const PodRequest& e : s.pods) mappings += e.pod.port_mappings.size();
  RC_CLASSIFY(mappings == 0, "no mapping kept");
  RC_CLASSIFY(mappings >= 4, "4+ mappings kept");
  RC_CLASSIFY(s.pods.size() >= 3, "3+ pods");
  const std::unique_ptr<sim::Simulator> simulator = MustSimulate(b, s);
  const sim::HostModel host = s.host.Model(s.pods);
  std::optional<std::string> mismatch =
      FirstMismatch(s, host, *simulator, MappingProbes(s),
                    [](const Probe&) { return false; });
  if (mismatch) RC_FAIL(BackendName(b) + ": " + *mismatch);
}

RC_GTEST_PROP(ReachabilityProperty, IptablesMatchesTheSemantics, ()) {
  CheckReachability(Backend::kIptables, *GenScenario());
}

RC_GTEST_PROP(ReachabilityProperty, NftablesMatchesTheSemantics, ()) {
  CheckReachability(Backend::kNftables, *GenScenario());
}

// A neighbour sending to 127.0.0.1 reaches a wildcard IPv4 mapping, as on the
// kernel (DNAT runs before routing could call the packet martian), but never a
// loopback-bound one, and never through ::1 (found by this property and by the
// e2e traffic test; semantics::Expect says so since).
RC_GTEST_PROP(ReachabilityProperty, LoopbackDestinationsFromOutside, ()) {
  const Scenario s = *GenScenario();
  const Backend b = *rc::gen::element(Backend::kIptables, Backend::kNftables);
  const std::unique_ptr<sim::Simulator> simulator = MustSimulate(b, s);
  const sim::HostModel host = s.host.Model(s.pods);
  std::optional<std::string> mismatch =
      FirstMismatch(s, host, *simulator, MappingProbes(s), [&](const Probe& p) {
        return !(p.packet.origin.kind == sim::PacketOrigin::Kind::kExternal &&
                 p.packet.dst.IsLoopback());
      });
  if (mismatch) RC_FAIL(BackendName(b) + ": " + *mismatch);
}

void CheckIsolation(Backend b, const Scenario& s) {
  const std::unique_ptr<sim::Simulator> simulator = MustSimulate(b, s);
  const sim::HostModel host = s.host.Model(s.pods);
  const std::vector<semantics::Pod> pods = SemanticPods(s.pods);
  sim::TraceOptions fast;
  fast.record_trace = false;
  for (const Probe& p : AllProbes(s)) {
    absl::StatusOr<sim::TraceResult> r = simulator->Trace(p.packet, fast);
    RC_ASSERT(r.ok());
    const Outcome o = OutcomeOf(*r);
    const std::optional<semantics::Claim> claim =
        semantics::Claimant(pods, host, p.packet);
    if (!claim) {
      // Unclaimed (address, port, protocol) — including a bound mapping's
      // port on any other address, and any port of a machine that is not
      // the host: never DNATed.
      if (o.dnat) {
        RC_FAIL(absl::StrCat(BackendName(b), ": ", DescribeProbe(p),
                             " is claimed by no mapping but ",
                             DescribeOutcome(o)));
      }
      continue;
    }
    const PortMapping& m = *claim->mapping;
    if (o.dnat && o.verdict == sim::PacketVerdict::kDelivered) {
      // DNATed only to the claiming pod's first address of the family.
      const std::string want =
          semantics::Target(*claim->pod, p.packet.dst.family())
              ->WithPort(static_cast<uint16_t>(m.container_port));
      if (o.to != want) {
        RC_FAIL(absl::StrCat(BackendName(b), ": ", DescribeProbe(p),
                             " should reach ", want, " but ",
                             DescribeOutcome(o)));
      }
    }
    // A loopback-bound mapping is never reachable from outside the host.
    const std::optional<sim::IpAddress> bound = semantics::BoundAddress(m);
    if (p.packet.origin.kind == sim::PacketOrigin::Kind::kExternal && bound &&
        bound->IsLoopback() && o.verdict == sim::PacketVerdict::kDelivered) {
      RC_FAIL(absl::StrCat(BackendName(b), ": ", DescribeProbe(p),
                           " reaches a loopback-bound mapping from outside: ",
                           DescribeOutcome(o)));
    }
  }
}

RC_GTEST_PROP(IsolationProperty, IptablesDnatsOnlyWhatIsClaimed, ()) {
  CheckIsolation(Backend::kIptables, *GenScenario());
}

RC_GTEST_PROP(IsolationProperty, NftablesDnatsOnlyWhatIsClaimed, ()) {
  CheckIsolation(Backend::kNftables, *GenScenario());
}

void CheckFamilies(Backend b, const Scenario& s) {
  const std::vector<PodPlan> plans = MustPlan(s.pods);
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    const std::string text = RenderFull(b, f, plans);
    const std::string foreign = ForeignAddress(text, f);
    if (!foreign.empty()) {
      RC_FAIL(absl::StrCat(BackendName(b), " IPv", IPFamilyName(f),
                           " ruleset names ", foreign, ":\n", text));
    }
  }
  const std::vector<semantics::Pod> pods = SemanticPods(s.pods);
  for (size_t i = 0; i < pods.size(); ++i) {
    const semantics::Pod& pod = pods[i];
    const PodPlan& plan = plans[i];
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      const sim::IpFamily sf =
          f == IPFamily::kIPv4 ? sim::IpFamily::kV4 : sim::IpFamily::kV6;
      const bool pod_has = semantics::Target(pod, sf).has_value();
      for (size_t k = 0; k < pod.pod.port_mappings.size(); ++k) {
        const PortMapping& m = pod.pod.port_mappings[k];
        bool planned = false, skipped = false;
        for (const PlannedMapping& pm : plan.family(f).mappings) {
          planned |= pm.index == static_cast<int>(k);
        }
        for (const SkippedMapping& sm : plan.skipped) {
          skipped |= sm.index == static_cast<int>(k) && sm.family == f &&
                     !sm.reason.empty();
        }
        if (!semantics::Names(m, sf)) {
          RC_ASSERT(!planned);
        } else if (pod_has) {
          RC_ASSERT(planned);
          RC_ASSERT(!skipped);
        } else {
          // A HostIP of a family the pod lacks maps nothing, and says so.
          RC_ASSERT(!planned);
          RC_ASSERT(skipped);
        }
      }
    }
  }
}

RC_GTEST_PROP(FamilyProperty, IptablesKeepsFamiliesApart, ()) {
  CheckFamilies(Backend::kIptables, *GenScenario());
}

RC_GTEST_PROP(FamilyProperty, NftablesKeepsFamiliesApart, ()) {
  CheckFamilies(Backend::kNftables, *GenScenario());
}

RC_GTEST_PROP(BackendAgreementProperty, SameVerdictForEveryPacket, ()) {
  const Scenario s = *GenScenario();
  const std::unique_ptr<sim::Simulator> ipt =
      MustSimulate(Backend::kIptables, s);
  const std::unique_ptr<sim::Simulator> nft =
      MustSimulate(Backend::kNftables, s);
  sim::TraceOptions fast;
  fast.record_trace = false;
  for (const Probe& p : AllProbes(s)) {
    absl::StatusOr<sim::TraceResult> a = ipt->Trace(p.packet, fast);
    absl::StatusOr<sim::TraceResult> b = nft->Trace(p.packet, fast);
    RC_ASSERT(a.ok());
    RC_ASSERT(b.ok());
    Outcome oa = OutcomeOf(*a), ob = OutcomeOf(*b);
    if (!(oa == ob)) {
      RC_FAIL(absl::StrCat(DescribeProbe(p), "\n  iptables ",
                           DescribeResult(*a), "\n  nftables ",
                           DescribeResult(*b)));
    }
  }
}

}  // namespace
}  // namespace hostport::properties
