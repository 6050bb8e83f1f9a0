#include "hostport/hostport_manager.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hostport/backend_choice.h"
#include "hostport/backends/backend.h"
#include "hostport/backends/forward_filter.h"
#include "hostport/backends/iptables_backend.h"
#include "hostport/model/conflict.h"
#include "hostport/model/plan.h"

namespace hostport {
namespace {

using PortMap = absl::flat_hash_map<PortKey, std::unique_ptr<HeldPort>>;

// The real seams a manager creates for the null members of its HostportEnv.
// Each manager owns its own: a netlink socket belongs to the network namespace
// it was opened in.
struct OwnedEnv {
  std::unique_ptr<CommandRunner> commands;
  std::unique_ptr<NftRunner> nft;
  std::unique_ptr<PortHolder> ports;
  std::unique_ptr<ConntrackCleaner> conntrack;
  std::unique_ptr<Sysctl> sysctl;
};

OwnedEnv FillRealDefaults(HostportEnv* env) {
  OwnedEnv owned;
  if (env->commands == nullptr) {
    owned.commands = std::make_unique<RealCommandRunner>();
    env->commands = owned.commands.get();
  }
  if (env->nft == nullptr) {
    owned.nft = std::make_unique<LibNftRunner>();
    env->nft = owned.nft.get();
  }
  if (env->ports == nullptr) {
    owned.ports = std::make_unique<SocketPortHolder>();
    env->ports = owned.ports.get();
  }
  if (env->conntrack == nullptr) {
    owned.conntrack = std::make_unique<NetlinkConntrackCleaner>();
    env->conntrack = owned.conntrack.get();
  }
  if (env->sysctl == nullptr) {
    owned.sysctl = std::make_unique<ProcSysctl>();
    env->sysctl = owned.sysctl.get();
  }
  return owned;
}

std::string FamilyLabel(IPFamily f) { return std::string(IPFamilyLabel(f)); }

absl::flat_hash_set<std::string> PlanHashes(const PodPlan& plan) {
  absl::flat_hash_set<std::string> hashes;
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    for (const PlannedMapping& m : plan.family(f).mappings)
      hashes.insert(m.hash);
  }
  return hashes;
}

std::vector<PortKey> PortKeys(const PodPlan& plan) {
  std::vector<PortKey> keys;
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    for (const PlannedMapping& m : plan.family(f).mappings) {
      keys.push_back(PortKey{f, m.protocol, m.host_ip, m.host_port});
    }
  }
  return keys;
}

// The undo of each step a call has taken so far. Unless Commit() is called,
// the steps are taken back, newest first, when the log goes out of scope: a
// call that returns early for any reason leaves the host as it found it.
class UndoLog {
 public:
  UndoLog() = default;
  UndoLog(const UndoLog&) = delete;
  UndoLog& operator=(const UndoLog&) = delete;
  ~UndoLog() {
    for (auto it = undos_.rbegin(); it != undos_.rend(); ++it) (*it)();
  }
  void Push(std::function<void()> undo) { undos_.push_back(std::move(undo)); }
  void Commit() { undos_.clear(); }

 private:
  std::vector<std::function<void()>> undos_;
};

class Manager : public HostPortManager {
 public:
  // primary[0] is IPv4, primary[1] IPv6; either may be null (family
  // unavailable).
  Manager(ManagerOptions options, OwnedEnv owned,
          std::unique_ptr<FamilyBackend> ipv4,
          std::unique_ptr<FamilyBackend> ipv6,
          std::vector<std::unique_ptr<FamilyBackend>> cleanup)
      : options_(std::move(options)),
        owned_(std::move(owned)),
        cleanup_(std::move(cleanup)),
        forward_(options_.env.commands, options_.env.nft, options_.env.sysctl,
                 options_.names) {
    primary_[0] = std::move(ipv4);
    primary_[1] = std::move(ipv6);
    for (auto& b : primary_) {
      if (b != nullptr) b->set_log(options_.log);
    }
    for (auto& b : cleanup_) b->set_log(options_.log);
    // Trusting records, the manager knows nothing of the host until Adopt.
    whole_host_ = !options_.trust_records;
  }

