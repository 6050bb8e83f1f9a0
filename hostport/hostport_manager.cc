#include "hostport/hostport_manager.h"

#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "hostport/backend.h"
#include "hostport/conflict.h"
#include "hostport/nft_backend.h"
#include "hostport/plan.h"

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
        cleanup_(std::move(cleanup)) {
    primary_[0] = std::move(ipv4);
    primary_[1] = std::move(ipv6);
  }

  absl::Status Add(absl::string_view id, const PodPortMapping& pod,
                   absl::string_view nat_interface_name) override;
  absl::Status Remove(absl::string_view id, const PodPortMapping& pod) override;
  std::vector<std::string> Backends() const override;
  absl::Status Sync(const std::vector<PodRequest>& pods) override;
  absl::Status Check(absl::string_view id, const PodPortMapping& pod,
                     absl::string_view nat_interface_name) const override;

 private:
  struct PodRecord {
    PodPlan plan;
    PortMap ports;
  };

  FamilyBackend* Primary(IPFamily f) const {
    return primary_[f == IPFamily::kIPv4 ? 0 : 1].get();
  }
  void Log(absl::string_view message) const {
    if (options_.log) options_.log(message);
  }
  // Holds `keys` into `held`; ports the kernel cannot hold for lack of a
  // protocol are logged and skipped.
  absl::Status HoldPorts(const std::vector<PortKey>& keys, PortMap* held);
  absl::Status ClearUdpConntrack(const PodPlan& plan);

  ManagerOptions options_;
  OwnedEnv owned_;  // Declared before the backends, which use it.
  std::unique_ptr<FamilyBackend> primary_[2];
  std::vector<std::unique_ptr<FamilyBackend>> cleanup_;

  mutable std::mutex mu_;
  PortClaims claims_;
  absl::flat_hash_map<std::string, PodRecord> pods_;
};

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

