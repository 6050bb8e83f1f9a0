// What the parser fuzzers ask of every packet they walk through a ruleset that
// parsed: TraceAll either refuses with a message or gives at least one
// outcome, and when every outcome's probability is known they sum to 1.
// Requires: a Simulator built from the fuzzed ruleset. Aborts (a finding)
// otherwise.
#ifndef FUZZ_OUTCOMES_CHECK_H_
#define FUZZ_OUTCOMES_CHECK_H_

#include "sim/simulator.h"

namespace fuzz {

void CheckOutcomes(const sim::Simulator& simulator, const sim::Packet& packet);

}  // namespace fuzz

#endif  // FUZZ_OUTCOMES_CHECK_H_