  absl::Status Add(absl::string_view id, const PodPortMapping& pod,
                   absl::string_view nat_interface_name) override;
  absl::Status Remove(absl::string_view id, const PodPortMapping& pod) override;
  std::vector<std::string> Backends() const override;
  absl::Status Sync(const std::vector<PodRequest>& pods) override;
  absl::Status Check(absl::string_view id, const PodPortMapping& pod,
                     absl::string_view nat_interface_name) const override;
  absl::Status Adopt(const HeldState& state) override;
  HeldState Held() const override;
  std::map<std::string, std::string> RouteLocalnetBefore(
      const std::vector<PodRequest>& requests) const override;

 private:
  struct PodRecord {
    PodRequest request;
    PodPlan plan;
    PortMap ports;
  };

  FamilyBackend* Primary(IPFamily f) const {
    return primary_[f == IPFamily::kIPv4 ? 0 : 1].get();
  }
  void Log(absl::string_view message) const {
    if (options_.log) options_.log(message);
  }
  // Plans `request` and checks what needs no kernel: the host has the
  // families the plan maps.
  absl::StatusOr<PodPlan> Plan(const PodRequest& request) const;
  // Holds `keys` into `held`; ports the kernel cannot hold for lack of a
  // protocol are logged and skipped.
  absl::Status HoldPorts(const std::vector<PortKey>& keys, PortMap* held);

  // The steps of Add and Sync, in order. Each pushes its undo onto `undo`.
  //
  // Ports: takes the sockets of the pods `leaving` (those whose mappings the
  // call replaces), keeps those `keys` still want, closes the rest, so that a
  // narrower or wider binding of a port can take their place, and holds the
  // new ones into `held`. The undo gives every leaving pod its sockets back.
  absl::Status SwapPorts(const std::vector<std::string>& leaving,
                         const std::vector<PortKey>& keys, PortMap* held,
                         UndoLog* undo);
  // route_localnet=1 on the NAT interface of every plan with IPv4 mappings,
  // remembering the value it had.
  absl::Status SetRouteLocalnet(const std::vector<const PodPlan*>& plans,
                                UndoLog* undo);
  // `change` for each family this host has; a family that fails puts back
  // the families changed before it (with `back`).
  absl::Status ChangeFamilies(
      const std::function<absl::Status(FamilyBackend*)>& change,
      const std::function<absl::Status(FamilyBackend*)>& back, UndoLog* undo);
  // What Add and Sync change, as their steps see it.
  struct Change {
    std::vector<std::string> leaving;   // Ids whose mappings it replaces.
    std::vector<const PodPlan*> plans;  // The pods it puts in place.
    std::function<absl::Status(FamilyBackend*)> apply;  // Per family.
    std::function<absl::Status(FamilyBackend*)> back;   // apply's undo.
  };
  // The one sequence of steps Add and Sync take: ports (SwapPorts),
  // route_localnet, the forward accept (when pods are put in place), then
  // each family. Each step pushes its undo onto `undo`, so a caller that
  // returns on an error leaves the host as it was. Errors of a change of one
  // pod name the pod.
  absl::Status Install(const Change& change, PortMap* held, UndoLog* undo);
  // One DeleteUdp per family for every UDP mapping of `plans`.
  absl::Status ClearUdpConntrack(const std::vector<const PodPlan*>& plans);

  // route_localnet back to its value before us on every interface that no
  // held pod needs any more.
  void RestoreUnusedRouteLocalnet();

  // With allow_forward, makes iptables' filter FORWARD drops accept DNATed
  // flows (undo: closes them again when no pod was held before).
  absl::Status OpenForward(UndoLog* undo);
  // Once per manager, with pods held: warns of every forward drop that is
  // not opened. With trust_records, Add calls it only for the host's first
  // pod.
  void WarnOfForwardDrops();
  // When no pod is left: takes our FORWARD accept away.
  void CloseForwardIfUnused();
  // The forward hook's drops, read once.
  absl::StatusOr<std::vector<ForwardDrop>> ForwardDrops();

  ManagerOptions options_;
  OwnedEnv owned_;  // Declared before the backends, which use it.
  std::unique_ptr<FamilyBackend> primary_[2];
  std::vector<std::unique_ptr<FamilyBackend>> cleanup_;

