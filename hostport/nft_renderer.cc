#include "hostport/nft_renderer.h"

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

// The keys (and, for maps, values) of one pod's elements in one family.
struct PodElements {
  std::vector<std::string> hostports;  // "tcp . 8080" / with ": value"
  std::vector<std::string> hostipports;
  std::vector<std::string> hairpins;
  std::vector<std::string> loopbackports;
  std::vector<std::string> localhostpods;  // "\"hp-br0\" . 10.88.0.5"
};

PodElements ElementsOf(const PodPlan& pod, IPFamily family, bool with_values) {
  const FamilyPlan& fp = pod.family(family);
  PodElements e;
  for (const PlannedMapping& m : fp.mappings) {
    const std::string key =
        absl::StrCat(ProtocolKeyword(m.protocol), " . ", m.host_port);
    const std::string value =
        with_values
            ? absl::StrCat(" : ", m.pod_ip.ToString(), " . ", m.container_port)
            : "";
    if (m.host_ip) {
      const std::string addr_key =
          absl::StrCat(m.host_ip->ToString(), " . ", key);
      e.hostipports.push_back(absl::StrCat(addr_key, value));
      if (m.IsLoopbackBound()) e.loopbackports.push_back(addr_key);
    } else {
      e.hostports.push_back(absl::StrCat(key, value));
    }
  }
  if (!fp.mappings.empty()) {
    // Every mapping of a family DNATs to the same first pod IP.
    const std::string target = fp.mappings.front().pod_ip.ToString();
    for (const IpAddress& source : fp.pod_ips) {
      e.hairpins.push_back(absl::StrCat(source.ToString(), " . ", target));
    }
    if (family == IPFamily::kIPv4 && !pod.nat_interface.empty()) {
      e.localhostpods.push_back(
          absl::StrCat("\"", pod.nat_interface, "\" . ", target));
    }
  }
  return e;
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
  const PodElements e = ElementsOf(pod, family, /*with_values=*/true);
  const std::string comment =
      absl::StrCat(" comment \"", pod.owner_comment, "\"");
  auto add = [&](absl::string_view set, const std::vector<std::string>& items) {
    for (const std::string& item : items) {
      // A map element's comment goes between key and value.
      std::string body = item;
      const size_t colon = body.find(" : ");
      if (colon == std::string::npos) {
        absl::StrAppend(&body, comment);
      } else {
        body.insert(colon, comment);
      }
      tx->Add(absl::StrCat("add element ", Element(family, set, body)));
    }
  };
  add("hostipports", e.hostipports);
  add("hostports", e.hostports);
  add("hairpins", e.hairpins);
  add("loopbackports", e.loopbackports);
  add("localhostpods", e.localhostpods);
}

void NftRenderer::RemovePod(IPFamily family, const PodPlan& pod,
                            NftTransaction* tx) const {
  const PodElements e = ElementsOf(pod, family, /*with_values=*/false);
  auto remove = [&](absl::string_view set,
                    const std::vector<std::string>& keys) {
    for (const std::string& key : keys) {
      tx->Add(absl::StrCat("delete element ", Element(family, set, key)));
    }
  };
  remove("hostipports", e.hostipports);
  remove("hostports", e.hostports);
  remove("hairpins", e.hairpins);
  remove("loopbackports", e.loopbackports);
  remove("localhostpods", e.localhostpods);
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
