// The nftables rendering of hostport: pure functions from planned pods to
// NftTransactions for one family. No I/O.
//
// Shape (CRI-O compatible, DESIGN §4), tables `ip crio-hostports` and
// `ip6 crio-hostports`:
//   map hostports      inet_proto . inet_service : addr . inet_service
//                      (wildcard HostIP)
//   map hostipports    addr . inet_proto . inet_service : addr . inet_service
//   set hairpins       addr . addr (pod IP . DNAT target, hairpin masquerade)
//   chain hostports    dnat to daddr . l4proto . dport via @hostipports, then
//                      l4proto . dport via @hostports
//   chain prerouting, output (nat, -100): fib daddr type local goto hostports
//   chain masquerading (nat, 100): ct status dnat and saddr . daddr in
//                      @hairpins: masquerade
// IPv4 only, for localhost clients and loopback-bound mappings:
//   set loopbackports  ipv4_addr . inet_proto . inet_service
//   prerouting, first: iifname != "lo" and daddr . l4proto . dport in
//                      @loopbackports: drop (before the DNAT would make the
//                      packet routable; see iptables_renderer.h for why)
//   set localhostpods  ifname . ipv4_addr (NAT interface . pod IP, per pod
//                      with one)
//   masquerading:      ct status dnat, saddr 127.0.0.0/8 and oifname . daddr
//                      in @localhostpods: masquerade (localhost clients)
//   chain localnet (filter, input, 0): iifname != "lo", daddr 127.0.0.0/8,
//                      neither established/related nor DNATed: drop. The
//                      localhost hostports need route_localnet, which would
//                      otherwise let a neighbour reach any service bound to
//                      127.0.0.1 (the CVE-2020-8558 class).
// Each element carries its pod's owner comment (OwnerComment(id)), so a pod's
// elements are found without its IPs. One map lookup per new connection,
// whatever the number of mappings.
#ifndef HOSTPORT_RENDER_NFT_RENDERER_H_
#define HOSTPORT_RENDER_NFT_RENDERER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "hostport/model/naming.h"
#include "hostport/model/plan.h"
#include "hostport/render/nft_transaction.h"

namespace hostport {

class NftRenderer {
 public:
  // REQUIRES: names.Validate().ok().
  explicit NftRenderer(ObjectNames names = ObjectNames())
      : names_(std::move(names)) {}

  // Creates (idempotently: nft "add" of an existing object is a no-op) the
  // table and the maps, sets and chains of BaseObjects(family), and (re)writes
  // the chains' rules.
  void AddBase(IPFamily family, NftTransaction* tx) const;

  // Adds `pod`'s elements of `family`. Size depends only on `pod`. The kernel
  // refuses an element whose key is already there, so a conflicting mapping
  // fails the whole transaction.
  void AddPod(IPFamily family, const PodPlan& pod, NftTransaction* tx) const;

  // Deletes what AddPod(family, pod) added (elements by key; each must be
  // present).
  void RemovePod(IPFamily family, const PodPlan& pod, NftTransaction* tx) const;

  // The complete script for `pods`: replaces the family's table with base plus
  // every pod's elements.
  NftTransaction Full(IPFamily family, absl::Span<const PodPlan> pods) const;

  // One element of a pod: the set or map and the key, as `nft list` prints it.
  // An element's set and key, which name it, and its value in a map ("" in
  // a set), as `nft list` prints them. Equal when set and key are.
  struct ElementKey {
    std::string set;
    std::string key;
    std::string value;
    friend bool operator==(const ElementKey& a, const ElementKey& b) {
      return a.set == b.set && a.key == b.key;
    }
  };
  // The elements AddPod(family, pod) adds, in order.
  std::vector<ElementKey> ElementKeys(IPFamily family,
                                      const PodPlan& pod) const;

  // Deletes elements by key.
  void DeleteElements(IPFamily family, const std::vector<ElementKey>& keys,
                      NftTransaction* tx) const;

  // One object of the family's table besides the elements: a map, a set, or
  // a chain with its rules. AddBase renders these; a backend checks a listing
  // against them.
  struct BaseObject {
    enum class Kind { kMap, kSet, kChain };
    // Where a base chain hooks in; its policy is accept.
    struct Hook {
      std::string type;  // "nat", "filter"
      std::string hook;  // "prerouting", "input", ...
      int priority = 0;
    };
    Kind kind = Kind::kChain;
    std::string name;
    // Maps and sets: the key (and value) type, e.g. "ipv4_addr . ipv4_addr".
    std::string type;
    // Chains: the hook of a base chain; nullopt for a regular chain.
    std::optional<Hook> hook;
    // Chains: the rules, in order. AddBase flushes the chain and adds them.
    std::vector<std::string> rules;

    // How `nft list` heads the object's block: "map hostports", "chain output".
    std::string Listed() const;
  };
  // The objects AddBase(family) creates, in its order: maps and sets first
  // (the chains' rules refer to them), then the chains.
  std::vector<BaseObject> BaseObjects(IPFamily family) const;

  const ObjectNames& names() const { return names_; }

 private:
  std::string Element(IPFamily family, absl::string_view set,
                      absl::string_view body) const;
  // An element of `set` with `key`, typed as the set is declared.
  NftElementOp ElementOp(IPFamily family, absl::string_view set,
                         std::string key) const;

  ObjectNames names_;
};

}  // namespace hostport

#endif  // HOSTPORT_RENDER_NFT_RENDERER_H_
