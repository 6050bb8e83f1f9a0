#include "hostport/model/conflict.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hostport {

absl::Status PortClaims::Check(const PodPlan& plan) const {
  for (IPFamily family : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    for (const PlannedMapping& m : plan.family(family).mappings) {
      auto it = claims_.find(Key{family, m.protocol, m.host_port});
      if (it == claims_.end()) continue;
      for (const Holder& h : it->second) {
        if (h.id == plan.id) continue;
        if (h.host_ip && m.host_ip && *h.host_ip != *m.host_ip) continue;
        return absl::AlreadyExistsError(absl::StrCat(
            DescribeMapping(m.index, m.host_port, m.protocol, m.host_ip_text),
            " of pod ", plan.owner, " conflicts on ", IPFamilyLabel(family),
            " with ",
            DescribeMapping(h.index, m.host_port, m.protocol, h.host_ip_text),
            " of pod ", h.owner, " (id ", h.id,
            "): a port is held once per address, and a wildcard holds every "
            "address of its family"));
      }
    }
  }
  return absl::OkStatus();
}

void PortClaims::Claim(const PodPlan& plan) {
  Release(plan.id);
  std::vector<Key> keys;
  for (IPFamily family : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    for (const PlannedMapping& m : plan.family(family).mappings) {
      Key key{family, m.protocol, m.host_port};
      claims_[key].push_back(
          Holder{plan.id, plan.owner, m.index, m.host_ip, m.host_ip_text});
      keys.push_back(key);
    }
  }
  if (!keys.empty()) by_id_[plan.id] = std::move(keys);
}

void PortClaims::Release(absl::string_view id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  for (const Key& key : it->second) {
    auto claim = claims_.find(key);
    if (claim == claims_.end()) continue;
    auto& holders = claim->second;
    holders.erase(std::remove_if(holders.begin(), holders.end(),
                                 [&](const Holder& h) { return h.id == id; }),
                  holders.end());
    if (holders.empty()) claims_.erase(claim);
  }
  by_id_.erase(it);
}

}  // namespace hostport