  mutable std::mutex mu_;
  PortClaims claims_;
  absl::flat_hash_map<std::string, PodRecord> pods_;
  // Interface → route_localnet before this manager (or the process it
  // adopted) set it.
  std::map<std::string, std::string> route_localnet_before_;

  ForwardFilter forward_;
  std::optional<absl::StatusOr<std::vector<ForwardDrop>>> forward_drops_;
  bool forward_open_ = false;
  bool forward_warned_ = false;
  bool adopted_ = false;  // Adopt() was given pods.
  // pods_ is every pod of the host (see HeldState::whole_host).
  bool whole_host_ = true;
  std::set<std::string> interfaces_in_use_;  // By pods not in pods_.
};

bool NeedsRouteLocalnet(const PodPlan& plan) {
  return !plan.nat_interface.empty() && !plan.ipv4.mappings.empty();
}

absl::StatusOr<PodPlan> Manager::Plan(const PodRequest& request) const {
  absl::StatusOr<PodPlan> plan =
      PlanPod(request.id, request.pod, request.nat_interface);
  if (!plan.ok() || plan->host_network) return plan;
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    if (!plan->family(f).mappings.empty() && Primary(f) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("pod ", plan->owner, " has ", FamilyLabel(f),
                       " mappings, but this host has no ", FamilyLabel(f),
                       " (absent or disabled)"));
    }
  }
  return plan;
}

absl::Status Manager::HoldPorts(const std::vector<PortKey>& keys,
                                PortMap* held) {
  for (const PortKey& key : keys) {
    if (held->contains(key)) continue;
    absl::StatusOr<std::unique_ptr<HeldPort>> port =
        options_.env.ports->Hold(key);
    if (absl::IsUnimplemented(port.status())) {
      Log(absl::StrCat("not holding ", key.ToString(), ": ",
                       port.status().message()));
      continue;
    }
    if (!port.ok()) return port.status();
    held->emplace(key, std::move(*port));
  }
  return absl::OkStatus();
}

absl::Status Manager::SwapPorts(const std::vector<std::string>& leaving,
                                const std::vector<PortKey>& keys, PortMap* held,
                                UndoLog* undo) {
  // Which leaving pod had which socket, to give them back.
  std::vector<std::pair<std::string, PortKey>> owners;
  PortMap taken;
  for (const std::string& id : leaving) {
    auto it = pods_.find(id);
    if (it == pods_.end()) continue;
    for (auto& [key, port] : it->second.ports) {
      owners.emplace_back(id, key);
      taken.emplace(key, std::move(port));
    }
    it->second.ports.clear();
  }
  std::vector<PortKey> wanted;
  for (const PortKey& key : keys) {
    auto it = taken.find(key);
    if (it != taken.end()) {
      held->emplace(key, std::move(it->second));
      taken.erase(it);
    } else {
      wanted.push_back(key);
    }
  }
  taken.clear();  // Closes the sockets no longer wanted.
  undo->Push([this, owners, held]() {
    PortMap kept;
    for (const auto& [id, key] : owners) {
      auto it = held->find(key);
      if (it == held->end()) continue;
      kept.emplace(key, std::move(it->second));
      held->erase(it);
    }
    held->clear();  // Closes what the call opened.
    for (const auto& [id, key] : owners) {
      auto pod = pods_.find(id);
      if (pod == pods_.end()) continue;
      auto it = kept.find(key);
      if (it != kept.end()) {
        pod->second.ports.emplace(key, std::move(it->second));
        kept.erase(it);
        continue;
      }
      if (absl::Status s = HoldPorts({key}, &pod->second.ports); !s.ok()) {
        Log(absl::StrCat("pod ", pod->second.plan.owner,
                         " could not hold its port again: ", s.message()));
      }
    }
  });
  return HoldPorts(wanted, held);
}

