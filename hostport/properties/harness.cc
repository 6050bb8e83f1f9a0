#include "hostport/properties/harness.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "hostport/os/sysctl.h"
#include "hostport/render/iptables_renderer.h"
#include "hostport/render/nft_renderer.h"
#include "rapidcheck.h"
#include "sim/ruleset_text.h"

namespace hostport::properties {

void showValue(Backend b, std::ostream& os) { os << BackendName(b); }

FakeHost::FakeHost() {
  sysctl.Set("net/ipv6/conf/all/disable_ipv6", "0");
  sysctl.Set(RouteLocalnetSysctl(kPodBridge), "0");
}

std::unique_ptr<HostPortManager> FakeHost::NewManager(Backend b) {
  MetaOptions o;
  o.prefer = b == Backend::kIptables ? MetaOptions::Backend::kIptablesNft
                                     : MetaOptions::Backend::kNftables;
  o.env = HostportEnv{&iptables, &nft, &ports, &conntrack, &sysctl};
  o.log = [this](absl::string_view line) { log.push_back(std::string(line)); };
  absl::StatusOr<std::unique_ptr<HostPortManager>> m =
      NewMetaHostportManager(std::move(o));
  return m.ok() ? std::move(*m) : nullptr;
}

namespace {
std::string NftTable(const testing::FakeNft& nft, const char* family) {
  // List is not const; the fake is only read.
  absl::StatusOr<std::string> t = const_cast<testing::FakeNft&>(nft).List(
      absl::StrCat("list table ", family, " crio-hostports"));
  return t.ok() ? *t : "";
}
}  // namespace

std::string FakeHost::State() const {
  return absl::StrCat(
      testing::WithoutEmptyTables(iptables.Save(IPFamily::kIPv4)), "\n---\n",
      testing::WithoutEmptyTables(iptables.Save(IPFamily::kIPv6)), "\n---\n",
      NftTable(nft, "ip"), "\n---\n", NftTable(nft, "ip6"));
}

absl::StatusOr<std::unique_ptr<sim::Simulator>> FakeHost::Simulate(
    const sim::HostModel& host) const {
  return SimulateTexts({{IPFamily::kIPv4, iptables.Save(IPFamily::kIPv4)},
                        {IPFamily::kIPv6, iptables.Save(IPFamily::kIPv6)},
                        {IPFamily::kIPv4, NftTable(nft, "ip")},
                        {IPFamily::kIPv6, NftTable(nft, "ip6")}},
                       host);
}

std::vector<PodPlan> MustPlan(const std::vector<PodRequest>& pods) {
  absl::StatusOr<std::vector<PodPlan>> plans = Plans(pods);
  if (!plans.ok()) RC_FAIL(std::string(plans.status().message()));
  return std::move(*plans);
}

std::unique_ptr<sim::Simulator> MustSimulate(Backend b, const Scenario& s) {
  absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
      SimulateFull(b, s);
  if (!simulator.ok()) {
    RC_FAIL(BackendName(b) + ": " + std::string(simulator.status().message()));
  }
  return std::move(*simulator);
}

std::vector<std::string> ExpectedHeldPorts(const std::vector<PodPlan>& plans) {
  std::vector<std::string> out;
  for (const PodPlan& p : plans) {
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      for (const PlannedMapping& m : p.family(f).mappings) {
        out.push_back(
            PortKey{f, m.protocol, m.host_ip, m.host_port}.ToString());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> HeldPorts(const testing::FakePortHolder& ports) {
  std::vector<std::string> out;
  for (const PortKey& k : ports.Held()) out.push_back(k.ToString());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace hostport::properties
