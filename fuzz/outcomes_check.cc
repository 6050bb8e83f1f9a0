#include "fuzz/outcomes_check.h"

#include <cstdlib>
#include <vector>

namespace fuzz {

void CheckOutcomes(const sim::Simulator& simulator, const sim::Packet& packet) {
  absl::StatusOr<std::vector<sim::TraceResult>> r = simulator.TraceAll(packet);
  if (!r.ok()) {
    if (r.status().message().empty()) std::abort();
    return;
  }
  if (r->empty()) std::abort();
  double sum = 0;
  bool known = true;
  for (const sim::TraceResult& o : *r) {
    known = known && o.probability_known;
    sum += o.probability;
  }
  if (known && (sum < 1 - 1e-6 || sum > 1 + 1e-6)) std::abort();
}

}  // namespace fuzz