absl::Status Manager::SetRouteLocalnet(const std::vector<const PodPlan*>& plans,
                                       UndoLog* undo) {
  for (const PodPlan* plan : plans) {
    if (!NeedsRouteLocalnet(*plan)) continue;
    const std::string& iface = plan->nat_interface;
    const std::string name = RouteLocalnetSysctl(iface);
    absl::StatusOr<std::string> before = options_.env.sysctl->Read(name);
    absl::Status s = before.status();
    if (s.ok() && *before != "1") {
      s = options_.env.sysctl->Write(name, "1");
      if (s.ok()) {
        undo->Push([this, name, value = *before]() {
          if (absl::Status s = options_.env.sysctl->Write(name, value);
              !s.ok()) {
            Log(absl::StrCat("putting back ", name, " failed: ", s.message()));
          }
        });
      }
    }
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("pod ", plan->owner, ": nat interface ", iface,
                                 ": ", s.message()));
    }
    if (route_localnet_before_.emplace(iface, *before).second) {
      undo->Push([this, iface]() { route_localnet_before_.erase(iface); });
    }
  }
  return absl::OkStatus();
}

absl::Status Manager::ChangeFamilies(
    const std::function<absl::Status(FamilyBackend*)>& change,
    const std::function<absl::Status(FamilyBackend*)>& back, UndoLog* undo) {
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    FamilyBackend* b = Primary(f);
    if (b == nullptr) continue;
    if (absl::Status s = change(b); !s.ok()) return s;
    undo->Push([this, b, back]() {
      if (absl::Status s = back(b); !s.ok()) {
        Log(absl::StrCat("putting back ", b->name(), " ",
                         FamilyLabel(b->family()), " failed: ", s.message()));
      }
    });
  }
  return absl::OkStatus();
}

absl::Status Manager::Install(const Change& change, PortMap* held,
                              UndoLog* undo) {
  auto named = [&](absl::Status s) {
    if (s.ok() || change.plans.size() != 1) return s;
    return absl::Status(s.code(), absl::StrCat("pod ", change.plans[0]->owner,
                                               ": ", s.message()));
  };
  std::vector<PortKey> keys;
  if (options_.hold_ports) {
    for (const PodPlan* plan : change.plans) {
      for (const PortKey& key : PortKeys(*plan)) keys.push_back(key);
    }
  }
  if (absl::Status s = SwapPorts(change.leaving, keys, held, undo); !s.ok()) {
    return named(s);
  }
  // Its errors name the pod already.
  if (absl::Status s = SetRouteLocalnet(change.plans, undo); !s.ok()) return s;
  if (!change.plans.empty()) {
    if (absl::Status s = OpenForward(undo); !s.ok()) return named(s);
  }
  return named(ChangeFamilies(change.apply, change.back, undo));
}

absl::Status Manager::ClearUdpConntrack(
    const std::vector<const PodPlan*>& plans) {
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    std::vector<UdpDestination> destinations;
    std::vector<std::string> owners;  // The first few, for the error.
    size_t pods = 0;
    for (const PodPlan* plan : plans) {
      const size_t before = destinations.size();
      for (const PlannedMapping& m : plan->family(f).mappings) {
        if (m.protocol == Protocol::kUDP) {
          destinations.push_back({m.host_ip, m.host_port});
        }
      }
      if (destinations.size() == before) continue;
      if (++pods <= 3) owners.push_back(plan->owner);
    }
    if (destinations.empty()) continue;
    absl::StatusOr<int> deleted =
        options_.env.conntrack->DeleteUdp(f, destinations);
    if (!deleted.ok()) {
      return absl::Status(
          deleted.status().code(),
          absl::StrCat(
              "clearing ", FamilyLabel(f), " UDP conntrack entries of pod ",
              absl::StrJoin(owners, ", "),
              pods > owners.size()
                  ? absl::StrCat(" and ", pods - owners.size(), " others")
                  : "",
              " (", destinations.size(),
              " destinations): ", deleted.status().message()));
    }
  }
  return absl::OkStatus();
}

void Manager::RestoreUnusedRouteLocalnet() {
  absl::flat_hash_set<std::string> used(interfaces_in_use_.begin(),
                                        interfaces_in_use_.end());
  for (const auto& [id, record] : pods_) {
    if (NeedsRouteLocalnet(record.plan)) used.insert(record.plan.nat_interface);
  }
  for (auto it = route_localnet_before_.begin();
       it != route_localnet_before_.end();) {
    if (used.contains(it->first)) {
      ++it;
      continue;
    }
    if (it->second != "1") {
      const std::string name = RouteLocalnetSysctl(it->first);
      if (absl::Status s = options_.env.sysctl->Write(name, it->second);
          !s.ok()) {
        // Keep remembering it: a later call tries again.
        Log(absl::StrCat("putting back ", name, "=", it->second,
                         " failed: ", s.message()));
        ++it;
        continue;
      }
    }
    it = route_localnet_before_.erase(it);
  }
}

