// Table-driven packet-flow checks for simulator tests, in the style of
// kube-proxy's packet-flow tests: one row per client and destination, with
// the verdict, endpoint and source the receiver should see.
//
// Promises: ExpectFlows runs every row through the simulator and reports each
// mismatch with the row's name and the full trace. Requires: gtest.
#ifndef SIM_TESTING_FLOW_TABLE_H_
#define SIM_TESTING_FLOW_TABLE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/simulator.h"

namespace sim {
namespace testing {

struct Flow {
  std::string name;
  std::string from;         // "external", "external:eth0", "local", "pod:IP"
  std::string src;          // "" for the default; "ADDR" or "ADDR:PORT"
  std::string dst;          // "192.0.2.10:8080", "[2001:db8::10]:8080"
  std::string proto;        // "tcp", "udp", "sctp"
  std::string verdict;      // "delivered", "local", "dropped"
  std::string endpoint;     // expected To(); "" skips the check
  std::string source_seen;  // expected source address; "" skips the check
  std::string reason;       // substring of the drop reason; "" skips
};

// The packet a row describes.
absl::StatusOr<Packet> PacketForFlow(const Flow& flow);

void ExpectFlows(const Simulator& sim, const std::vector<Flow>& flows);

// Reads a file under the test's runfiles ("sim/testdata/x").
std::string ReadTestFile(const std::string& path);

// Builds a simulator from iptables-save text (family from the text's
// `# family` markers, default 4), nft text and a host file; fails the test on
// error.
std::unique_ptr<Simulator> MakeSimulator(const std::string& iptables_v4,
                                         const std::string& iptables_v6,
                                         const std::string& nft,
                                         const std::string& host_json);

}  // namespace testing
}  // namespace sim

#endif  // SIM_TESTING_FLOW_TABLE_H_
