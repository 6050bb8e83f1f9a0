// Simulator: walks one packet through a host's netfilter hooks (raw, NAT and
// filter chains) the way the kernel does, and says where it ends up.
//
// Promises: the walk follows DESIGN §5/§7 — received packets pass
// PREROUTING → routing → INPUT (local) or FORWARD → POSTROUTING; locally
// generated ones OUTPUT → reroute → POSTROUTING, and to a local address are
// looped back through PREROUTING and INPUT on lo. At each hook the iptables
// raw, nat and filter tables and the nft NAT and filter base chains run
// together in priority order; NAT binds once per direction (the first binding
// wins and later NAT chains of that hook are skipped), accept in one base
// chain does not stop the next, drop and a drop policy are final. Routing
// facts are applied: 127/8 on a non-loopback interface is martian unless
// route_localnet; ::1 never leaves loopback; an unmasqueraded hairpin, a
// bridge port without hairpin_mode, and an unmasqueraded reply bridged past
// conntrack all fail, with the reason said. Evaluation is indexed: nft map
// lookups are hash lookups and iptables chains keyed by `-p P --dport N`
// are looked up by (P, N), preserving rule order.
// Requires: a Ruleset whose NAT tables hold, outside their rules, only
// supported constructs (Create checks) and a packet whose addresses share one
// family. A rule the parsers kept as unmodelled (nft, or iptables filter), or
// a filter-only table holding what is not modelled, makes Trace fail with
// FailedPrecondition when the walk reaches it, never guess.
// A Simulator is immutable after Create and may be used from several threads.
#ifndef SIM_SIMULATOR_H_
#define SIM_SIMULATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/host_model.h"
#include "sim/ip_address.h"
#include "sim/ruleset.h"

namespace sim {

// Where a packet starts.
struct PacketOrigin {
  enum class Kind : uint8_t {
    kExternal,  // arrives on `interface` from another machine
    kLocal,     // sent by a process on the host
    kPod,       // sent by the pod with address `pod`
  };
  Kind kind = Kind::kExternal;
  // kExternal: the arrival interface; empty picks the one that routes the
  // source (or the first non-loopback interface).
  std::string interface;
  IpAddress pod;  // kPod
};

// "external", "external:IFACE", "local" or "pod:IP" (as `hostportctl trace
// --from` takes it).
absl::StatusOr<PacketOrigin> ParsePacketOrigin(absl::string_view text);

struct Packet {
  Protocol protocol = Protocol::kTcp;
  IpAddress dst;
  uint16_t dst_port = 0;
  // Unset: 203.0.113.7 / 2001:db8:ffff::7 from outside, the pod's address
  // from a pod, the host's route source (HostModel::LocalSource when the
  // destination is local) from a local process.
  std::optional<IpAddress> src;
  uint16_t src_port = 40000;
  PacketOrigin origin;
};

enum class PacketVerdict : uint8_t {
  kDelivered,  // to an endpoint that is not the host
  kLocal,      // to a socket on the host
  kDropped,
};
// "delivered", "local", "dropped".
std::string PacketVerdictName(PacketVerdict verdict);

struct NatBinding {
  enum class Kind : uint8_t { kDnat, kSnat, kMasquerade };
  Kind kind = Kind::kDnat;
  Hook hook = Hook::kPrerouting;
  std::string before;  // endpoint before, "10.0.0.1:80"
  std::string after;
  std::string rule;  // "nat/CNI-DN-... rule 3" (empty when not tracing)
};

struct TraceResult {
  PacketVerdict verdict = PacketVerdict::kDropped;
  // The endpoint the receiver sees (after DNAT).
  IpAddress to;
  uint16_t to_port = 0;
  // The source the receiver sees (after SNAT/masquerade).
  IpAddress source;
  uint16_t source_port = 0;
  std::string out_interface;  // "lo" for local delivery
  std::string reason;         // why, when dropped
  std::vector<NatBinding> bindings;
  // One line per step: hook entered, rule matched, chain returned, policy,
  // routing decision (empty when TraceOptions::record_trace is false).
  std::vector<std::string> trace;
  // How likely this outcome is, over what the walk cannot know (a random
  // draw, a counter, a rate limit, a recent list). 1.0 for a deterministic
  // walk. When probability_known is false, the outcome is possible but its
  // likelihood depends on state the trace cannot see (`-m recent`, `limit`),
  // and `probability` means nothing.
  double probability = 1.0;
  bool probability_known = true;