absl::StatusOr<std::vector<ForwardDrop>> Manager::ForwardDrops() {
  if (!forward_drops_.has_value()) forward_drops_ = forward_.FindDrops();
  return *forward_drops_;
}

absl::Status Manager::OpenForward(UndoLog* undo) {
  if (!options_.allow_forward || forward_open_) return absl::OkStatus();
  absl::StatusOr<std::vector<ForwardDrop>> drops = ForwardDrops();
  if (!drops.ok()) {
    return absl::Status(drops.status().code(),
                        absl::StrCat("allow_forward: reading the forward "
                                     "hook's filter chains: ",
                                     drops.status().message()));
  }
  if (absl::Status s = forward_.Open(*drops); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("allow_forward: ", s.message()));
  }
  forward_open_ = true;
  const bool first = pods_.empty();
  undo->Push([this, first]() {
    forward_open_ = false;
    if (first) CloseForwardIfUnused();
  });
  return absl::OkStatus();
}

void Manager::WarnOfForwardDrops() {
  if (forward_warned_ || pods_.empty()) return;
  forward_warned_ = true;
  absl::StatusOr<std::vector<ForwardDrop>> drops = ForwardDrops();
  if (!drops.ok()) {
    Log(
        absl::StrCat("warning: cannot tell whether the host forwards DNATed "
                     "traffic: ",
                     drops.status().message()));
    return;
  }
  for (const ForwardDrop& drop : *drops) {
    if (drop.iptables.has_value() && options_.allow_forward) continue;
    Log(absl::StrCat(
        "warning: traffic DNATed to a pod passes ", drop.chain,
        ", whose policy is drop: unless a rule there accepts it, the mappings "
        "carry no traffic from other hosts; ",
        drop.iptables.has_value()
            ? "allow_forward (hostportctl --allow-forward, CNI "
              "\"allowForward\": true) accepts DNATed flows there"
            : "an accept in another table cannot override it (nftables "
              "evaluates every base chain, and drop is final): let that "
              "table's owner forward the pods' interface (firewalld: "
              "firewall-cmd --zone=trusted --add-interface=IF)"));
  }
}

void Manager::CloseForwardIfUnused() {
  // Only where an accept of ours can be: opened here, asked for, or left by
  // the process whose pods were adopted. Otherwise no filter table is read.
  if (!pods_.empty() || !whole_host_ ||
      !(forward_open_ || options_.allow_forward || adopted_)) {
    return;
  }
  if (absl::Status s = forward_.Close(); !s.ok()) {
    Log(absl::StrCat("taking the FORWARD accept away failed: ", s.message()));
    return;
  }
  forward_open_ = false;
}

