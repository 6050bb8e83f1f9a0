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

absl::Status FamilyBackend::Attempt(Change* c) {
  if (absl::Status s = Prepare(*c); !s.ok()) return s;
  c->remove_base = BaseGoesWith(*c);
  std::string script = Delta(*c);
  absl::Status applied = script.empty() ? absl::OkStatus() : Apply(*c, script);
  if (applied.ok() || !c->remove_base) return applied;
  // The base stays; RemoveBaseIfUnused tries it again on its own.
  c->remove_base = false;
  script = Delta(*c);
  return script.empty() ? absl::OkStatus() : Apply(*c, script);
}

absl::Status FamilyBackend::Commit(absl::string_view what,
                                   const std::function<Change()>& change) {
  Change c = change();
  if (absl::Status first = Attempt(&c); !first.ok()) {
    if (log_) {
      log_(absl::StrCat(name(), " ", IPFamilyLabel(family()), " refused ", what,
                        " (", first.message(),
                        "): reading what it holds again and retrying"));
    }
    if (absl::Status reload = Load(); !reload.ok()) return reload;
    c = change();
    if (absl::Status retry = Attempt(&c); !retry.ok()) {
      return absl::Status(retry.code(),
                          absl::StrCat(name(), " ", IPFamilyLabel(family()),
                                       " for ", what, ": ", retry.message()));
    }
  }
  Record(c);
  RemoveBaseIfUnused();
  return absl::OkStatus();
}

std::string RecordsWithoutBaseWarning(const FamilyBackend& b) {
  return absl::StrCat(
      "warning: the records hold pods with ", IPFamilyLabel(b.family()),
      " mappings, but ", b.name(),
      " lacks their base objects (changed behind hostport's back): reading "
      "what it holds; `hostportctl sync --read-kernel` puts the records' "
      "mappings back");
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
