#include "hostport/render/iptables_renderer.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hostport {
namespace {

constexpr absl::string_view kNat = "nat";
constexpr absl::string_view kRaw = "raw";
constexpr absl::string_view kFilter = "filter";

std::string HostMask(IPFamily family) {
  return family == IPFamily::kIPv4 ? "/32" : "/128";
}

std::string Comment(absl::string_view text) {
  return absl::StrCat("-m comment --comment \"", text, "\"");
}

}  // namespace

std::string IptablesRenderer::HostportJump(const PlannedMapping& m) const {
  const absl::string_view proto = ProtocolKeyword(m.protocol);
  return absl::StrCat("-p ", proto, " ", Comment(m.comment), " -m ", proto,
                      " --dport ", m.host_port, " -j ",
                      names_.hostport_chain_prefix, m.hash);
}

std::string IptablesRenderer::MasqueradeJump(const PlannedMapping& m) const {
  return absl::StrCat(Comment(m.comment), " -j ",
                      names_.masquerade_chain_prefix, m.hash);
}

std::string IptablesRenderer::LoopbackDrop(const PlannedMapping& m) const {
  const absl::string_view proto = ProtocolKeyword(m.protocol);
  return absl::StrCat("-d ", m.host_ip->ToString(), HostMask(m.pod_ip.family()),
                      " -p ", proto, " ", Comment(m.comment), " -m ", proto,
                      " --dport ", m.host_port, " -j DROP");
}

void IptablesRenderer::AddBase(IPFamily family, IptablesTransaction* tx) const {
  if (family == IPFamily::kIPv4) {
    // First in INPUT: an ACCEPT earlier in the chain would end the table.
    tx->NewChain(kFilter, names_.localnet_guard_chain);
    tx->Append(kFilter, names_.localnet_guard_chain,
               "-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP");
    tx->Insert(kFilter, "INPUT",
               absl::StrCat("-d 127.0.0.0/8 ! -i lo ",
                            Comment("hostport localnet guard"), " -j ",
                            names_.localnet_guard_chain));
    tx->NewChain(kRaw, names_.loopback_guard_chain);
    tx->Append(kRaw, "PREROUTING",
               absl::StrCat("-d 127.0.0.0/8 ! -i lo ",
                            Comment("hostport loopback guard"), " -j ",
                            names_.loopback_guard_chain));
  }
  tx->NewChain(kNat, names_.hostports_chain);
  tx->NewChain(kNat, names_.masquerade_chain);
  const std::string portals =
      absl::StrCat(Comment("kube hostport portals"),
                   " -m addrtype --dst-type LOCAL -j ", names_.hostports_chain);
  tx->Append(kNat, "PREROUTING", portals);
  tx->Append(kNat, "OUTPUT", portals);
  tx->Append(kNat, "POSTROUTING",
             absl::StrCat(Comment("kube hostport masquerading"),
                          " -m conntrack --ctstate DNAT -j ",
                          names_.masquerade_chain));
}

void IptablesRenderer::AddPod(const PodPlan& pod,
                              IptablesTransaction* tx) const {
  AddPodRules(pod, /*insert=*/true, tx);
}