absl::Status Manager::Add(absl::string_view id, const PodPortMapping& pod,
                          absl::string_view nat_interface_name) {
  std::lock_guard<std::mutex> lock(mu_);
  const PodRequest request{std::string(id), pod,
                           std::string(nat_interface_name)};
  absl::StatusOr<PodPlan> planned = Plan(request);
  if (!planned.ok()) return planned.status();
  const PodPlan& plan = *planned;
  if (plan.host_network) return absl::OkStatus();
  for (const SkippedMapping& s : plan.skipped) Log(s.reason);
  if (absl::Status s = claims_.Check(plan); !s.ok()) return s;
  auto old_it = pods_.find(plan.id);
  const PodPlan* old = old_it == pods_.end() ? nullptr : &old_it->second.plan;
  // The id's mappings are found by their chain hashes: those it held and
  // those it will hold.
  const absl::flat_hash_set<std::string> old_hashes =
      old != nullptr ? PlanHashes(*old) : absl::flat_hash_set<std::string>{};
  const absl::flat_hash_set<std::string> new_hashes = PlanHashes(plan);
  const Change change{
      {plan.id},
      {&plan},
      [&](FamilyBackend* b) { return b->Replace(plan.id, old_hashes, &plan); },
      [&plan, new_hashes, old](FamilyBackend* b) {
        return b->Replace(plan.id, new_hashes, old);
      }};
  PortMap held;  // Outlives `undo`, whose steps use it.
  UndoLog undo;
  if (absl::Status s = Install(change, &held, &undo); !s.ok()) return s;
  // Rules of this id that an earlier backend left behind would shadow the new
  // ones.
  absl::flat_hash_set<std::string> all_hashes = old_hashes;
  all_hashes.insert(new_hashes.begin(), new_hashes.end());
  for (const auto& b : cleanup_) {
    if (!b->Holds(plan.id, all_hashes)) continue;
    if (absl::Status s = b->Replace(plan.id, all_hashes, nullptr); !s.ok()) {
      Log(absl::StrCat("removing leftover ", b->name(), " rules of pod ",
                       plan.owner, " failed: ", s.message()));
    }
  }
  // Stale UDP conntrack entries, now that the rules are in place.
  if (absl::Status s = ClearUdpConntrack({&plan}); !s.ok()) return s;

  undo.Commit();
  claims_.Claim(plan);
  // A process that trusts records (one per CNI ADD) reads the forward hook
  // only for the host's first pod, not on every ADD.
  const bool first_on_host =
      whole_host_ &&
      (pods_.empty() || (pods_.size() == 1 && pods_.contains(plan.id)));
  pods_.insert_or_assign(plan.id, PodRecord{request, plan, std::move(held)});
  RestoreUnusedRouteLocalnet();  // The pod may have left an interface.
  if (!options_.trust_records || first_on_host) WarnOfForwardDrops();
  return absl::OkStatus();
}

absl::Status Manager::Remove(absl::string_view id, const PodPortMapping& pod) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pods_.find(id);
  PodRecord* record = it == pods_.end() ? nullptr : &it->second;
  absl::flat_hash_set<std::string> hashes = MappingHashes(id, pod);
  if (record != nullptr) {
    const absl::flat_hash_set<std::string> recorded = PlanHashes(record->plan);
    hashes.insert(recorded.begin(), recorded.end());
  }
  absl::Status first_error;
  auto note = [&](FamilyBackend* b, absl::Status s) {
    if (s.ok()) return;
    s = absl::Status(s.code(), absl::StrCat("removing pod ", id, " from ",
                                            b->name(), ": ", s.message()));
    Log(s.message());
    if (first_error.ok()) first_error = s;
  };
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    if (FamilyBackend* b = Primary(f)) note(b, b->Replace(id, hashes, nullptr));
  }
  for (const auto& b : cleanup_) {
    if (b->Holds(id, hashes)) note(b.get(), b->Replace(id, hashes, nullptr));
  }
  // Keep the record (and the ports) while rules may remain: a retry finishes.
  if (!first_error.ok()) return first_error;

  if (record != nullptr) {
    if (absl::Status s = ClearUdpConntrack({&record->plan}); !s.ok()) {
      first_error = s;
    }
    pods_.erase(it);
  } else {
    // Without a record (another process added it), clear what the mappings
    // name.
    PodPortMapping stripped = pod;
    stripped.ips = {"192.0.2.1",
                    "2001:db8::1"};  // Any IPs: only the keys matter.
    if (absl::StatusOr<PodPlan> plan = PlanPod(id, stripped); plan.ok()) {
      if (absl::Status s = ClearUdpConntrack({&*plan}); !s.ok()) {
        first_error = s;
      }
    }
  }
  claims_.Release(id);
  RestoreUnusedRouteLocalnet();
  CloseForwardIfUnused();
  return first_error;
}

