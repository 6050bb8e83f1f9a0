// Host fixtures: rulesets other tools write (Docker, kube-proxy, netavark,
// CRI-O, firewalld+libvirt), each with the packets to send and what the real
// kernel did with them.
//
// A fixture is a directory under e2e/hosts/ holding:
//   rules.v4 / rules.v6  iptables-restore input (loaded with
//                        ip[6]tables-nft-restore --noflush)
//   rules.nft            an nft script (loaded with nft -f)
//   ipsets               optional: `ipset save` text (loaded with ipset
//                        restore before the rules; trace --ipsets)
//   host.json            optional: the host model for `trace --host`, when it
//                        differs from e2e/hosts/host.json
//   probes               one packet per line: FROM PROTO DST PORT [tries=N]
//                        FROM is external, local or podI (I = 0, 1, 2)
//   golden               the probe lines, each followed by " => " and what the
//                        kernel did: "pod1 sees 192.0.2.100" or "no pod
//                        answers", several outcomes joined by " | " (sorted)
// The topology is e2e/topology.h's with pods 2, 3 and 4 (pod0 = 10.88.0.2,
// fd00:88::2 ...), each answering on ports 8000 and 8001, and the external
// client (192.0.2.100, 2001:db8::100) answering there as "client".
//
// Promises: parsing fails with the file and line of a malformed entry.
// Requires: nothing (no root): the kernel side lives in golden_hosts_test.
#ifndef E2E_HOSTS_FIXTURE_H_
#define E2E_HOSTS_FIXTURE_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hostport::e2e {

struct HostProbe {
  std::string line;   // as written, without tries=N: the golden key
  std::string from;   // "external", "local", "pod0".."pod2"
  std::string proto;  // "tcp", "udp"
  std::string dst;    // address
  int port = 0;
  int tries = 1;  // how many connections the kernel side makes

  bool IsV6() const;
  // The pod index of a "podI" origin, -1 otherwise.
  int PodIndex() const;
  // `trace --from`: "external:hp-ext", "local" or "pod:ADDR".
  std::string TraceFrom() const;
  // The source address the sender uses ("" for local: the kernel's choice).
  std::string Source() const;
};

// The address of topology pod `index` (0..2) in a family.
std::string FixturePodAddress(int index, bool v6);
// "pod0".."pod2" for a pod address of either family, "client" for the
// client's, "" otherwise.
std::string FixturePodOf(absl::string_view address);
// The ports the fixture pods answer on.
bool FixturePodPort(int port);

struct HostFixture {
  std::string name;                        // directory name
  std::string dir;                         // path
  std::vector<std::string> ruleset_files;  // paths, in load order
  std::string host_json;                   // path
  std::string ipsets;                      // path, "" when none
  std::vector<HostProbe> probes;
  // probe line → outcomes; empty when there is no golden file yet.
  std::map<std::string, std::set<std::string>> golden;
};

// Reads every fixture directory under `root` (e.g. runfiles e2e/hosts).
absl::StatusOr<std::vector<HostFixture>> ReadHostFixtures(
    const std::string& root);

// The golden file text for `outcomes` (probe line → outcomes) in probe order.
std::string FormatGolden(
    const std::vector<HostProbe>& probes,
    const std::map<std::string, std::set<std::string>>& outcomes);

// "pod1 sees 192.0.2.100" / "no pod answers".
std::string OutcomeText(absl::string_view pod, absl::string_view source);
constexpr absl::string_view kNoPodAnswers = "no pod answers";

}  // namespace hostport::e2e

#endif  // E2E_HOSTS_FIXTURE_H_
