#include "hostport/backends/backend.h"

#include "absl/strings/str_cat.h"
#include "hostport/model/naming.h"

namespace hostport {

absl::Status FamilyBackend::ApplyWithReload(
    absl::string_view what, const std::function<std::string()>& rebuild,
    const std::function<absl::Status(const std::string&)>& run) {
  std::string script = rebuild();
  if (script.empty() || run(script).ok()) return absl::OkStatus();
  if (absl::Status reload = Load(); !reload.ok()) return reload;
  script = rebuild();
  if (script.empty()) return absl::OkStatus();
  if (absl::Status retry = run(script); !retry.ok()) {
    return absl::Status(retry.code(),
                        absl::StrCat(name(), " ", IPFamilyLabel(family()),
                                     " for ", what, ": ", retry.message()));
  }
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