absl::Status Manager::Sync(const std::vector<PodRequest>& pods) {
  std::lock_guard<std::mutex> lock(mu_);
  // 1. Everything is checked before anything changes.
  std::vector<PodPlan> plans;
  std::vector<const PodRequest*> requests;
  PortClaims claims;
  absl::flat_hash_set<std::string> ids;
  for (const PodRequest& request : pods) {
    absl::StatusOr<PodPlan> plan = Plan(request);
    if (!plan.ok()) return plan.status();
    if (!ids.insert(plan->id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod id ", plan->id, " is given twice"));
    }
    if (plan->host_network) continue;
    for (const SkippedMapping& s : plan->skipped) Log(s.reason);
    if (absl::Status s = claims.Check(*plan); !s.ok()) return s;
    claims.Claim(*plan);
    plans.push_back(std::move(*plan));
    requests.push_back(&request);
  }
  std::vector<const PodPlan*> desired;
  for (const PodPlan& plan : plans) desired.push_back(&plan);
  std::vector<const PodPlan*> previous;
  std::vector<std::string> leaving;
  for (const auto& [id, record] : pods_) {
    previous.push_back(&record.plan);
    leaving.push_back(id);
  }

  // 2. The steps Add takes, for every pod at once.
  const Change change{
      leaving, desired, [&](FamilyBackend* b) { return b->Sync(desired); },
      [previous](FamilyBackend* b) { return b->Sync(previous); }};
  PortMap held;  // Outlives `undo`, whose steps use it.
  UndoLog undo;
  if (absl::Status s = Install(change, &held, &undo); !s.ok()) return s;
  undo.Commit();
  for (const auto& b : cleanup_) {
    if (absl::Status s = b->Sync({}); !s.ok()) {
      Log(absl::StrCat("clearing ", b->name(), " failed: ", s.message()));
    }
  }
  // 3. Stale UDP conntrack entries of the mappings now in place.
  if (absl::Status s = ClearUdpConntrack(desired); !s.ok()) Log(s.message());

  pods_.clear();
  for (size_t i = 0; i < plans.size(); ++i) {
    PodRecord record{*requests[i], plans[i], {}};
    for (const PortKey& key : PortKeys(plans[i])) {
      auto it = held.find(key);
      if (it != held.end()) record.ports.emplace(key, std::move(it->second));
    }
    pods_.insert_or_assign(plans[i].id, std::move(record));
  }
  claims_ = std::move(claims);
  whole_host_ = true;  // The kernel now holds exactly these pods.
  interfaces_in_use_.clear();
  RestoreUnusedRouteLocalnet();
  CloseForwardIfUnused();
  WarnOfForwardDrops();
  return absl::OkStatus();
}

absl::Status Manager::Check(absl::string_view id, const PodPortMapping& pod,
                            absl::string_view nat_interface_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<PodPlan> plan =
      Plan({std::string(id), pod, std::string(nat_interface_name)});
  if (!plan.ok()) return plan.status();
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    if (plan->family(f).mappings.empty()) continue;
    // Records say what should be there; only the kernel says what is.
    if (options_.trust_records) {
      if (absl::Status s = Primary(f)->LoadPod(*plan); !s.ok()) return s;
    }
    if (absl::Status s = Primary(f)->Verify(*plan); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Manager::Adopt(const HeldState& state) {
  std::lock_guard<std::mutex> lock(mu_);
  // Another process may have opened FORWARD for these pods.
  if (!state.pods.empty()) adopted_ = true;
  std::vector<std::string> refused;
  for (const PodRequest& request : state.pods) {
    absl::StatusOr<PodPlan> plan =
        PlanPod(request.id, request.pod, request.nat_interface);
    if (!plan.ok()) {
      refused.push_back(std::string(plan.status().message()));
      continue;
    }
    if (plan->host_network) continue;
    claims_.Release(plan->id);
    if (absl::Status s = claims_.Check(*plan); !s.ok()) {
      refused.push_back(std::string(s.message()));
      continue;
    }
    claims_.Claim(*plan);
    const std::string id = plan->id;
    pods_.insert_or_assign(id, PodRecord{request, *std::move(plan), {}});
  }
  for (const auto& [iface, value] : state.route_localnet_before) {
    route_localnet_before_.emplace(iface, value);
  }
  whole_host_ = state.whole_host;
  interfaces_in_use_ =
      state.whole_host ? std::set<std::string>() : state.interfaces_in_use;
  if (options_.trust_records) {
    std::vector<const PodPlan*> plans;
    for (const auto& [id, record] : pods_) plans.push_back(&record.plan);
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      FamilyBackend* b = Primary(f);
      if (b == nullptr || b->Assume(plans, state.whole_host)) continue;
      Log(RecordsWithoutBaseWarning(*b));
      if (absl::Status s = b->Load(); !s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat("reading what ", b->name(), " ",
                                   FamilyLabel(f), " holds: ", s.message()));
      }
    }
  }
  if (refused.empty()) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("not adopted: ", absl::StrJoin(refused, "; ")));
}

