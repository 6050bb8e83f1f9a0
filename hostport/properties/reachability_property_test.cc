// Properties of the rendered rulesets, for both backends: reachability equals
// DESIGN §4 (Expect()) for every mapping and client (1), nothing unclaimed is
// DNATed and bound mappings answer only on their address (2), each family's
// ruleset names only its own addresses and skipped mappings are reported (3),
// and iptables and nftables give the same verdict for every packet (6).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hostport/model/ip_address.h"
#include "hostport/model/plan.h"
#include "hostport/properties/generators.h"
#include "hostport/properties/harness.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace hostport::properties {
namespace {

void CheckReachability(Backend b, const Scenario& s) {
  size_t mappings = 0;
  for (const PodRequest& e : s.pods) mappings += e.pod.port_mappings.size();
  RC_CLASSIFY(mappings == 0, "no mapping kept");
  RC_CLASSIFY(mappings >= 4, "4+ mappings kept");
  RC_CLASSIFY(s.pods.size() >= 3, "3+ pods");
  absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
      SimulateFull(b, s);
  RC_ASSERT(simulator.ok());
  const sim::HostModel host = s.host.Model(s.pods);
  std::optional<std::string> mismatch =
      FirstMismatch(s, host, **simulator, MappingProbes(s),
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
// e2e traffic test; Expect() says so since).
RC_GTEST_PROP(ReachabilityProperty, LoopbackDestinationsFromOutside, ()) {
  const Scenario s = *GenScenario();
  const Backend b = *rc::gen::element(Backend::kIptables, Backend::kNftables);
  absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
      SimulateFull(b, s);
  RC_ASSERT(simulator.ok());
  const sim::HostModel host = s.host.Model(s.pods);
  std::optional<std::string> mismatch = FirstMismatch(
      s, host, **simulator, MappingProbes(s), [&](const Probe& p) {
        return !(p.packet.origin.kind == sim::PacketOrigin::Kind::kExternal &&
                 p.packet.dst.IsLoopback());
      });
  if (mismatch) RC_FAIL(BackendName(b) + ": " + *mismatch);
}

// Which mapping (pod, index) claims `p`, per DESIGN §4; nullptr if none.
const PortMapping* Claimant(const Scenario& s, const sim::Packet& p,
                            const PodRequest** owner) {
  const IPFamily f = p.dst.is_v4() ? IPFamily::kIPv4 : IPFamily::kIPv6;
  for (const PodRequest& e : s.pods) {
    bool has_family = false;
    for (const std::string& ip : e.pod.ips) {
      has_family |= IpAddress::Parse(ip)->family() == f;
    }
    if (!has_family) continue;
    for (const PortMapping& m : e.pod.port_mappings) {
      if (m.host_port != p.dst_port ||
          sim::ProtocolName(p.protocol) != ProtocolKeyword(m.protocol)) {
        continue;
      }
      bool claims = false;
      if (m.host_ip.empty()) {
        claims = true;
      } else if (m.host_ip == "0.0.0.0" || m.host_ip == "::") {
        claims = IpAddress::Parse(m.host_ip)->family() == f;
      } else {
        claims = *sim::IpAddress::Parse(m.host_ip) == p.dst;
      }
      if (claims) {
        *owner = &e;
        return &m;
      }
    }
  }
  return nullptr;
}

void CheckIsolation(Backend b, const Scenario& s) {
  absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
      SimulateFull(b, s);
  RC_ASSERT(simulator.ok());
  sim::TraceOptions fast;
  fast.record_trace = false;
  for (const Probe& p : AllProbes(s)) {
    absl::StatusOr<sim::TraceResult> r = (*simulator)->Trace(p.packet, fast);
    RC_ASSERT(r.ok());
    const Outcome o = OutcomeOf(*r);
    const PodRequest* owner = nullptr;
    const PortMapping* m = Claimant(s, p.packet, &owner);
    if (m == nullptr) {
      // Unclaimed (address, port, protocol) — including a bound mapping's
      // port on any other address: never DNATed.
      if (o.dnat) {
        RC_FAIL(absl::StrCat(BackendName(b), ": ", DescribeProbe(p),
                             " is claimed by no mapping but ",
                             DescribeOutcome(o)));
      }
      continue;
    }
    if (o.dnat) {
      // DNATed only to the claiming pod's first address of the family.
      const IPFamily f =
          p.packet.dst.is_v4() ? IPFamily::kIPv4 : IPFamily::kIPv6;
      std::string first;
      for (const std::string& ip : owner->pod.ips) {
        if (IpAddress::Parse(ip)->family() == f && first.empty()) {
          first = IpAddress::Parse(ip)->ToBracketedString();
        }
      }
      const std::string want = absl::StrCat(first, ":", m->container_port);
      if (o.verdict == sim::PacketVerdict::kDelivered && o.to != want) {
        RC_FAIL(absl::StrCat(BackendName(b), ": ", DescribeProbe(p),
                             " should reach ", want, " but ",
                             DescribeOutcome(o)));
      }
    }
    // A loopback-bound mapping is never reachable from outside the host.
    if (p.packet.origin.kind == sim::PacketOrigin::Kind::kExternal &&
        !m->host_ip.empty() && IpAddress::Parse(m->host_ip)->IsLoopback() &&
        o.verdict == sim::PacketVerdict::kDelivered) {
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
  const std::vector<PodPlan> plans = Plans(s.pods);
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    const std::string text = RenderFull(b, f, plans);
    const std::string foreign = ForeignAddress(text, f);
    if (!foreign.empty()) {
      RC_FAIL(absl::StrCat(BackendName(b), " IPv", IPFamilyName(f),
                           " ruleset names ", foreign, ":\n", text));
    }
  }
  for (size_t i = 0; i < s.pods.size(); ++i) {
    const PodRequest& e = s.pods[i];
    const PodPlan& plan = plans[i];
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      bool pod_has = false;
      for (const std::string& ip : e.pod.ips) {
        pod_has |= IpAddress::Parse(ip)->family() == f;
      }
      for (size_t k = 0; k < e.pod.port_mappings.size(); ++k) {
        const PortMapping& m = e.pod.port_mappings[k];
        const bool names_family =
            m.host_ip.empty() || IpAddress::Parse(m.host_ip)->family() == f;
        bool planned = false, skipped = false;
        for (const PlannedMapping& pm : plan.family(f).mappings) {
          planned |= pm.index == static_cast<int>(k);
        }
        for (const SkippedMapping& sm : plan.skipped) {
          skipped |= sm.index == static_cast<int>(k) && sm.family == f &&
                     !sm.reason.empty();
        }
        if (!names_family) {
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
  absl::StatusOr<std::unique_ptr<sim::Simulator>> ipt =
      SimulateFull(Backend::kIptables, s);
  absl::StatusOr<std::unique_ptr<sim::Simulator>> nft =
      SimulateFull(Backend::kNftables, s);
  RC_ASSERT(ipt.ok());
  RC_ASSERT(nft.ok());
  sim::TraceOptions fast;
  fast.record_trace = false;
  for (const Probe& p : AllProbes(s)) {
    absl::StatusOr<sim::TraceResult> a = (*ipt)->Trace(p.packet, fast);
    absl::StatusOr<sim::TraceResult> b = (*nft)->Trace(p.packet, fast);
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
