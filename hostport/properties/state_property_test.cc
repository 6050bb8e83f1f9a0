// Properties of changes, on the kernel-like fakes: Add then Remove returns to
// the previous state and Remove of an unknown id changes nothing, AddPod
// deltas add up to Full (4); the order of Adds does not matter (5); conflicts
// are refused exactly where DESIGN §4 says, and non-conflicting pods are both
// reachable (7).
#include <algorithm>
#include <memory>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hostport/model/conflict.h"
#include "hostport/model/ip_address.h"
#include "hostport/model/plan.h"
#include "hostport/properties/generators.h"
#include "hostport/properties/harness.h"
#include "hostport/render/iptables_renderer.h"
#include "hostport/render/nft_renderer.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace hostport::properties {
namespace {

const char* NftFamily(IPFamily f) {
  return f == IPFamily::kIPv4 ? "ip" : "ip6";
}

std::string NftList(testing::FakeNft& nft, IPFamily f) {
  absl::StatusOr<std::string> t =
      nft.List(absl::StrCat("list table ", NftFamily(f), " crio-hostports"));
  return t.ok() ? *t : "";
}

PodPortMapping WithoutIps(PodPortMapping pod) {
  pod.ips.clear();
  return pod;
}

RC_GTEST_PROP(AddRemoveProperty, RendererAddThenRemoveRestoresTheFakes, ()) {
  const Scenario s = *GenScenario();
  const std::vector<PodPlan> plans = Plans(s.pods);
  const std::vector<PodPlan> before(plans.begin(), plans.end() - 1);
  const PodPlan& last = plans.back();
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    testing::FakeIptables ipt;
    const IptablesRenderer ir;
    RC_ASSERT(ipt.Restore(f, ir.Full(f, before).Render()).ok());
    const std::string ipt0 = ipt.Save(f);
    IptablesTransaction add(f), remove(f);
    ir.AddPod(last, &add);
    ir.RemovePod(last, &remove);
    if (!add.empty()) {
      const absl::Status a = ipt.Restore(f, add.Render());
      RC_ASSERT(a.ok());
      const absl::Status r = ipt.Restore(f, remove.Render());
      if (!r.ok()) RC_FAIL(std::string(r.message()) + "\n" + remove.Render());
    }
    RC_ASSERT(ipt.Save(f) == ipt0);

    testing::FakeNft nft;
    const NftRenderer nr;
    RC_ASSERT(nft.Apply(nr.Full(f, before).Render()).ok());
    const std::string nft0 = NftList(nft, f);
    NftTransaction nadd, nremove;
    nr.AddPod(f, last, &nadd);
    nr.RemovePod(f, last, &nremove);
    if (!nadd.empty()) {
      RC_ASSERT(nft.Apply(nadd.Render()).ok());
      const absl::Status r = nft.Apply(nremove.Render());
      if (!r.ok()) RC_FAIL(std::string(r.message()) + "\n" + nremove.Render());
    }
    RC_ASSERT(NftList(nft, f) == nft0);
  }
}

RC_GTEST_PROP(AddRemoveProperty, AddPodDeltasEqualFull, ()) {
  const Scenario s = *GenScenario();
  const std::vector<PodPlan> plans = Plans(s.pods);
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    const IptablesRenderer ir;
    testing::FakeIptables delta, full;
    IptablesTransaction base(f);
    ir.AddBase(f, &base);
    RC_ASSERT(delta.Restore(f, base.Render()).ok());
    for (const PodPlan& p : plans) {
      IptablesTransaction tx(f);
      ir.AddPod(p, &tx);
      if (!tx.empty()) RC_ASSERT(delta.Restore(f, tx.Render()).ok());
    }
    RC_ASSERT(full.Restore(f, ir.Full(f, plans).Render()).ok());
    RC_ASSERT(delta.Save(f) == full.Save(f));

    const NftRenderer nr;
    testing::FakeNft ndelta, nfull;
    NftTransaction nbase;
    nr.AddBase(f, &nbase);
    RC_ASSERT(ndelta.Apply(nbase.Render()).ok());
    for (const PodPlan& p : plans) {
      NftTransaction tx;
      nr.AddPod(f, p, &tx);
      if (!tx.empty()) RC_ASSERT(ndelta.Apply(tx.Render()).ok());
    }
    RC_ASSERT(nfull.Apply(nr.Full(f, plans).Render()).ok());
    RC_ASSERT(NftList(ndelta, f) == NftList(nfull, f));
  }
}

