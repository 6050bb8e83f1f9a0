// Loading a host fixture (e2e/hosts) into a network namespace, the way each
// tool would: ipsets with `ipset restore`, rules.v4 / rules.v6 with
// ip[6]tables-nft-restore --noflush, rules.nft with `nft -f`.
//
// Promises: stops at the first file that fails, naming it and the tool's
// message. Requires: root and a namespace the test created (e2e/netns.h).
#ifndef E2E_HOSTS_LOADER_H_
#define E2E_HOSTS_LOADER_H_

#include "absl/status/status.h"
#include "e2e/hosts/fixture.h"
#include "e2e/netns.h"

namespace hostport::e2e {

absl::Status LoadHostFixture(Netns& host, const HostFixture& fixture);

}  // namespace hostport::e2e

#endif  // E2E_HOSTS_LOADER_H_