std::map<std::string, std::string> Manager::RouteLocalnetBefore(
    const std::vector<PodRequest>& requests) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::string> before = route_localnet_before_;
  for (const PodRequest& request : requests) {
    absl::StatusOr<PodPlan> plan =
        PlanPod(request.id, request.pod, request.nat_interface);
    if (!plan.ok() || !NeedsRouteLocalnet(*plan) ||
        before.count(plan->nat_interface) > 0) {
      continue;
    }
    absl::StatusOr<std::string> value =
        options_.env.sysctl->Read(RouteLocalnetSysctl(plan->nat_interface));
    if (value.ok()) before.emplace(plan->nat_interface, *value);
  }
  return before;
}

HostPortManager::HeldState Manager::Held() const {
  std::lock_guard<std::mutex> lock(mu_);
  HeldState state;
  for (const auto& [id, record] : pods_) state.pods.push_back(record.request);
  std::sort(
      state.pods.begin(), state.pods.end(),
      [](const PodRequest& a, const PodRequest& b) { return a.id < b.id; });
  state.route_localnet_before = route_localnet_before_;
  return state;
}

std::vector<std::string> Manager::Backends() const {
  std::vector<std::string> names;
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    if (FamilyBackend* b = Primary(f)) {
      names.push_back(absl::StrCat(b->name(), " ", FamilyLabel(f)));
    }
  }
  for (const auto& b : cleanup_) {
    names.push_back(
        absl::StrCat(b->name(), " ", FamilyLabel(b->family()), " (cleanup)"));
  }
  return names;
}

bool HasIPv6(Sysctl* sysctl) {
  absl::StatusOr<std::string> disabled =
      sysctl->Read("net/ipv6/conf/all/disable_ipv6");
  return disabled.ok() && *disabled == "0";
}

}  // namespace

absl::StatusOr<std::unique_ptr<HostPortManager>> NewHostportManager(
    IptablesInterface iptables, ManagerOptions options) {
  if (absl::Status s = options.names.Validate(); !s.ok()) return s;
  OwnedEnv owned = FillRealDefaults(&options.env);
  absl::StatusOr<std::unique_ptr<FamilyBackend>> backend = Loaded(
      std::make_unique<IptablesBackend>(iptables.family, iptables.variant,
                                        options.env.commands, options.names));
  if (!backend.ok()) return backend.status();
  std::unique_ptr<FamilyBackend> v4, v6;
  (iptables.family == IPFamily::kIPv4 ? v4 : v6) = std::move(*backend);
  return std::unique_ptr<HostPortManager>(new Manager(
      std::move(options), std::move(owned), std::move(v4), std::move(v6), {}));
}

absl::StatusOr<std::unique_ptr<HostPortManager>> NewMetaHostportManager(
    MetaOptions options) {
  if (absl::Status s = options.names.Validate(); !s.ok()) return s;
  OwnedEnv owned = FillRealDefaults(&options.env);
  const HostportEnv& env = options.env;
  ChainListing chains(env.nft);
  absl::StatusOr<MetaOptions::Backend> choice =
      ResolveBackend(options.prefer, env.commands, &chains);
  if (!choice.ok()) return choice.status();
  std::unique_ptr<FamilyBackend> primary[2];
  std::vector<std::unique_ptr<FamilyBackend>> cleanup;
  const bool ipv6 = HasIPv6(env.sysctl);
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    if (f == IPFamily::kIPv6 && !ipv6) continue;
    absl::StatusOr<std::unique_ptr<FamilyBackend>> b = OpenFamilyBackend(
        *choice, f, env, options.names, options.trust_records);
    if (!b.ok()) return b.status();
    primary[f == IPFamily::kIPv4 ? 0 : 1] = std::move(*b);
    // Trusting records, no cleanup backends: they would read everything.
    if (!options.cleanup_other_backends || options.trust_records) continue;
    for (auto& other : OtherBackendsPresent(*choice, f, env, options.names,
                                            &chains, options.log)) {
      cleanup.push_back(std::move(other));
    }
  }
  return std::unique_ptr<HostPortManager>(
      new Manager(std::move(options), std::move(owned), std::move(primary[0]),
                  std::move(primary[1]), std::move(cleanup)));
}

}  // namespace hostport
