// Reachability: what DESIGN §4 says a packet to a host port should do, and the
// table `hostportctl verify` prints by asking the simulator what the rendered
// rules actually do.
//
// Expect() is the semantics written down on their own: it reads the pods as the
// runtime gave them (PortMapping and pod IPs, not hostport's plan) and the host
// model, and says whether a packet reaches a pod (which endpoint, which source
// the pod sees), a local socket, or is dropped. It shares no code with the
// renderers, so the simulator's walk of the rendered rules can be checked
// against it. Requires: pods that PlanPod() accepts and that do not conflict.
#ifndef TOOLS_REACHABILITY_H_
#define TOOLS_REACHABILITY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/host_model.h"
#include "sim/simulator.h"
#include "tools/pods_file.h"

namespace hostport {

struct Expected {
  sim::PacketVerdict verdict = sim::PacketVerdict::kDropped;
  std::string to;      // "10.88.0.5:80" when delivered or local.
  std::string source;  // The source the receiver sees.
};

// What the semantics say `packet` does. REQUIRES: packet.src is set.
Expected Expect(const std::vector<PodRequest>& pods, const sim::HostModel& host,
                const sim::Packet& packet);

// One cell of the verify table.
struct Cell {
  std::string client;  // "external eth0", "host 127.0.0.1", "pod itself", ...
  sim::Packet packet;
  Expected expected;
  sim::TraceResult actual;
  bool matches = false;
  // "reaches 10.88.0.5:80, sees 203.0.113.7", "host socket" or "blocked".
  std::string Text() const;
  std::string ExpectedText() const;
};

// How a cell names an outcome.
std::string OutcomeText(sim::PacketVerdict verdict, absl::string_view to,
                        absl::string_view source);

// One row: a mapping in one family and what each kind of client gets.
struct Row {
  std::string pod;      // "default/web"
  std::string mapping;  // "8080/TCP on all addresses -> 80"
  std::string family;   // "IPv4"
  std::string note;     // Why the row has no cells (no pod IP of the family).
  std::vector<Cell> cells;
};

// Probes every mapping of `pods` in each family from every kind of client
// (external on each host address that applies, host-local incl. 127.0.0.1 and
// ::1, the pod itself, another pod) through `simulator`, and compares with
// Expect.
absl::StatusOr<std::vector<Row>> VerifyReachability(
    const std::vector<PodRequest>& pods, const sim::Simulator& simulator);

}  // namespace hostport

#endif  // TOOLS_REACHABILITY_H_
