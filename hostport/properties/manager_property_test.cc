// Property 8: a HostPortManager over the kernel-like fakes, driven by random
// interleavings of Add, Remove and re-Add with failures injected into nft,
// iptables-restore, port holding and conntrack, stays consistent: after every
// step the fakes' saved state, fed to the simulator, answers as
// semantics::Expect says for the pods the manager reports installed, Check()
// agrees, and exactly the ports those pods need are held.
#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "hostport/model/plan.h"
#include "hostport/properties/generators.h"
#include "hostport/properties/harness.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "semantics/semantics.h"

namespace hostport::properties {
namespace {

enum class Fault { kNone, kNft, kIptables, kPortHolder, kConntrack };

struct Step {
  bool add = true;  // else Remove
  int pod = 0;      // index into the variants' pods
  int variant = 0;  // which of the pod's two versions (re-Add changes it)
  Fault fault = Fault::kNone;
};

void showValue(const Step& s, std::ostream& os) {
  static const char* kFaults[] = {"", " [nft fails]", " [iptables fails]",
                                  " [port hold fails]", " [conntrack fails]"};
  os << (s.add ? "Add pod" : "Remove pod") << s.pod
     << (s.add ? absl::StrCat(" v", s.variant) : "")
     << kFaults[static_cast<int>(s.fault)];
}

rc::Gen<Step> GenStep() {
  return rc::gen::apply(
      [](bool add, int pod, int variant, int fault) {
        return Step{add, pod, variant, static_cast<Fault>(fault)};
      },
      rc::gen::arbitrary<bool>(), rc::gen::inRange(0, 4),
      rc::gen::inRange(0, 2),
      rc::gen::weightedOneOf<int>(
          {{3, rc::gen::just(0)}, {1, rc::gen::inRange(1, 5)}}));
}

// Uses up injections the step did not consume, so they cannot hit a later
// step.
void Drain(FakeHost& h) {
  while (!h.nft.Run("").ok()) {
  }
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<CommandResult> r =
        h.iptables.Run({"iptables-nft-restore", "--noflush"}, "");
    if (r.ok() && r->exit_code == 0) break;
  }
  // Port 0, which no mapping holds and the fake refuses once no injection
  // is left (any real port may be a mapping's now, and Hold of a held one
  // would fail for ever).
  while (absl::IsUnavailable(
      h.ports.Hold(PortKey{IPFamily::kIPv4, Protocol::kTCP, std::nullopt, 0})
          .status())) {
  }
  while (!h.conntrack.DeleteUdp(IPFamily::kIPv4, {{std::nullopt, 1}}).ok()) {
  }
}

void Inject(FakeHost& h, Fault f) {
  const absl::Status injected = absl::UnavailableError("injected failure");
  switch (f) {
    case Fault::kNone:
      break;
    case Fault::kNft:
      h.nft.FailNext(injected);
      break;
    case Fault::kIptables:
      h.iptables.FailNext("restore", 4, "iptables-restore: injected failure\n");
      break;
    case Fault::kPortHolder:
      h.ports.FailNext(injected);
      break;
    case Fault::kConntrack:
      h.conntrack.FailNext(injected);
      break;
  }
}

// The fakes' state with every ruleset's lines sorted: the same rules, in any
// order.
std::string Unordered(const std::string& state) {
  std::vector<std::string> lines = absl::StrSplit(state, '\n');
  std::sort(lines.begin(), lines.end());
  return absl::StrJoin(lines, "\n");
}

// A failed Add must leave the same rules (in any order: a rolled-back re-Add
// of the iptables backend re-inserts the pod's jumps at the top of the shared
// chains, which changes their order but never a packet's path, since the jumps
// of non-conflicting pods never overlap).
void CheckInterleavings() {
  const HostSpec host = *GenHostSpec();
  // Two versions of up to four pods; each version valid on its own, the pods'
  // IPs disjoint (a re-Add keeps the pod's IPs).
  const Scenario v0 = MakeValid(host, *GenRawPods(host));
  std::vector<PodRequest> second = v0.pods;
  const std::vector<PodRequest> raw = *GenRawPods(host);
  for (size_t i = 0; i < second.size() && i < raw.size(); ++i) {
    PodRequest alt = raw[i];
    alt.id = second[i].id;
    alt.pod.ips = second[i].pod.ips;
    alt.pod.name = second[i].pod.name;
    second[i] = MakeValid(host, {alt}).pods.at(0);
  }
  const std::vector<std::vector<PodRequest>> variants = {v0.pods, second};
  const Backend b = *rc::gen::element(Backend::kIptables, Backend::kNftables);
  // At most 12 steps; each step's fields drawn at the nominal size (inRange
  // scales its range with the size).
  const std::vector<Step> steps = *rc::gen::resize(
      12, rc::gen::nonEmpty(rc::gen::container<std::vector<Step>>(
              rc::gen::resize(rc::kNominalSize, GenStep()))));

  std::vector<PodRequest> all_pods = v0.pods;
  const sim::HostModel model = host.Model(all_pods);
  FakeHost h;
  std::unique_ptr<HostPortManager> m = h.NewManager(b);
  RC_ASSERT(m != nullptr);
  std::map<std::string, PodRequest> installed;  // The manager's view.
  bool failed_by_fault = false, refused_conflict = false;

  for (size_t n = 0; n < steps.size(); ++n) {
    const Step& step = steps[n];
    const PodRequest& e =
        variants[step.variant][step.pod % static_cast<int>(v0.pods.size())];
    const std::string where = absl::StrCat("step ", n, ": ");
    Inject(h, step.fault);
    if (step.add) {
      // Whether DESIGN §4 lets it in beside the others.
      bool fits = true;
      for (const auto& [id, other] : installed) {
        fits = fits && !semantics::FindConflict(
                           {e.id, e.pod, e.nat_interface},
                           {other.id, other.pod, other.nat_interface});
      }
      const std::string before = h.State();
      const absl::Status s = m->Add(e.id, e.pod, e.nat_interface);
      if (!s.ok() && step.fault != Fault::kNone) failed_by_fault = true;
      if (!s.ok() && !fits) refused_conflict = true;
      if (s.ok()) {
        if (!fits) RC_FAIL(where + "a conflicting Add succeeded");
        installed[e.id] = e;
      } else {
        RC_ASSERT(!s.message().empty());
        if (fits && step.fault == Fault::kNone) {
          RC_FAIL(where + "Add failed: " + std::string(s.message()));
        }
        if (Unordered(h.State()) != Unordered(before)) {
          RC_FAIL(where + "a failed Add (" + std::string(s.message()) +
                  ") changed the rules:\nbefore\n" + before + "\nafter\n" +
                  h.State());
        }
      }
    } else {
      PodPortMapping stripped = e.pod;
      stripped.ips.clear();
      absl::Status s = m->Remove(e.id, stripped);
      if (!s.ok()) {
        if (step.fault == Fault::kNone) {
          RC_FAIL(where + "Remove failed: " + std::string(s.message()));
        }
        Drain(h);
        // A retry finishes what the failed Remove left.
        s = m->Remove(e.id, stripped);
        if (!s.ok())
          RC_FAIL(where + "retried Remove failed: " + std::string(s.message()));
      }
      installed.erase(e.id);
    }
    Drain(h);

    // The manager's view, the fakes and the simulator agree.
    Scenario now;
    now.host = host;
    for (const auto& [id, pod] : installed) now.pods.push_back(pod);
    for (const PodRequest& p : now.pods) {
      const absl::Status c = m->Check(p.id, p.pod, p.nat_interface);
      if (!c.ok()) RC_FAIL(where + "Check: " + std::string(c.message()));
    }
    const std::vector<std::string> want = ExpectedHeldPorts(MustPlan(now.pods));
    const std::vector<std::string> held = HeldPorts(h.ports);
    if (held != want) {
      RC_FAIL(where + "held ports " + absl::StrJoin(held, ", ") +
              " but the installed pods need " + absl::StrJoin(want, ", "));
    }
    absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
        h.Simulate(model);
    if (!simulator.ok()) RC_FAIL(std::string(simulator.status().message()));
    std::optional<std::string> mismatch =
        FirstMismatch(now, model, **simulator, MappingProbes(now),
                      [](const Probe&) { return false; });
    if (mismatch) RC_FAIL(where + BackendName(b) + ": " + *mismatch);
  }
  RC_CLASSIFY(failed_by_fault, "an injected failure failed an Add");
  RC_CLASSIFY(refused_conflict, "a conflicting Add was refused");
}

RC_GTEST_PROP(ManagerProperty, InterleavingsWithFailuresStayConsistent, ()) {
  CheckInterleavings();
}

}  // namespace
}  // namespace hostport::properties
