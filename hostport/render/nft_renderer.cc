#include "hostport/render/nft_renderer.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace hostport {
namespace {

absl::string_view NftFamily(IPFamily family) {
  return family == IPFamily::kIPv4 ? "ip" : "ip6";
}

absl::string_view AddrType(IPFamily family) {
  return family == IPFamily::kIPv4 ? "ipv4_addr" : "ipv6_addr";
}

// One element of one of the pod's sets or maps.
struct PodElement {
  absl::string_view set;
  std::string key;    // "tcp . 8080", "\"hp-br0\" . 10.88.0.5"
  std::string value;  // Maps only: "10.88.0.5 . 80".
};

// A pod's elements in one family, in the order they are added and deleted.
std::vector<PodElement> ElementsOf(const PodPlan& pod, IPFamily family) {
  const FamilyPlan& fp = pod.family(family);
  std::vector<PodElement> wildcard, specific, loopback;
  for (const PlannedMapping& m : fp.mappings) {
    std::string key =
        absl::StrCat(ProtocolKeyword(m.protocol), " . ", m.host_port);
    std::string value =
        absl::StrCat(m.pod_ip.ToString(), " . ", m.container_port);
    if (!m.host_ip) {
      wildcard.push_back({"hostports", std::move(key), std::move(value)});
      continue;
    }
    key = absl::StrCat(m.host_ip->ToString(), " . ", key);
    if (m.IsLoopbackBound()) loopback.push_back({"loopbackports", key, ""});
    specific.push_back({"hostipports", std::move(key), std::move(value)});
  }
  std::vector<PodElement> all = std::move(specific);
  all.insert(all.end(), wildcard.begin(), wildcard.end());
  if (!fp.mappings.empty()) {
    // Every mapping of a family DNATs to the same first pod IP.
    const std::string target = fp.mappings.front().pod_ip.ToString();
    for (const IpAddress& source : fp.pod_ips) {
      all.push_back(
          {"hairpins", absl::StrCat(source.ToString(), " . ", target), ""});
    }
    all.insert(all.end(), loopback.begin(), loopback.end());
    if (family == IPFamily::kIPv4 && !pod.nat_interface.empty()) {
      all.push_back({"localhostpods",
                     absl::StrCat("\"", pod.nat_interface, "\" . ", target),
                     ""});
    }
  }
  return all;
}

}  // namespace

std::string NftRenderer::Element(IPFamily family, absl::string_view set,
                                 absl::string_view body) const {
  return absl::StrCat(NftFamily(family), " ", names_.nft_table, " ", set, " { ",
                      body, " }");
}