absl::Status Manager::ClearUdpConntrack(const PodPlan& plan) {
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    for (const PlannedMapping& m : plan.family(f).mappings) {
      if (m.protocol != Protocol::kUDP) continue;
      absl::StatusOr<int> deleted =
          options_.env.conntrack->DeleteUdp(f, m.host_ip, m.host_port);
      if (!deleted.ok()) {
        return absl::Status(
            deleted.status().code(),
            absl::StrCat("clearing UDP conntrack entries for ",
                         DescribeMapping(m.index, m.host_port, m.protocol,
                                         m.host_ip_text),
                         " of pod ", plan.owner, ": ",
                         deleted.status().message()));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Manager::Add(absl::string_view id, const PodPortMapping& pod,
                          absl::string_view nat_interface_name) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<PodPlan> planned = PlanPod(id, pod, nat_interface_name);
  if (!planned.ok()) return planned.status();
  const PodPlan& plan = *planned;
  if (plan.host_network) return absl::OkStatus();
  for (const SkippedMapping& s : plan.skipped) Log(s.reason);
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    if (!plan.family(f).mappings.empty() && Primary(f) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("pod ", plan.owner, " has ", FamilyLabel(f),
                       " mappings, but this host has no ", FamilyLabel(f),
                       " (absent or disabled)"));
    }
  }
  if (absl::Status s = claims_.Check(plan); !s.ok()) return s;

  auto old_it = pods_.find(plan.id);
  PodRecord* old = old_it == pods_.end() ? nullptr : &old_it->second;

  // 1. Ports. A re-Add keeps the sockets it still needs and closes the others
  // first, so that a narrower or wider binding of the same port can take their
  // place; on failure the old record gets its sockets back.
  PortMap held;
  std::vector<PortKey> keys, released;
  absl::flat_hash_set<PortKey> reused;
  if (options_.hold_ports) keys = PortKeys(plan);
  if (old != nullptr) {
    for (const PortKey& k : keys) {
      auto it = old->ports.find(k);
      if (it == old->ports.end()) continue;
      held.emplace(k, std::move(it->second));
      reused.insert(k);
    }
    for (const auto& [k, port] : old->ports) {
      if (!reused.contains(k)) released.push_back(k);
    }
    old->ports.clear();  // Closes the released sockets.
  }
  auto restore_old_ports = [&]() {
    if (old == nullptr) {
      held.clear();
      return;
    }
    for (auto& [k, port] : held) {
      if (reused.contains(k)) old->ports.emplace(k, std::move(port));
    }
    held.clear();  // Closes what this call opened.
    if (absl::Status s = HoldPorts(released, &old->ports); !s.ok()) {
      Log(absl::StrCat(
          "pod ", old->plan.owner,
          " could not hold its previous ports again: ", s.message()));
    }
  };
  if (absl::Status s = HoldPorts(keys, &held); !s.ok()) {
    restore_old_ports();
    return absl::Status(s.code(),
                        absl::StrCat("pod ", plan.owner, ": ", s.message()));
  }

  // 2. route_localnet on the NAT interface, remembering what it was.
  std::string sysctl_name, sysctl_before;
  if (!plan.nat_interface.empty() && !plan.ipv4.mappings.empty()) {
    sysctl_name = RouteLocalnetSysctl(plan.nat_interface);
    absl::StatusOr<std::string> before = options_.env.sysctl->Read(sysctl_name);
    absl::Status s = before.status();
    if (s.ok() && *before != "1")
      s = options_.env.sysctl->Write(sysctl_name, "1");
    if (!s.ok()) {
      restore_old_ports();
      return absl::Status(s.code(),
                          absl::StrCat("pod ", plan.owner, ": nat interface ",
                                       plan.nat_interface, ": ", s.message()));
    }
    sysctl_before = *before;
  }
  auto restore_sysctl = [&]() {
    if (!sysctl_before.empty() && sysctl_before != "1") {
      (void)options_.env.sysctl->Write(sysctl_name, sysctl_before);
    }
  };

  // 3. Rules: one transaction per family; on failure, families already changed
  // go back to what they held.
  absl::flat_hash_set<std::string> old_hashes =
      old != nullptr ? PlanHashes(old->plan)
                     : absl::flat_hash_set<std::string>{};
  const absl::flat_hash_set<std::string> new_hashes = PlanHashes(plan);
  std::vector<FamilyBackend*> changed;
  auto rollback_rules = [&]() {
    for (FamilyBackend* b : changed) {
      absl::Status s = b->Replace(plan.id, new_hashes,
                                  old != nullptr ? &old->plan : nullptr);
      if (!s.ok()) {
        Log(absl::StrCat("rolling back ", b->name(), " for pod ", plan.owner,
                         " failed: ", s.message()));
      }
    }
  };
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    FamilyBackend* b = Primary(f);
    if (b == nullptr) continue;
    absl::Status s = b->Replace(plan.id, old_hashes, &plan);
    if (!s.ok()) {
      rollback_rules();
      restore_sysctl();
      restore_old_ports();
      return absl::Status(s.code(),
                          absl::StrCat("pod ", plan.owner, ": ", s.message()));
    }
    changed.push_back(b);
  }
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

  // 4. Stale UDP conntrack entries, now that the rules are in place.
  if (absl::Status s = ClearUdpConntrack(plan); !s.ok()) {
    rollback_rules();
    restore_sysctl();
    restore_old_ports();
    return s;
  }

  claims_.Claim(plan);
  PodRecord record{plan, std::move(held)};
  pods_.insert_or_assign(plan.id, std::move(record));
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
    if (absl::Status s = ClearUdpConntrack(record->plan); !s.ok()) {
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
      if (absl::Status s = ClearUdpConntrack(*plan); !s.ok()) first_error = s;
    }
  }
  claims_.Release(id);
  return first_error;
}