  std::string To() const { return to.WithPort(to_port); }
  std::string SourceSeen() const { return source.ToString(); }
};

struct TraceOptions {
  // Off for speed (benchmarks, property tests that look only at verdicts).
  bool record_trace = true;
  // Off: scan every rule of every chain instead of using the (protocol,
  // destination port) index; for tests that the index changes no answer.
  bool use_rule_index = true;
};

class Simulator {
 public:
  // Chooses the tables to evaluate (see notes()), binds jump targets and
  // named sets, and builds the rule indexes. Fails, naming the table, when
  // an evaluated table holds an unsupported construct or refers to a chain
  // or set that does not exist.
  static absl::StatusOr<std::unique_ptr<Simulator>> Create(Ruleset ruleset,
                                                           HostModel host);

  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Walks `packet`. Fails with InvalidArgument on a packet that cannot
  // exist (mixed families, port 0, an unknown interface, a pod address no
  // interface reaches), and with FailedPrecondition on a rule that is invalid
  // where it is reached (DNAT in a source-NAT hook) or not modelled (a filter
  // rule or table the parsers kept as unsupported), and where the kernel
  // would pick what a trace cannot know (a NAT port outside its range, one
  // of several addresses, a local packet's owner, a bridged packet's
  // physdev), naming the rule.
  // Also fails with FailedPrecondition, naming the first probabilistic rule
  // reached (`-m statistic`, `numgen`, `-m recent --rcheck`, `limit`, a
  // dynamic set), when the packet has more than one possible outcome: see
  // TraceAll. Branches that all end alike give that one outcome.
  absl::StatusOr<TraceResult> Trace(const Packet& packet,
                                    const TraceOptions& options = {}) const;

  // Every outcome `packet` can have, each with its probability, in the order
  // the walk first meets them (at each probabilistic point: "matches" before
  // "does not", numgen values in increasing order). Outcomes with the same
  // verdict, endpoint, source seen and reason are merged (probabilities
  // summed; unknown when any part is unknown); the first one's trace and
  // bindings are kept. A deterministic walk gives one outcome of probability
  // 1.0. Fails as Trace does (for any branch), and with FailedPrecondition
  // naming the last probabilistic rule when there are more than
  // kMaxTraceBranches branch combinations.
  absl::StatusOr<std::vector<TraceResult>> TraceAll(
      const Packet& packet, const TraceOptions& options = {}) const;
  static constexpr int kMaxTraceBranches = 4096;

  // Tables and chains deliberately not evaluated, and why.
  const std::vector<std::string>& notes() const { return ruleset_.notes; }
  const HostModel& host() const { return host_; }

 private:
  struct BaseChain {
    const Table* table;
    const Chain* chain;
    bool nat;  // type "nat": runs only until a binding, not when looped back
  };
  class Walk;

  // The host questions a walk asks per packet (is it local, where does it
  // route), answered as HostModel answers them but from tables built once
  // at Create: no interface names compared, no interfaces scanned.
  class HostIndex {
   public:
    explicit HostIndex(const HostModel& host);
    const HostInterface* lo() const { return lo_; }
    bool IsLocal(const IpAddress& address) const;
    const HostInterface* Route(const IpAddress& dst) const;

   private:
    const HostInterface* lo_;
    std::vector<IpAddress> local_;  // every interface address
    // The routes, then the prefixes of non-lo interface addresses, longest
    // first (stable): the first that holds an address routes it.
    std::vector<std::pair<IpPrefix, const HostInterface*>> prefixes_;
  };

  Simulator(Ruleset ruleset, HostModel host);
  absl::Status Bind();
  // Trace of a walk that met a probabilistic rule: the one outcome of all
  // its branches, or why there is none.
  absl::StatusOr<TraceResult> OneOutcome(
      const Packet& packet, const TraceOptions& options,
      absl::string_view first_branch_rule) const;
  // Fills hooks_ from the bound tables.
  void OrderBaseChains();

  Ruleset ruleset_;
  HostModel host_;
  HostIndex host_index_;  // of host_
  // [family][hook] → evaluated base chains in priority order.
  std::vector<BaseChain> hooks_[2][5];
};

}  // namespace sim

#endif  // SIM_SIMULATOR_H_
