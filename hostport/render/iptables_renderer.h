// The iptables rendering of hostport: pure functions from planned pods to
// IptablesTransactions for one family. No I/O.
//
// Shape (CRI-O compatible, DESIGN §4), table nat:
//   PREROUTING, OUTPUT   -m comment --comment "kube hostport portals"
//                        -m addrtype --dst-type LOCAL -j KUBE-HOSTPORTS
//   KUBE-HOSTPORTS       per mapping, newest first (-I):
//                        -p P -m comment --comment "<owner> hostport N"
//                        -m P --dport N -j KUBE-HP-<h>
//   KUBE-HP-<h>          [-d HostIP] -p P ... -j DNAT --to-destination
//                        PodIP:Port
//   POSTROUTING          -m comment --comment "kube hostport masquerading"
//                        -m conntrack --ctstate DNAT -j CRIO-HOSTPORTS-MASQ
//   CRIO-HOSTPORTS-MASQ  per mapping: -j CRIO-MASQ-<h>
//   CRIO-MASQ-<h>        per pod IP S of the family: -s S -d PodIP -p P
//                        --dport Port -m conntrack --ctorigdstport N
//                        -j MASQUERADE (hairpin); IPv4, per pod with a NAT
//                        interface: -s 127.0.0.0/8 -d PodIP -o IF ...
//                        -j MASQUERADE (localhost clients, with route_localnet
//                        on that interface, DESIGN §4)
// and, IPv4 only, table raw:
//   PREROUTING           -d 127.0.0.0/8 ! -i lo -j CRIO-HOSTPORTS-LOOPBACK
//   CRIO-HOSTPORTS-LOOPBACK  per loopback-bound mapping:
//                        -d HostIP -p P --dport N -j DROP
// and, IPv4 only, table filter:
//   INPUT, first         -d 127.0.0.0/8 ! -i lo -j CRIO-HOSTPORTS-LOCALNET
//   CRIO-HOSTPORTS-LOCALNET  -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT
//                        -j DROP: route_localnet, which localhost clients
//                        need, must not let a neighbour reach a host service
//                        bound to 127.0.0.1 (the CVE-2020-8558 class).
// The loopback guard lives in raw because DNAT in nat PREROUTING happens before
// the routing decision that would drop a packet for 127.0.0.0/8 arriving from
// outside: once rewritten to the pod it is no longer martian, so a
// 127.0.0.1-bound hostport would be reachable from any neighbour. The nat table
// may not DROP, and raw runs before both conntrack and nat. A packet from a
// local process to 127.0.0.1 never passes PREROUTING as a new connection, so
// the guard never hits host-local clients.
//
// Rule text is written in the order iptables-save prints it, so a saved table
// compares equal, line for line, to what was rendered.
#ifndef HOSTPORT_RENDER_IPTABLES_RENDERER_H_
#define HOSTPORT_RENDER_IPTABLES_RENDERER_H_

#include <vector>

#include "absl/types/span.h"
#include "hostport/model/naming.h"
#include "hostport/model/plan.h"
#include "hostport/render/iptables_transaction.h"

namespace hostport {

class IptablesRenderer {
 public:
  // REQUIRES: names.Validate().ok().
  explicit IptablesRenderer(ObjectNames names = ObjectNames())
      : names_(std::move(names)) {}

  // Creates the shared chains and the jumps into them (-N, so it fails rather
  // than flush a chain another owner already holds). For a family whose tables
  // do not yet hold them.
  void AddBase(IPFamily family, IptablesTransaction* tx) const;

  // Adds `pod`'s mappings of tx->family(): declares (creates or empties) its
  // own chains and inserts its jumps at the top of the shared chains. Size
  // depends only on `pod`. Tables are touched raw first, so the loopback guard
  // is in place before the DNAT.
  void AddPod(const PodPlan& pod, IptablesTransaction* tx) const;

  // Removes what AddPod(pod) added for tx->family(): deletes the jumps (-D, so
  // the exact rules must be there) and the pod's chains. Tables are touched nat
  // first, so the DNAT is gone before the loopback guard.
  void RemovePod(const PodPlan& pod, IptablesTransaction* tx) const;

  // The complete ruleset for `pods` in a nat (and raw) table that holds none of
  // ours: base plus every pod, ordered as if the pods had been added one after
  // another.
  IptablesTransaction Full(IPFamily family,
                           absl::Span<const PodPlan> pods) const;

  // The rules a mapping puts in shared chains, as AddPod() writes them and
  // iptables-save prints them back: what RemoveRules() deletes.
  struct SharedRules {
    std::string hash;
    std::string hostport_jump;    // In the hostports chain.
    std::string masquerade_jump;  // In the masquerade chain.
    std::string loopback_drop;  // In the raw loopback guard chain; "" if none.
  };
  SharedRules SharedRulesOf(const PlannedMapping& m) const;

  // Removes one installed mapping: empties its chains, deletes its rules from
  // the shared chains, and deletes its chains unless `keep_chains` (they are
  // about to be filled again in the same transaction). Rules that are "" are
  // skipped.
  void RemoveRules(const SharedRules& rules, bool keep_chains,
                   IptablesTransaction* tx) const;

  // The base operations (AddBase), for comparing with what a table holds.
  IptablesTransaction Base(IPFamily family) const;

  const ObjectNames& names() const { return names_; }

 private:
  void AddPodRules(const PodPlan& pod, bool insert,
                   IptablesTransaction* tx) const;
  std::string HostportJump(const PlannedMapping& m) const;
  std::string MasqueradeJump(const PlannedMapping& m) const;
  std::string LoopbackDrop(const PlannedMapping& m) const;

  ObjectNames names_;
};

}  // namespace hostport

#endif  // HOSTPORT_RENDER_IPTABLES_RENDERER_H_