void NftRenderer::AddBase(IPFamily family, NftTransaction* tx) const {
  const std::string table =
      absl::StrCat(NftFamily(family), " ", names_.nft_table);
  const absl::string_view ip = NftFamily(family);
  const absl::string_view addr = AddrType(family);
  tx->Add(absl::StrCat("add table ", table));
  tx->Add(absl::StrCat("add map ", table,
                       " hostports { type inet_proto . inet_service : ", addr,
                       " . inet_service; }"));
  tx->Add(absl::StrCat("add map ", table, " hostipports { type ", addr,
                       " . inet_proto . inet_service : ", addr,
                       " . inet_service; }"));
  tx->Add(absl::StrCat("add set ", table, " hairpins { type ", addr, " . ",
                       addr, "; }"));
  if (family == IPFamily::kIPv4) {
    tx->Add(absl::StrCat("add set ", table, " loopbackports { type ", addr,
                         " . inet_proto . inet_service; }"));
    tx->Add(absl::StrCat("add set ", table, " localhostpods { type ifname . ",
                         addr, "; }"));
  }
  if (family == IPFamily::kIPv4) {
    tx->Add(absl::StrCat("add chain ", table,
                         " localnet { type filter hook input priority 0; "
                         "policy accept; }"));
    tx->Add(absl::StrCat("flush chain ", table, " localnet"));
    tx->Add(absl::StrCat("add rule ", table,
                         " localnet iifname != \"lo\" ip daddr 127.0.0.0/8 ct "
                         "state != { established, related } ct status & dnat "
                         "!= dnat drop"));
  }
  tx->Add(absl::StrCat("add chain ", table, " hostports"));
  tx->Add(absl::StrCat("flush chain ", table, " hostports"));
  tx->Add(absl::StrCat("add rule ", table, " hostports dnat ", ip, " to ", ip,
                       " daddr . meta l4proto . th dport map @hostipports"));
  tx->Add(absl::StrCat("add rule ", table, " hostports dnat ", ip,
                       " to meta l4proto . th dport map @hostports"));
  tx->Add(absl::StrCat("add chain ", table,
                       " prerouting { type nat hook prerouting priority -100; "
                       "policy accept; }"));
  tx->Add(absl::StrCat("flush chain ", table, " prerouting"));
  if (family == IPFamily::kIPv4) {
    tx->Add(
        absl::StrCat("add rule ", table,
                     " prerouting iifname != \"lo\" ip daddr . meta l4proto "
                     ". th dport @loopbackports drop"));
  }
  tx->Add(absl::StrCat("add rule ", table,
                       " prerouting fib daddr type local goto hostports"));
  tx->Add(absl::StrCat("add chain ", table,
                       " output { type nat hook output priority -100; policy "
                       "accept; }"));
  tx->Add(absl::StrCat("flush chain ", table, " output"));
  tx->Add(absl::StrCat("add rule ", table,
                       " output fib daddr type local goto hostports"));
  tx->Add(
      absl::StrCat("add chain ", table,
                   " masquerading { type nat hook postrouting priority 100; "
                   "policy accept; }"));
  tx->Add(absl::StrCat("flush chain ", table, " masquerading"));
  tx->Add(absl::StrCat("add rule ", table,
                       " masquerading ct status & dnat == dnat ", ip,
                       " saddr . ", ip, " daddr @hairpins masquerade"));
  if (family == IPFamily::kIPv4) {
    tx->Add(absl::StrCat("add rule ", table,
                         " masquerading ct status & dnat == dnat ip saddr "
                         "127.0.0.0/8 oifname . ip daddr @localhostpods "
                         "masquerade"));
  }
}

void NftRenderer::AddPod(IPFamily family, const PodPlan& pod,
                         NftTransaction* tx) const {
  for (const PodElement& e : ElementsOf(pod, family)) {
    // A map element's comment goes between key and value.
    const std::string value =
        e.value.empty() ? "" : absl::StrCat(" : ", e.value);
    tx->Add(absl::StrCat(
        "add element ", Element(family, e.set,
                                absl::StrCat(e.key, " comment \"",
                                             pod.owner_comment, "\"", value))));
  }
}

void NftRenderer::RemovePod(IPFamily family, const PodPlan& pod,
                            NftTransaction* tx) const {
  DeleteElements(family, ElementKeys(family, pod), tx);
}

std::vector<NftRenderer::ElementKey> NftRenderer::ElementKeys(
    IPFamily family, const PodPlan& pod) const {
  std::vector<ElementKey> keys;
  for (PodElement& e : ElementsOf(pod, family)) {
    keys.push_back({std::string(e.set), std::move(e.key), std::move(e.value)});
  }
  return keys;
}

void NftRenderer::DeleteElements(IPFamily family,
                                 const std::vector<ElementKey>& keys,
                                 NftTransaction* tx) const {
  for (const ElementKey& k : keys) {
    tx->Add(absl::StrCat("delete element ", Element(family, k.set, k.key)));
  }
}

std::vector<std::string> NftRenderer::BaseObjects(IPFamily family) const {
  std::vector<std::string> objects = {"map hostports", "map hostipports",
                                      "set hairpins"};
  if (family == IPFamily::kIPv4) {
    objects.push_back("set loopbackports");
    objects.push_back("set localhostpods");
    objects.push_back("chain localnet");
  }
  for (const char* chain : {"chain hostports", "chain prerouting",
                            "chain output", "chain masquerading"}) {
    objects.push_back(chain);
  }
  return objects;
}

NftTransaction NftRenderer::Full(IPFamily family,
                                 absl::Span<const PodPlan> pods) const {
  NftTransaction tx;
  const std::string table =
      absl::StrCat(NftFamily(family), " ", names_.nft_table);
  // "add" first so that "delete" succeeds whether or not the table exists.
  tx.Add(absl::StrCat("add table ", table));
  tx.Add(absl::StrCat("delete table ", table));
  AddBase(family, &tx);
  for (const PodPlan& pod : pods) AddPod(family, pod, &tx);
  return tx;
}

}  // namespace hostport
