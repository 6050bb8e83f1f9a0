#include "hostport/backends/backend.h"

#include "absl/strings/str_cat.h"
#include "hostport/model/naming.h"

namespace hostport {

absl::Status FamilyBackend::Replace(
    absl::string_view id, const absl::flat_hash_set<std::string>& hashes,
    const PodPlan* plan) {
  Change change{EntriesOf(id, hashes), {}};
  if (plan != nullptr) change.plans.push_back(plan);
  return Commit(absl::StrCat("pod ", id), [&] { return change; });
}

absl::Status FamilyBackend::Sync(const std::vector<const PodPlan*>& desired) {
  if (absl::Status s = Load(); !s.ok()) return s;
  return Commit("sync", [&] { return SyncChange(desired); });
}

absl::Status FamilyBackend::Commit(absl::string_view what,
                                   const std::function<Change()>& change) {
  Change c = change();
  std::string script = Delta(c);
  if (absl::Status first = script.empty() ? absl::OkStatus() : Apply(c, script);
      !first.ok()) {
    if (log_) {
      log_(absl::StrCat(name(), " ", IPFamilyLabel(family()), " refused ", what,
                        " (", first.message(),
                        "): reading what it holds again and retrying"));
    }
    if (absl::Status reload = Load(); !reload.ok()) return reload;
    c = change();
    script = Delta(c);
    if (absl::Status retry =
            script.empty() ? absl::OkStatus() : Apply(c, script);
        !retry.ok()) {
      return absl::Status(retry.code(),
                          absl::StrCat(name(), " ", IPFamilyLabel(family()),
                                       " for ", what, ": ", retry.message()));
    }
  }
  Record(c);
  RemoveBaseIfUnused();
  return absl::OkStatus();
}

absl::flat_hash_set<std::string> MappingHashes(absl::string_view id,
                                               const PodPortMapping& pod) {
  absl::flat_hash_set<std::string> hashes;
  for (const PortMapping& pm : pod.port_mappings) {
    // Plans hash the canonical HostIP; an unparsable one was never installed,
    // but hashing its text costs nothing and keeps Remove total.
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(pm.host_ip);
    const std::string text =
        pm.host_ip.empty() || !ip.ok() ? pm.host_ip : ip->ToString();
    hashes.insert(MappingHash(id, pm.host_port, pm.protocol, text));
  }
  return hashes;
}

}  // namespace hostport