RC_GTEST_PROP(AddRemoveProperty, ManagerAddThenRemoveRestoresTheFakes, ()) {
  const Scenario s = *GenScenario();
  const Backend b = *rc::gen::element(Backend::kIptables, Backend::kNftables);
  FakeHost h;
  std::unique_ptr<HostPortManager> m = h.NewManager(b);
  RC_ASSERT(m != nullptr);
  for (size_t i = 0; i + 1 < s.pods.size(); ++i) {
    const PodRequest& e = s.pods[i];
    const absl::Status a = m->Add(e.id, e.pod, e.nat_interface);
    if (!a.ok()) RC_FAIL(std::string(a.message()));
  }
  const std::string state0 = h.State();
  const std::vector<std::string> held0 = HeldPorts(h.ports);

  // Remove of an unknown id is a no-op.
  RC_ASSERT(m->Remove("no-such-pod", PodPortMapping{}).ok());
  RC_ASSERT(h.State() == state0);
  RC_ASSERT(HeldPorts(h.ports) == held0);

  const PodRequest& last = s.pods.back();
  const absl::Status a = m->Add(last.id, last.pod, last.nat_interface);
  if (!a.ok()) RC_FAIL(std::string(a.message()));
  const absl::Status r = m->Remove(last.id, WithoutIps(last.pod));
  if (!r.ok()) RC_FAIL(std::string(r.message()));
  RC_ASSERT(h.State() == state0);
  RC_ASSERT(HeldPorts(h.ports) == held0);
}

// Add then Remove on an empty host returns to the starting state: the last
// Remove takes the base (table, shared chains and jumps) away again. (Found by
// this property; the base used to stay.)
RC_GTEST_PROP(AddRemoveProperty, AddThenRemoveOnAnEmptyHostLeavesNothing, ()) {
  const Scenario s = *GenScenario();
  const Backend b = *rc::gen::element(Backend::kIptables, Backend::kNftables);
  FakeHost h;
  std::unique_ptr<HostPortManager> m = h.NewManager(b);
  RC_ASSERT(m != nullptr);
  const std::string state0 = h.State();
  for (const PodRequest& e : s.pods) {
    RC_ASSERT(m->Add(e.id, e.pod, e.nat_interface).ok());
  }
  for (const PodRequest& e : s.pods) {
    RC_ASSERT(m->Remove(e.id, WithoutIps(e.pod)).ok());
  }
  RC_ASSERT(h.State() == state0);
}

// Verdicts of the fakes' state for every mapping's clients.
std::vector<std::string> Verdicts(const FakeHost& h, const Scenario& s) {
  std::vector<std::string> out;
  absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
      h.Simulate(s.host.Model(s.pods));
  RC_ASSERT(simulator.ok());
  sim::TraceOptions fast;
  fast.record_trace = false;
  for (const Probe& p : MappingProbes(s)) {
    absl::StatusOr<sim::TraceResult> r = (*simulator)->Trace(p.packet, fast);
    RC_ASSERT(r.ok());
    out.push_back(DescribeProbe(p) + ": " + DescribeOutcome(OutcomeOf(*r)));
  }
  return out;
}

RC_GTEST_PROP(OrderProperty, AnyOrderOfAddsGivesTheSameReachability, ()) {
  const Scenario s = *GenScenario();
  const Backend b = *rc::gen::element(Backend::kIptables, Backend::kNftables);
  // Sort keys: shrinking sets them to 0, i.e. towards the identity order.
  const std::vector<int> keys = *rc::gen::container<std::vector<int>>(
      s.pods.size(),
      rc::gen::resize(rc::kNominalSize, rc::gen::inRange(0, 100)));
  std::vector<size_t> order(s.pods.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return keys[x] < keys[y]; });
  FakeHost in_order, permuted;
  std::unique_ptr<HostPortManager> m1 = in_order.NewManager(b);
  std::unique_ptr<HostPortManager> m2 = permuted.NewManager(b);
  RC_ASSERT(m1 != nullptr && m2 != nullptr);
  for (const PodRequest& e : s.pods) {
    RC_ASSERT(m1->Add(e.id, e.pod, e.nat_interface).ok());
  }
  for (size_t i : order) {
    const PodRequest& e = s.pods[i];
    RC_ASSERT(m2->Add(e.id, e.pod, e.nat_interface).ok());
  }
  const std::vector<std::string> v1 = Verdicts(in_order, s);
  const std::vector<std::string> v2 = Verdicts(permuted, s);
  for (size_t i = 0; i < v1.size(); ++i) {
    if (v1[i] != v2[i]) {
      RC_FAIL(absl::StrCat(BackendName(b), " in order: ", v1[i],
                           "\n  permuted: ", v2[i]));
    }
  }
  RC_ASSERT(HeldPorts(in_order.ports) == HeldPorts(permuted.ports));
}

