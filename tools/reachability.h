// The reachability table `hostportctl verify` prints: every mapping of the
// pods, in each family, probed from every kind of client through the
// simulator (what the rendered rules do) beside what DESIGN §4 says
// (semantics::Expect, written down independently of the renderers).
// Requires: pods that PlanPod() accepts and that do not conflict.
#ifndef TOOLS_REACHABILITY_H_
#define TOOLS_REACHABILITY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "semantics/semantics.h"
#include "sim/host_model.h"
#include "sim/simulator.h"
#include "tools/pods_file.h"

namespace hostport {

// One cell of the verify table.
struct Cell {
  std::string client;  // "external eth0", "host 127.0.0.1", "pod itself", ...
  sim::Packet packet;
  semantics::Expected expected;
  sim::TraceResult actual;
  bool matches = false;
  // "reaches 10.88.0.5:80, sees 203.0.113.7", "host socket" or "blocked".
  std::string Text() const;
  std::string ExpectedText() const;
};

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
// ::1, the host to a neighbour that is not local, the pod itself, another pod)
// through `simulator`, and compares with semantics::Expect.
absl::StatusOr<std::vector<Row>> VerifyReachability(
    const std::vector<PodRequest>& pods, const sim::Simulator& simulator);

}  // namespace hostport

#endif  // TOOLS_REACHABILITY_H_