absl::Status Manager::Sync(const std::vector<PodRequest>& pods) {
  std::lock_guard<std::mutex> lock(mu_);
  // 1. Everything is checked before anything changes.
  std::vector<PodPlan> plans;
  PortClaims claims;
  absl::flat_hash_set<std::string> ids;
  for (const PodRequest& request : pods) {
    absl::StatusOr<PodPlan> plan =
        PlanPod(request.id, request.pod, request.nat_interface);
    if (!plan.ok()) return plan.status();
    if (!ids.insert(plan->id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod id ", plan->id, " is given twice"));
    }
    if (plan->host_network) continue;
    for (const SkippedMapping& s : plan->skipped) Log(s.reason);
    for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
      if (!plan->family(f).mappings.empty() && Primary(f) == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("pod ", plan->owner, " has ", FamilyLabel(f),
                         " mappings, but this host has no ", FamilyLabel(f)));
      }
    }
    if (absl::Status s = claims.Check(*plan); !s.ok()) return s;
    claims.Claim(*plan);
    plans.push_back(std::move(*plan));
  }
  std::vector<const PodPlan*> desired;
  for (const PodPlan& plan : plans) desired.push_back(&plan);

  // 2. Ports: keep the sockets still wanted, close the rest, hold the new ones.
  PortMap held;
  if (options_.hold_ports) {
    PortMap old;
    for (auto& [id, record] : pods_) {
      for (auto& [key, port] : record.ports) old.emplace(key, std::move(port));
      record.ports.clear();
    }
    std::vector<PortKey> keys;
    for (const PodPlan& plan : plans) {
      for (const PortKey& key : PortKeys(plan)) {
        auto it = old.find(key);
        if (it != old.end()) {
          held.emplace(key, std::move(it->second));
          old.erase(it);
        } else {
          keys.push_back(key);
        }
      }
    }
    old.clear();
    if (absl::Status s = HoldPorts(keys, &held); !s.ok()) {
      // Sockets of pods that stay are still in `held`; give them back.
      for (auto& [id, record] : pods_) {
        for (const PortKey& key : PortKeys(record.plan)) {
          auto it = held.find(key);
          if (it != held.end())
            record.ports.emplace(key, std::move(it->second));
        }
      }
      return s;
    }
  }

  // 3. route_localnet wherever a pod's NAT interface needs it.
  for (const PodPlan& plan : plans) {
    if (plan.nat_interface.empty() || plan.ipv4.mappings.empty()) continue;
    const std::string name = RouteLocalnetSysctl(plan.nat_interface);
    absl::StatusOr<std::string> value = options_.env.sysctl->Read(name);
    absl::Status s = value.status();
    if (s.ok() && *value != "1") s = options_.env.sysctl->Write(name, "1");
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("pod ", plan.owner, ": nat interface ",
                                       plan.nat_interface, ": ", s.message()));
    }
  }

  // 4. One transaction per family; a failure puts back the families changed.
  std::vector<const PodPlan*> previous;
  for (const auto& [id, record] : pods_) previous.push_back(&record.plan);
  std::vector<FamilyBackend*> changed;
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    FamilyBackend* b = Primary(f);
    if (b == nullptr) continue;
    if (absl::Status s = b->Sync(desired); !s.ok()) {
      for (FamilyBackend* done : changed) {
        if (absl::Status back = done->Sync(previous); !back.ok()) {
          Log(absl::StrCat("putting back ", done->name(),
                           " failed: ", back.message()));
        }
      }
      return s;
    }
    changed.push_back(b);
  }
  for (const auto& b : cleanup_) {
    if (absl::Status s = b->Sync({}); !s.ok()) {
      Log(absl::StrCat("clearing ", b->name(), " failed: ", s.message()));
    }
  }

  // 5. Stale UDP conntrack entries of the mappings now in place.
  for (const PodPlan& plan : plans) {
    if (absl::Status s = ClearUdpConntrack(plan); !s.ok()) Log(s.message());
  }

  pods_.clear();
  for (PodPlan& plan : plans) {
    PodRecord record{plan, {}};
    for (const PortKey& key : PortKeys(plan)) {
      auto it = held.find(key);
      if (it != held.end()) record.ports.emplace(key, std::move(it->second));
    }
    pods_.insert_or_assign(plan.id, std::move(record));
  }
  claims_ = std::move(claims);
  return absl::OkStatus();
}

absl::Status Manager::Check(absl::string_view id, const PodPortMapping& pod,
                            absl::string_view nat_interface_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<PodPlan> plan = PlanPod(id, pod, nat_interface_name);
  if (!plan.ok()) return plan.status();
  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    if (plan->family(f).mappings.empty()) continue;
    FamilyBackend* b = Primary(f);
    if (b == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("this host has no ", FamilyLabel(f)));
    }
    if (absl::Status s = b->Verify(*plan); !s.ok()) return s;
  }
  return absl::OkStatus();
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

