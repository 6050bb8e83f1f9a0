// Generators for hostport's property tests: hosts, dual-stack pod sets and the
// clients that probe them, as RapidCheck generators built from rc::gen
// combinators so that a failure shrinks to a small host, few pods and few
// mappings.
//
// A Scenario is always valid: every pod passes semantics::CheckPod and no two
// pods conflict under semantics::FindConflict (DESIGN §4, decided without
// hostport's code). Generation draws raw pods first and then drops, mapping
// by mapping, whatever //semantics refuses, so the refusals themselves are
// exercised and the rest is kept. Ports (host and container) come mostly from
// a small pool with the edges 1 and 65535, so mappings collide often, else
// uniformly from 1..65535, and now and then are 0 or 65536 (always refused);
// HostIPs mix "", 0.0.0.0, ::, the host's own addresses of both families,
// 127.0.0.1, ::1 (always refused) and addresses the host does not have.
// showValue() prints every type readably.
#ifndef HOSTPORT_PROPERTIES_GENERATORS_H_
#define HOSTPORT_PROPERTIES_GENERATORS_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "hostport/model/types.h"
#include "hostport/properties/scenario.h"
#include "rapidcheck.h"
#include "sim/host_model.h"
#include "sim/simulator.h"
#include "tools/pods_file.h"

namespace hostport::properties {

rc::Gen<HostSpec> GenHostSpec();
// A valid port: PortPool() three times in four, else uniform in 1..65535.
rc::Gen<int> GenPort();
// GenPort(), or one time in twenty 0 or 65536.
rc::Gen<int> GenRawPort();
// 1..4 raw pods (ids pod0, pod1, ...) for `host`: 1..4 IPs of either or both
// families from a pool of eight, 0..8 mappings, nat_interface "", "lo" or
// the pod bridge. Not yet valid: see MakeValid.
rc::Gen<std::vector<PodRequest>> GenRawPods(const HostSpec& host);
rc::Gen<Scenario> GenScenario();

void showValue(const ExternalInterface& v, std::ostream& os);
void showValue(const HostSpec& v, std::ostream& os);
void showValue(const Scenario& v, std::ostream& os);
void showValue(const Probe& v, std::ostream& os);

}  // namespace hostport::properties

namespace hostport {
// RapidCheck finds these by argument-dependent lookup.
void showValue(const PortMapping& v, std::ostream& os);
void showValue(const PodRequest& v, std::ostream& os);
}  // namespace hostport

#endif  // HOSTPORT_PROPERTIES_GENERATORS_H_