void IptablesRenderer::AddPodRules(const PodPlan& pod, bool insert,
                                   IptablesTransaction* tx) const {
  const FamilyPlan& fp = pod.family(tx->family());
  const std::string mask = HostMask(fp.family);
  // Jumps in shared chains go on top (-I) so that the newest mapping wins over
  // a rule someone else leaked for the same port; inserted in reverse, a pod's
  // jumps keep its order. Full() appends instead, in the order inserts leave.
  auto shared = [&](absl::string_view table, absl::string_view chain,
                    const std::string& rule) {
    if (insert) {
      tx->Insert(table, chain, rule);
    } else {
      tx->Append(table, chain, rule);
    }
  };
  std::vector<const PlannedMapping*> order;
  for (const PlannedMapping& m : fp.mappings) order.push_back(&m);
  if (insert) std::reverse(order.begin(), order.end());
  for (const PlannedMapping* m : order) {
    if (m->IsLoopbackBound()) {
      shared(kRaw, names_.loopback_guard_chain, LoopbackDrop(*m));
    }
  }
  for (const PlannedMapping& m : fp.mappings) {
    tx->DeclareChain(kNat, names_.hostport_chain_prefix + m.hash);
    tx->DeclareChain(kNat, names_.masquerade_chain_prefix + m.hash);
  }
  for (const PlannedMapping* m : order) {
    shared(kNat, names_.hostports_chain, HostportJump(*m));
    shared(kNat, names_.masquerade_chain, MasqueradeJump(*m));
  }
  for (const PlannedMapping& m : fp.mappings) {
    const absl::string_view proto = ProtocolKeyword(m.protocol);
    const std::string destination =
        m.host_ip ? absl::StrCat("-d ", m.host_ip->ToString(), mask, " ") : "";
    tx->Append(
        kNat, names_.hostport_chain_prefix + m.hash,
        absl::StrCat(destination, "-p ", proto, " ", Comment(m.comment),
                     " -j DNAT --to-destination ", m.pod_ip.ToBracketedString(),
                     ":", m.container_port));
    // Hairpin: the pod (any of its addresses) reaching its own hostport.
    std::vector<std::string> sources;
    for (const IpAddress& source : fp.pod_ips) {
      sources.push_back(absl::StrCat("-s ", source.ToString(), mask, " -d ",
                                     m.pod_ip.ToString(), mask));
    }
    // Localhost: a host process reaching the hostport through 127.0.0.0/8.
    if (fp.family == IPFamily::kIPv4 && !pod.nat_interface.empty()) {
      sources.push_back(absl::StrCat("-s 127.0.0.0/8 -d ", m.pod_ip.ToString(),
                                     mask, " -o ", pod.nat_interface));
    }
    for (const std::string& source : sources) {
      tx->Append(kNat, names_.masquerade_chain_prefix + m.hash,
                 absl::StrCat(source, " -p ", proto, " ", Comment(m.comment),
                              " -m ", proto, " --dport ", m.container_port,
                              " -m conntrack --ctorigdstport ", m.host_port,
                              " -j MASQUERADE"));
    }
  }
}

IptablesRenderer::SharedRules IptablesRenderer::SharedRulesOf(
    const PlannedMapping& m) const {
  return SharedRules{m.hash, HostportJump(m), MasqueradeJump(m),
                     m.IsLoopbackBound() ? LoopbackDrop(m) : ""};
}

void IptablesRenderer::RemoveRules(const SharedRules& rules, bool keep_chains,
                                   IptablesTransaction* tx) const {
  const std::string hostport_chain = names_.hostport_chain_prefix + rules.hash;
  const std::string masquerade_chain =
      names_.masquerade_chain_prefix + rules.hash;
  tx->DeclareChain(kNat, hostport_chain);
  tx->DeclareChain(kNat, masquerade_chain);
  if (!rules.hostport_jump.empty()) {
    tx->Delete(kNat, names_.hostports_chain, rules.hostport_jump);
  }
  if (!rules.masquerade_jump.empty()) {
    tx->Delete(kNat, names_.masquerade_chain, rules.masquerade_jump);
  }
  if (!keep_chains) {
    tx->DeleteChain(kNat, hostport_chain);
    tx->DeleteChain(kNat, masquerade_chain);
  }
  if (!rules.loopback_drop.empty()) {
    tx->Delete(kRaw, names_.loopback_guard_chain, rules.loopback_drop);
  }
}

void IptablesRenderer::RemovePod(const PodPlan& pod,
                                 IptablesTransaction* tx) const {
  for (const PlannedMapping& m : pod.family(tx->family()).mappings) {
    RemoveRules(SharedRulesOf(m), /*keep_chains=*/false, tx);
  }
}

IptablesTransaction IptablesRenderer::Base(IPFamily family) const {
  IptablesTransaction tx(family);
  AddBase(family, &tx);
  return tx;
}

IptablesTransaction IptablesRenderer::Full(
    IPFamily family, absl::Span<const PodPlan> pods) const {
  IptablesTransaction tx(family);
  AddBase(family, &tx);
  // Later pods' jumps sit above earlier ones', as after one AddPod per pod.
  for (auto it = pods.rbegin(); it != pods.rend(); ++it) {
    AddPodRules(*it, /*insert=*/false, &tx);
  }
  return tx;
}

}  // namespace hostport