absl::StatusOr<std::unique_ptr<FamilyBackend>> Loaded(
    std::unique_ptr<FamilyBackend> backend) {
  if (absl::Status s = backend->Load(); !s.ok()) {
    return absl::Status(
        s.code(),
        absl::StrCat("reading what ", backend->name(), " ",
                     FamilyLabel(backend->family()), " holds: ", s.message()));
  }
  return backend;
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
  using Backend = MetaOptions::Backend;
  Backend choice = options.prefer;
  if (choice == Backend::kAuto) {
    if (env.nft->List("list tables").ok()) {
      choice = Backend::kNftables;
    } else {
      absl::StatusOr<CommandResult> probe =
          env.commands->Run({"iptables-nft-save", "--version"}, "");
      choice = probe.ok() && probe->exit_code == 0 ? Backend::kIptablesNft
                                                   : Backend::kIptablesLegacy;
    }
  }
  auto make = [&](IPFamily f) -> std::unique_ptr<FamilyBackend> {
    switch (choice) {
      case Backend::kNftables:
        return std::make_unique<NftBackend>(f, env.nft, options.names);
      case Backend::kIptablesNft:
        return std::make_unique<IptablesBackend>(f, IptablesVariant::kNft,
                                                 env.commands, options.names);
      default:
        return std::make_unique<IptablesBackend>(f, IptablesVariant::kLegacy,
                                                 env.commands, options.names);
    }
  };
  std::unique_ptr<FamilyBackend> primary[2];
  std::vector<std::unique_ptr<FamilyBackend>> cleanup;
  const bool ipv6 = HasIPv6(env.sysctl);
  // Listing only the table names: listing iptables-nft's tables would make
  // libnftables complain about their xtables targets.
  const absl::StatusOr<std::string> tables = env.nft->List("list tables");

  for (IPFamily f : {IPFamily::kIPv4, IPFamily::kIPv6}) {
    if (f == IPFamily::kIPv6 && !ipv6) continue;
    absl::StatusOr<std::unique_ptr<FamilyBackend>> b = Loaded(make(f));
    if (!b.ok()) return b.status();
    primary[f == IPFamily::kIPv4 ? 0 : 1] = std::move(*b);
    if (!options.cleanup_other_backends) continue;
    // Every other backend whose tables exist on this host; only those, since
    // reading iptables tables that do not exist would create them.
    const std::string ip = f == IPFamily::kIPv4 ? "ip" : "ip6";
    const std::string listed = tables.ok() ? *tables : "";
    if (choice != Backend::kNftables &&
        absl::StrContains(
            listed,
            absl::StrCat("table ", ip, " ", options.names.nft_table, "\n"))) {
      cleanup.push_back(
          std::make_unique<NftBackend>(f, env.nft, options.names));
    }
    absl::StatusOr<std::string> legacy = env.sysctl->ReadProcNet(
        f == IPFamily::kIPv4 ? "ip_tables_names" : "ip6_tables_names");
    if (choice != Backend::kIptablesLegacy && legacy.ok() &&
        absl::StrContains(*legacy, "nat")) {
      cleanup.push_back(std::make_unique<IptablesBackend>(
          f, IptablesVariant::kLegacy, env.commands, options.names));
    }
    // iptables-nft keeps its tables in nftables, as "table ip nat".
    if (choice != Backend::kIptablesNft &&
        absl::StrContains(listed, absl::StrCat("table ", ip, " nat\n"))) {
      cleanup.push_back(std::make_unique<IptablesBackend>(
          f, IptablesVariant::kNft, env.commands, options.names));
    }
  }

  std::vector<std::unique_ptr<FamilyBackend>> loaded;
  for (auto& b : cleanup) {
    const std::string label =
        absl::StrCat(b->name(), " ", FamilyLabel(b->family()));
    if (absl::Status s = b->Load(); !s.ok()) {
      if (options.log) {
        options.log(absl::StrCat("not cleaning up ", label, ": ", s.message()));
      }
      continue;
    }
    loaded.push_back(std::move(b));
  }
  return std::unique_ptr<HostPortManager>(
      new Manager(std::move(options), std::move(owned), std::move(primary[0]),
                  std::move(primary[1]), std::move(loaded)));
}

}  // namespace hostport
