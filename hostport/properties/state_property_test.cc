// Properties of changes, on the kernel-like fakes: Add then Remove returns to
// the previous state and Remove of an unknown id changes nothing, AddPod
// deltas add up to Full (4); the order of Adds does not matter (5); conflicts
// are refused exactly where DESIGN §4 (//semantics) says, and non-conflicting
// pods are both reachable (7); PlanPod and PortClaims accept exactly the pods
// and mappings //semantics calls valid and free (9).
#include <algorithm>
#include <memory>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hostport/model/conflict.h"
#include "hostport/model/plan.h"
#include "hostport/properties/generators.h"
#include "hostport/properties/harness.h"
#include "hostport/render/iptables_renderer.h"
#include "hostport/render/nft_renderer.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "semantics/semantics.h"

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
  const std::vector<PodPlan> plans = MustPlan(s.pods);
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
  const std::vector<PodPlan> plans = MustPlan(s.pods);
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
    const absl::Status a = m->Add(e.id, e.pod, e.nat_interface);
    if (!a.ok()) RC_FAIL(std::string(a.message()));
  }
  for (const PodRequest& e : s.pods) {
    const absl::Status r = m->Remove(e.id, WithoutIps(e.pod));
    if (!r.ok()) RC_FAIL(std::string(r.message()));
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
    const absl::Status a = m1->Add(e.id, e.pod, e.nat_interface);
    if (!a.ok()) RC_FAIL(std::string(a.message()));
  }
  for (size_t i : order) {
    const PodRequest& e = s.pods[i];
    const absl::Status a = m2->Add(e.id, e.pod, e.nat_interface);
    if (!a.ok()) RC_FAIL("permuted: " + std::string(a.message()));
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
  // A pod with mappings needs an IP (CheckPod refuses it otherwise).
  RC_PRE(!b.pod.ips.empty() || b.pod.port_mappings.empty());
  const PodRequest& a = sa.pods[0];
  const std::vector<PodPlan> plans = MustPlan({a, b});
  const std::optional<std::string> conflict = semantics::FindConflict(
      {a.id, a.pod, a.nat_interface}, {b.id, b.pod, b.nat_interface});
  RC_TAG(conflict ? "conflict" : "no conflict");

  PortClaims claims;
  claims.Claim(plans[0]);
  const absl::Status check = claims.Check(plans[1]);
  if (check.ok() == conflict.has_value()) {
    RC_FAIL(absl::StrCat("PortClaims says \"", check.ToString(),
                         "\" but DESIGN §4 says ",
                         conflict ? *conflict : "no conflict"));
  }

  const Backend backend =
      *rc::gen::element(Backend::kIptables, Backend::kNftables);
  FakeHost h;
  std::unique_ptr<HostPortManager> m = h.NewManager(backend);
  RC_ASSERT(m != nullptr);
  const absl::Status added_a = m->Add(a.id, a.pod, a.nat_interface);
  if (!added_a.ok()) RC_FAIL(std::string(added_a.message()));
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

// Property 9: hostport's validation and conflict check agree with DESIGN §4
// (//semantics) on raw pods, mapping by mapping in the order MakeValid adds
// them: PlanPod accepts a pod exactly when CheckPod does, and PortClaims lets
// a mapping in beside the pods kept before exactly when FindConflict finds
// nothing. (MakeValid asks only //semantics, so without this a hostport that
// accepts port 0 or refuses a free HostIP would go unseen.)
RC_GTEST_PROP(ValidityProperty, HostportAcceptsExactlyTheValidPods, ()) {
  const HostSpec host = *GenHostSpec();
  const std::vector<PodRequest> raw = *GenRawPods(host);
  PortClaims claims;
  std::vector<semantics::Pod> kept_pods;
  bool refused = false, conflicted = false;
  for (const PodRequest& e : raw) {
    semantics::Pod kept{e.id, e.pod, e.nat_interface};
    kept.pod.port_mappings.clear();
    // The pool repeats IPs; a pod that lists one twice is refused whole.
    kept.pod.ips.clear();
    for (const std::string& ip : e.pod.ips) {
      if (std::find(kept.pod.ips.begin(), kept.pod.ips.end(), ip) ==
          kept.pod.ips.end()) {
        kept.pod.ips.push_back(ip);
      }
    }
    for (size_t k = 0; k <= e.pod.port_mappings.size(); ++k) {
      // k == 0: the pod without mappings; then one mapping more each time.
      semantics::Pod trial = kept;
      if (k > 0) trial.pod.port_mappings.push_back(e.pod.port_mappings[k - 1]);
      const absl::Status valid = semantics::CheckPod(trial);
      const absl::StatusOr<PodPlan> plan =
          PlanPod(trial.id, trial.pod, trial.nat_interface);
      if (plan.ok() != valid.ok()) {
        RC_FAIL(absl::StrCat(
            "PlanPod ", plan.ok() ? "accepts" : "refuses", " pod ", e.id,
            " with its first ", k, " mapping(s) (",
            plan.ok() ? "" : plan.status().message(), ") but //semantics ",
            valid.ok() ? "calls it valid" : "says: ", valid.message()));
      }
      if (!valid.ok()) {
        refused = true;
        if (k == 0) break;
        continue;
      }
      std::optional<std::string> conflict;
      for (const semantics::Pod& other : kept_pods) {
        conflict = semantics::FindConflict(trial, other);
        if (conflict) break;
      }
      const absl::Status check = claims.Check(*plan);
      if (check.ok() == conflict.has_value()) {
        RC_FAIL(absl::StrCat("PortClaims says \"", check.ToString(),
                             "\" to mapping ", k - 1, " of pod ", e.id,
                             " but //semantics says ",
                             conflict ? *conflict : "no conflict"));
      }
      if (conflict) {
        conflicted = true;
        continue;
      }
      kept = std::move(trial);
    }
    if (!semantics::CheckPod(kept).ok()) continue;
    claims.Claim(*PlanPod(kept.id, kept.pod, kept.nat_interface));
    kept_pods.push_back(std::move(kept));
  }
  RC_CLASSIFY(refused, "an invalid pod or mapping");
  RC_CLASSIFY(conflicted, "a conflicting mapping");
}

}  // namespace
}  // namespace hostport::properties
