#include "hostport/properties/harness.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "hostport/iptables_renderer.h"
#include "hostport/nft_renderer.h"
#include "hostport/sysctl.h"
#include "sim/ruleset_text.h"

namespace hostport::properties {

std::string BackendName(Backend b) {
  return b == Backend::kIptables ? "iptables" : "nftables";
}

void showValue(Backend b, std::ostream& os) { os << BackendName(b); }

std::vector<PodPlan> Plans(const std::vector<PodEntry>& pods) {
  std::vector<PodPlan> plans;
  for (const PodEntry& e : pods) {
    plans.push_back(*PlanPod(e.id, e.pod, e.nat_interface));
  }
  return plans;
}

std::string RenderFull(Backend b, IPFamily f,
                       const std::vector<PodPlan>& pods) {
  return b == Backend::kIptables ? IptablesRenderer().Full(f, pods).Render()
                                 : NftRenderer().Full(f, pods).Render();
}

absl::StatusOr<std::unique_ptr<sim::Simulator>> SimulateTexts(
    const std::vector<std::pair<IPFamily, std::string>>& texts,
    const sim::HostModel& host) {
  sim::Ruleset ruleset;
  for (const auto& [f, text] : texts) {
    if (text.empty()) continue;
    absl::Status s = sim::ApplyRulesetText(
        text, absl::StrCat("IPv", IPFamilyName(f)),
        f == IPFamily::kIPv4 ? sim::IpFamily::kV4 : sim::IpFamily::kV6,
        &ruleset);
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat(s.message(), "\n--- text:\n", text));
    }
  }
  return sim::Simulator::Create(std::move(ruleset), host);
}

absl::StatusOr<std::unique_ptr<sim::Simulator>> SimulateFull(
    Backend b, const Scenario& s) {
  const std::vector<PodPlan> plans = Plans(s.pods);
  return SimulateTexts(
      {{IPFamily::kIPv4, RenderFull(b, IPFamily::kIPv4, plans)},
       {IPFamily::kIPv6, RenderFull(b, IPFamily::kIPv6, plans)}},
      s.host.Model(s.pods));
}

Outcome OutcomeOf(const sim::TraceResult& r) {
  Outcome o;
  o.verdict = r.verdict;
  if (r.verdict != sim::PacketVerdict::kDropped) {
    o.to = r.To();
    o.source = r.SourceSeen();
  }
  for (const sim::NatBinding& b : r.bindings) {
    if (b.kind == sim::NatBinding::Kind::kDnat) o.dnat = true;
  }
  return o;
}

std::string DescribeOutcome(const Outcome& o) {
  return absl::StrCat(sim::PacketVerdictName(o.verdict), " to ", o.to,
                      " seeing ", o.source, o.dnat ? " (DNAT)" : "");
}

bool Matches(const Expected& e, const sim::TraceResult& r) {
  if (e.verdict != r.verdict) return false;
  if (e.verdict != sim::PacketVerdict::kDelivered) return true;
  return e.to == r.To() && e.source == r.SourceSeen();
}

bool IsRawTableGuardCase(const Scenario& s, const sim::Packet& p) {
  if (p.origin.kind != sim::PacketOrigin::Kind::kExternal) return false;
  if (!p.dst.is_v4() || !p.dst.IsLoopback()) return false;
  for (const PodEntry& e : s.pods) {
    bool has_v4 = false;
    for (const std::string& ip : e.pod.ips) {
      has_v4 |= sim::IpAddress::Parse(ip)->is_v4();
    }
    if (!has_v4) continue;  // The mapping is skipped: it guards nothing.
    for (const PortMapping& m : e.pod.port_mappings) {
      absl::StatusOr<sim::IpAddress> h = sim::IpAddress::Parse(m.host_ip);
      if (h.ok() && *h == p.dst && m.host_port == p.dst_port &&
          sim::ProtocolName(p.protocol) == ProtocolKeyword(m.protocol)) {
        return true;
      }
    }
  }
  return false;
}

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
  return absl::StrCat(iptables.Save(IPFamily::kIPv4), "\n---\n",
                      iptables.Save(IPFamily::kIPv6), "\n---\n",
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
