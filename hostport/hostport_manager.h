// HostPortManager: maps a pod's host ports to its container ports in the
// kernel, holds the host ports, and removes all of it again (DESIGN §4). This
// is what container runtimes link.
//
// Add(id, pod, nat_interface) validates, checks conflicts with other pods,
// holds the ports (sockets), sets route_localnet on the NAT interface, changes
// each family's rules in one kernel transaction, then deletes stale UDP
// conntrack entries. Any failure undoes what the call did: sockets closed,
// route_localnet restored, rules of families already changed put back; the
// error names what failed. Add with an id that is already held replaces its
// mappings. Remove(id, pod) needs no pod IP: it deletes whatever of the id's
// mappings is installed, in every backend it knows (including iptables rules a
// previous backend left behind), and is a no-op for an unknown id. Host-network
// pods are a no-op for both.
//
// route_localnet is put back to the value it had before the manager set it
// when the last pod with IPv4 mappings on that interface goes (Remove, Sync, or
// an Add that moves the pod elsewhere). Add and Sync share one sequence of
// steps (ports, route_localnet, each family's rules, conntrack), each with its
// undo, so a failure anywhere leaves the host as the call found it, the held
// sockets of pods that stay included.
//
// A process that is not the only one changing the host (hostportctl,
// hostport-cni) passes what the others recorded to Adopt() first, so that
// conflicts, replaced mappings and route_localnet are judged against the whole
// host, and saves Held() afterwards.
//
// Each backend learns what is installed once, at creation; after that Add and
// Remove cost O(size of the change), whatever the number of mappings installed.
// Thread-safe.
#ifndef HOSTPORT_HOSTPORT_MANAGER_H_
#define HOSTPORT_HOSTPORT_MANAGER_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/model/naming.h"
#include "hostport/model/types.h"
#include "hostport/os/command_runner.h"
#include "hostport/os/conntrack.h"
#include "hostport/os/iptables_tools.h"
#include "hostport/os/nft_runner.h"
#include "hostport/os/port_holder.h"
#include "hostport/os/sysctl.h"

namespace hostport {

class HostPortManager {
 public:
  virtual ~HostPortManager() = default;

  // Maps `pod`'s ports under `id` (the sandbox id). `nat_interface_name` is the
  // interface localhost uses to reach the pod, if known ("" or "lo": none).
  virtual absl::Status Add(absl::string_view id, const PodPortMapping& pod,
                           absl::string_view nat_interface_name) = 0;

  // Removes every mapping of `id`. `pod` may lack IPs; its port_mappings help
  // find iptables rules a previous process installed.
  virtual absl::Status Remove(absl::string_view id,
                              const PodPortMapping& pod) = 0;

  // The backends in use, e.g. {"nftables IPv4", "nftables IPv6",
  // "iptables-legacy IPv4 (cleanup)"}.
  virtual std::vector<std::string> Backends() const = 0;

  // One pod as Sync() and RouteLocalnetBefore() take it and Held() gives it
  // (types.h).
  using PodRequest = ::hostport::PodRequest;
  // Makes the kernel hold exactly `pods`: every pod is validated and checked
  // for conflicts with the others first (an error changes nothing); then one
  // transaction per family removes every mapping of ours that none of `pods`
  // owns (including rules left by a crashed process or another backend) and
  // installs the pods'. Ports are held as Add() holds them. On a failure after
  // a family changed, that family is put back.
  virtual absl::Status Sync(const std::vector<PodRequest>& pods) = 0;

  // Whether the kernel holds `pod`'s mappings under `id` as Add() would install
  // them (as of the last read of the kernel): OK, or NotFound naming what is
  // missing. For CNI CHECK.
  virtual absl::Status Check(absl::string_view id, const PodPortMapping& pod,
                             absl::string_view nat_interface_name) const = 0;