// DESIGN §4's conflict rule, written down on its own: same protocol and port
// in a family both pods map (have an address of), on the same HostIP or with
// either side a wildcard of that family.
bool Conflict(const PodRequest& a, const PodRequest& b) {
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    auto has = [f](const PodRequest& e) {
      for (const std::string& ip : e.pod.ips) {
        if (IpAddress::Parse(ip)->family() == f) return true;
      }
      return false;
    };
    if (!has(a) || !has(b)) continue;
    // nullopt: every address of f; "skip": not in f.
    auto bound = [f](const PortMapping& m,
                     bool* applies) -> std::optional<IpAddress> {
      *applies = true;
      if (m.host_ip.empty()) return std::nullopt;
      const IpAddress ip = *IpAddress::Parse(m.host_ip);
      *applies = ip.family() == f;
      if (ip.IsUnspecified()) return std::nullopt;
      return ip;
    };
    for (const PortMapping& ma : a.pod.port_mappings) {
      for (const PortMapping& mb : b.pod.port_mappings) {
        if (ma.protocol != mb.protocol || ma.host_port != mb.host_port) {
          continue;
        }
        bool aa, ab;
        const std::optional<IpAddress> ha = bound(ma, &aa);
        const std::optional<IpAddress> hb = bound(mb, &ab);
        if (!aa || !ab) continue;
        if (!ha || !hb || *ha == *hb) return true;
      }
    }
  }
  return false;
}

RC_GTEST_PROP(ConflictProperty, RefusedExactlyWhenTheyConflict, ()) {
  const HostSpec host = *GenHostSpec();
  const std::vector<PodRequest> raw = *GenRawPods(host);
  const std::vector<PodRequest> raw2 = *GenRawPods(host);
  Scenario sa = MakeValid(host, {raw[0]});
  PodRequest b = MakeValid(host, {raw2[0]}).pods.at(0);
  b.id = "other";
  // Distinct pods have distinct IPs.
  std::vector<std::string> ips;
  for (const std::string& ip : b.pod.ips) {
    if (std::find(sa.pods[0].pod.ips.begin(), sa.pods[0].pod.ips.end(), ip) ==
        sa.pods[0].pod.ips.end()) {
      ips.push_back(ip);
    }
  }
  b.pod.ips = ips;
  // A pod with mappings needs an IP (PlanPod refuses it otherwise).
  RC_PRE(!b.pod.ips.empty() || b.pod.port_mappings.empty());
  const PodRequest& a = sa.pods[0];
  absl::StatusOr<PodPlan> pa = PlanPod(a.id, a.pod, a.nat_interface);
  absl::StatusOr<PodPlan> pb = PlanPod(b.id, b.pod, b.nat_interface);
  RC_ASSERT(pa.ok());
  RC_ASSERT(pb.ok());
  const bool conflict = Conflict(a, b);
  RC_TAG(conflict ? "conflict" : "no conflict");

  PortClaims claims;
  claims.Claim(*pa);
  const absl::Status check = claims.Check(*pb);
  if (check.ok() == conflict) {
    RC_FAIL(absl::StrCat("PortClaims says \"", check.ToString(),
                         "\" but DESIGN §4 says ",
                         conflict ? "conflict" : "no conflict"));
  }

  const Backend backend =
      *rc::gen::element(Backend::kIptables, Backend::kNftables);
  FakeHost h;
  std::unique_ptr<HostPortManager> m = h.NewManager(backend);
  RC_ASSERT(m != nullptr);
  RC_ASSERT(m->Add(a.id, a.pod, a.nat_interface).ok());
  const std::string state0 = h.State();
  const std::vector<std::string> held0 = HeldPorts(h.ports);
  const absl::Status added = m->Add(b.id, b.pod, b.nat_interface);
  if (conflict) {
    RC_ASSERT(!added.ok());
    RC_ASSERT(!added.message().empty());
    RC_ASSERT(h.State() == state0);
    RC_ASSERT(HeldPorts(h.ports) == held0);
    return;
  }
  if (!added.ok()) RC_FAIL(std::string(added.message()));
  Scenario both;
  both.host = host;
  both.pods = {a, b};
  const sim::HostModel model = host.Model(both.pods);
  absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator = h.Simulate(model);
  RC_ASSERT(simulator.ok());
  std::optional<std::string> mismatch =
      FirstMismatch(both, model, **simulator, MappingProbes(both),
                    [](const Probe&) { return false; });
  if (mismatch) RC_FAIL(BackendName(backend) + ": " + *mismatch);
}

}  // namespace
}  // namespace hostport::properties
