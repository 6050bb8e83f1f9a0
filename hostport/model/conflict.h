// PortClaims: which pod holds which (family, protocol, host port, address), and
// whether a new pod may have its mappings.
//
// The scheduler's rule (DESIGN §4): two pods may not hold the same protocol and
// port on the same HostIP, and a wildcard of a family conflicts with every
// address of that family. Claims under the same id never conflict: Add again
// with an id replaces that pod's mappings. Lookups cost O(claims on the same
// port), not O(all claims).
#ifndef HOSTPORT_MODEL_CONFLICT_H_
#define HOSTPORT_MODEL_CONFLICT_H_

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "hostport/model/plan.h"

namespace hostport {

class PortClaims {
 public:
  // OK when no mapping of `plan` conflicts with another pod's claim. On
  // conflict, an AlreadyExists status naming both pods, both mappings and the
  // family.
  absl::Status Check(const PodPlan& plan) const;

  // Records `plan`'s claims, replacing whatever `plan.id` held before.
  // REQUIRES: Check(plan).ok().
  void Claim(const PodPlan& plan);

  // Forgets every claim of `id`; a no-op for an unknown id.
  void Release(absl::string_view id);

  bool Holds(absl::string_view id) const { return by_id_.contains(id); }

 private:
  using Key = std::tuple<IPFamily, Protocol, int>;
  struct Holder {
    std::string id;
    std::string owner;
    int index;
    std::optional<IpAddress> host_ip;
    std::string host_ip_text;
  };

  absl::flat_hash_map<Key, std::vector<Holder>> claims_;
  absl::flat_hash_map<std::string, std::vector<Key>> by_id_;
};

}  // namespace hostport

#endif  // HOSTPORT_MODEL_CONFLICT_H_