  // What a manager knows of the host beyond the kernel's rules: the pods it
  // holds and, per interface it set route_localnet on, the value to put back.
  struct HeldState {
    std::vector<PodRequest> pods;
    std::map<std::string, std::string> route_localnet_before;
    // False when `pods` holds only the pods the coming calls concern (their
    // own ids and every pod sharing a host port with them), as a caller that
    // reads its records by index gives them: the manager then never concludes
    // from `pods` that no pod is left (the shared chains, the table and the
    // FORWARD accept stay).
    bool whole_host = true;
    // With !whole_host: NAT interfaces that pods outside `pods` use for IPv4
    // mappings; route_localnet stays on them.
    std::set<std::string> interfaces_in_use;
  };
  // Takes `state` (as another process's Held() left it) as held, without
  // touching the kernel and without holding ports: its pods count for
  // conflicts, their mappings are replaced or removed by a later Add or
  // Remove of their id, and route_localnet goes back when the last of them on
  // an interface goes. Pods that do not plan (damaged records) are skipped and
  // named in the error, the others adopted. With trust_records, the backends
  // take the adopted pods as installed; when a family's base objects are
  // missing although adopted pods have mappings there, the kernel changed
  // behind the records' back: that is logged as a warning and the family is
  // read whole. REQUIRES: nothing held yet.
  virtual absl::Status Adopt(const HeldState& state) = 0;
  // The pods held and the route_localnet values to put back, for Adopt().
  virtual HeldState Held() const = 0;
  // Held().route_localnet_before as it will be once Add or Sync of
  // `requests` has set route_localnet: the values now on the interfaces they
  // would change are added. Changes nothing; a caller that keeps state across
  // processes records this before the change, so that a process killed right
  // after setting route_localnet leaves the value to put back on record.
  // Requests that do not plan, or whose interface cannot be read, are left
  // out (Add reports them).
  virtual std::map<std::string, std::string> RouteLocalnetBefore(
      const std::vector<PodRequest>& requests) const = 0;
};

// The operating-system seams a manager uses. Null members are replaced by the
// real implementations; tests pass fakes. Whatever is passed must outlive the
// manager.
struct HostportEnv {
  CommandRunner* commands = nullptr;
  NftRunner* nft = nullptr;
  PortHolder* ports = nullptr;
  ConntrackCleaner* conntrack = nullptr;
  Sysctl* sysctl = nullptr;
};

struct ManagerOptions {
  ObjectNames names;
  // Hold a socket on every mapped port (DESIGN §4). A one-shot command that
  // exits after Add cannot keep sockets, and turns this off.
  bool hold_ports = true;
  // When the host drops forwarded traffic by policy in iptables' filter
  // FORWARD (Docker does), accept DNATed flows there first (our chain
  // CRIO-HOSTPORTS-FORWARD, taken away with the last pod). Without it, or for
  // a drop in another owner's nftables table (which no accept of ours can
  // override), Add logs a warning naming the chain and its policy (with
  // trust_records: the Add of the host's first pod).
  bool allow_forward = false;
  HostportEnv env;
  // Notes a person may want: skipped mappings, ports not held and why.
  std::function<void(absl::string_view)> log;
  // For callers that keep records of what they installed, under a host-wide
  // lock (hostportctl, hostport-cni): the backends do not read what is
  // installed at creation, only whether their base objects are in place (see
  // FamilyBackend::LoadBase), and take the pods given to Adopt() as
  // installed, so that a fresh process costs O(its change), not O(mappings
  // on the host). A delta the kernel refuses makes the backend read
  // everything and retry once; Sync() and Check() always read everything.
  // The records are then the only way to find a pod's mappings: Remove of an
  // id not adopted finds nothing. NewMetaHostportManager creates no cleanup
  // backends in this mode (they would have to read everything).
  bool trust_records = false;
};

// One family through iptables (the seed's NewHostportManager(iptables)).
struct IptablesInterface {
  IPFamily family = IPFamily::kIPv4;
  IptablesVariant variant = IptablesVariant::kNft;
};
absl::StatusOr<std::unique_ptr<HostPortManager>> NewHostportManager(
    IptablesInterface iptables, ManagerOptions options = ManagerOptions());

// Both families; per family nftables where the kernel has it, iptables
// otherwise (or the backend `prefer` names). IPv6 is used where the host has
// it: an IPv6 mapping on a host without IPv6 is an error naming it. With
// `cleanup_other_backends`, Add and Remove also delete what this library's
// other backends (nftables, iptables-legacy, iptables-nft: those with tables on
// the host) hold for the pod, so a host moving between backends leaks nothing.
struct MetaOptions : ManagerOptions {
  // kIptables: the variant the host's `iptables` command is (iptables
  // --version says "nf_tables" or "legacy").
  enum class Backend {
    kAuto,
    kNftables,
    kIptables,
    kIptablesLegacy,
    kIptablesNft
  };
  Backend prefer = Backend::kAuto;
  bool cleanup_other_backends = true;
};

absl::StatusOr<std::unique_ptr<HostPortManager>> NewMetaHostportManager(
    MetaOptions options = MetaOptions());

// The backend a person names: "auto", "nftables", "iptables",
// "iptables-legacy" or "iptables-nft" (what hostportctl --backend and the CNI
// plugin's "backend" take). InvalidArgument naming the value and the valid
// names otherwise.
absl::StatusOr<MetaOptions::Backend> ParseBackendName(absl::string_view name);

}  // namespace hostport

#endif  // HOSTPORT_HOSTPORT_MANAGER_H_
