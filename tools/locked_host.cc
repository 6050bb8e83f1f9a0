#include "tools/locked_host.h"

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "hostport/model/conflict.h"
#include "hostport/model/plan.h"

namespace hostport {
namespace {

// InvalidArgument or AlreadyExists for the first of `entries`, in order,
// that does not plan or conflicts with one before it. With `changed`
// (indexes, ascending), the other entries are taken to plan and not to
// conflict with each other: each is recorded exactly as given, and settled
// records were checked against each other when written. Every error then
// involves a changed entry, and entries that share a protocol and host port
// with one; only those are planned, and the first error is the one a check
// of every entry finds.
absl::Status CheckEachOther(const std::vector<PodRequest>& entries,
                            const std::vector<size_t>* changed) {
  std::vector<bool> involved(entries.size(), changed == nullptr);
  if (changed != nullptr && !changed->empty()) {
    absl::flat_hash_set<std::pair<Protocol, int32_t>> ports;
    for (size_t i : *changed) {
      involved[i] = true;
      for (const PortMapping& m : entries[i].pod.port_mappings) {
        ports.insert({m.protocol, m.host_port});
      }
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      for (const PortMapping& m : entries[i].pod.port_mappings) {
        if (ports.contains({m.protocol, m.host_port})) involved[i] = true;
      }
    }
  }
  PortClaims claims;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!involved[i]) continue;
    const PodRequest& e = entries[i];
    absl::StatusOr<PodPlan> plan = PlanPod(e.id, e.pod, e.nat_interface);
    if (!plan.ok()) return plan.status();
    if (absl::Status s = claims.Check(*plan); !s.ok()) return s;
    claims.Claim(*plan);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LockedHost>> LockedHost::Open(
    const std::string& state_dir, MetaOptions options) {
  StateDir state(state_dir);
  absl::StatusOr<StateLock> lock = state.Lock();
  if (!lock.ok()) return lock.status();
  std::unique_ptr<LockedHost> host(
      new LockedHost(std::move(*lock), std::move(state)));
  host->log_ = options.log;
  host->options_ = options;
  host->trusting_ = options.trust_records;
  absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
      NewMetaHostportManager(std::move(options));
  if (!manager.ok()) return manager.status();
  host->owned_ = std::move(*manager);
  host->manager_ = host->owned_.get();
  if (host->trusting_) return host;  // Prepare() reads what a change needs.
  if (absl::Status s = host->ReadRecords(); !s.ok()) return s;
  return host;
}

absl::Status LockedHost::ReadAll(absl::string_view why) {
  if (!trusting_) return absl::OkStatus();
  if (log_ && !why.empty()) log_(absl::StrCat("reading every record: ", why));
  MetaOptions full = options_;
  full.trust_records = false;
  absl::StatusOr<std::unique_ptr<HostPortManager>> manager =
      NewMetaHostportManager(std::move(full));
  if (!manager.ok()) return manager.status();
  owned_ = std::move(*manager);
  manager_ = owned_.get();
  trusting_ = false;
  records_.clear();
  damaged_.clear();
  return ReadRecords();
}

absl::Status LockedHost::Prepare(const std::vector<PodRequest>& entries) {
  if (!trusting_) return absl::OkStatus();
  if (prepared_.has_value()) {
    for (const PodRequest& e : entries) {
      if (prepared_->count(e.id) == 0) {
        return ReadAll(
            absl::StrCat("pod ", e.id, " was not among those prepared"));
      }
    }
    return absl::OkStatus();
  }
  prepared_.emplace();
  for (const PodRequest& e : entries) prepared_->insert(e.id);
  HostPortManager::HeldState held;
  held.route_localnet_before = RouteLocalnetOnRecord();
  std::set<std::string> interfaces;
  for (const auto& [iface, value] : held.route_localnet_before) {
    interfaces.insert(iface);
  }
  absl::StatusOr<StateDir::Related> related =
      state_.ListRelated(entries, interfaces);
  if (!related.ok()) return related.status();
  const std::string mine = backend();
  for (const HeldPod& pod : related->pods) {
    if (pod.backend != mine) {
      return ReadAll(absl::StrCat("pod ", pod.entry.id, " was added by ",
                                  pod.backend, ", this host now uses ", mine));
    }
  }
  held.whole_host = related->whole_host;
  held.interfaces_in_use = std::move(related->interfaces_in_use);
  AdoptRecords(std::move(related->pods), std::move(related->damaged),
               std::move(held));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LockedHost>> LockedHost::OpenWith(
    const std::string& state_dir, HostPortManager* manager,
    std::function<void(absl::string_view)> log) {
  StateDir state(state_dir);
  absl::StatusOr<StateLock> lock = state.Lock();
  if (!lock.ok()) return lock.status();
  std::unique_ptr<LockedHost> host(
      new LockedHost(std::move(*lock), std::move(state)));
  host->log_ = std::move(log);
  host->manager_ = manager;
  if (absl::Status s = host->ReadRecords(); !s.ok()) return s;
  return host;
}

absl::Status LockedHost::ReadRecords() {
  absl::StatusOr<StateDir::Listing> listing = state_.List();
  if (!listing.ok()) return listing.status();
  HostPortManager::HeldState held;
  held.route_localnet_before = RouteLocalnetOnRecord();
  AdoptRecords(std::move(listing->pods), std::move(listing->damaged),
               std::move(held));
  return absl::OkStatus();
}

std::map<std::string, std::string> LockedHost::RouteLocalnetOnRecord() {
  absl::StatusOr<std::map<std::string, std::string>> before =
      state_.ReadRouteLocalnet();
  if (before.ok()) return *std::move(before);
  if (log_) {
    log_(absl::StrCat("not restoring route_localnet: ",
                      before.status().message()));
  }
  return {};
}

void LockedHost::NoteDamaged(std::vector<DamagedRecord> damaged) {
  for (DamagedRecord& d : damaged) {
    if (log_) log_(absl::StrCat("skipping damaged record ", d.error));
    damaged_.push_back(std::move(d));
  }
}

void LockedHost::AdoptRecords(std::vector<HeldPod> pods,
                              std::vector<DamagedRecord> damaged,
                              HostPortManager::HeldState held) {
  NoteDamaged(std::move(damaged));
  for (HeldPod& pod : pods) {
    held.pods.push_back(pod.entry);
    records_.emplace(pod.entry.id, std::move(pod));
  }
  if (absl::Status s = manager_->Adopt(held); !s.ok() && log_) {
    log_(s.message());
  }
}

std::function<void(absl::string_view)> LogLinesTo(std::ostream& out,
                                                  std::string who) {
  return [&out, who = std::move(who)](absl::string_view line) {
    // The manager's warnings say so themselves; everything else is a note.
    out << who << ": " << (absl::StartsWith(line, "warning: ") ? "" : "note: ")
        << line << "\n";
  };
}

std::string BackendName(const HostPortManager& manager) {
  const std::vector<std::string> backends = manager.Backends();
  if (backends.empty()) return "none";
  return backends[0].substr(0, backends[0].find(' '));
}

absl::Status LockedHost::CheckEntries(
    const std::vector<PodRequest>& entries) const {
  absl::flat_hash_set<std::string> ids;
  for (const PodRequest& e : entries) ids.insert(e.id);
  PortClaims claims;
  for (const auto& [id, record] : records_) {
    if (ids.contains(id)) continue;
    absl::StatusOr<PodPlan> plan =
        PlanPod(id, record.entry.pod, record.entry.nat_interface);
    if (plan.ok()) claims.Claim(*plan);
  }
  for (const PodRequest& e : entries) {
    absl::StatusOr<PodPlan> plan = PlanPod(e.id, e.pod, e.nat_interface);
    if (!plan.ok()) return plan.status();
    if (absl::Status s = claims.Check(*plan); !s.ok()) return s;
    claims.Claim(*plan);
  }
  return absl::OkStatus();
}

HeldPod LockedHost::Intent(const PodRequest& entry) const {
  HeldPod intent{entry, backend(), /*pending=*/true, {}};
  auto it = records_.find(entry.id);
  if (it != records_.end()) {
    intent.previous_mappings = it->second.AllMappings().port_mappings;
  }
  return intent;
}

void LockedHost::RestoreRecord(const std::string& id) {
  auto it = records_.find(id);
  absl::Status s =
      it == records_.end() ? state_.Delete(id) : state_.Write(it->second);
  if (!s.ok() && log_) {
    log_(absl::StrCat("restoring the record of pod ", id, ": ", s.message()));
  }
}

absl::Status LockedHost::RecordRouteLocalnetBefore(
    const std::vector<PodRequest>& entries) {
  return state_.WriteRouteLocalnet(manager_->RouteLocalnetBefore(entries));
}

absl::Status LockedHost::SaveRouteLocalnet() {
  return state_.WriteRouteLocalnet(manager_->Held().route_localnet_before);
}

absl::Status LockedHost::Add(const std::vector<PodRequest>& entries,
                             const std::function<void(size_t)>& progress) {
  if (absl::Status s = Prepare(entries); !s.ok()) return s;
  if (absl::Status s = CheckEntries(entries); !s.ok()) return s;
  // Undo, newest first, of the pods this call added.
  std::vector<const PodRequest*> done;
  auto take_back = [&]() {
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      const PodRequest& e = **it;
      auto old = records_.find(e.id);
      absl::Status s = old == records_.end()
                           ? manager_->Remove(e.id, e.pod)
                           : manager_->Add(e.id, old->second.entry.pod,
                                           old->second.entry.nat_interface);
      if (!s.ok() && log_) {
        log_(absl::StrCat("could not take back pod ", e.id, ": ", s.message()));
        continue;  // Its pending record still names every mapping.
      }
      RestoreRecord(e.id);
    }
  };
  if (absl::Status s = RecordRouteLocalnetBefore(entries); !s.ok()) return s;
  // A failed call set nothing to keep: the record goes back to what is held.
  auto resave =
      absl::MakeCleanup([this] { SaveRouteLocalnet().IgnoreError(); });
  for (const PodRequest& e : entries) {
    auto old = records_.find(e.id);
    if (old != records_.end() && old->second.pending) {
      // A change a killed process left unsettled: clear all it may hold.
      if (absl::Status s = manager_->Remove(e.id, old->second.AllMappings());
          !s.ok()) {
        take_back();
        return s;
      }
    }
    if (absl::Status s = state_.Write(Intent(e)); !s.ok()) {
      take_back();
      return s;
    }
    if (absl::Status s = manager_->Add(e.id, e.pod, e.nat_interface); !s.ok()) {
      RestoreRecord(e.id);
      take_back();
      return s;
    }
    done.push_back(&e);
    if (progress) progress(done.size());
  }
  for (const PodRequest& e : entries) {
    if (absl::Status s = state_.Write(HeldPod{e, backend()}); !s.ok()) {
      take_back();
      return s;
    }
  }
  for (const PodRequest& e : entries) records_[e.id] = HeldPod{e, backend()};
  std::move(resave).Cancel();
  return SaveRouteLocalnet();
}

absl::Status LockedHost::Remove(const PodRequest& target) {
  if (absl::Status s = Prepare({target}); !s.ok()) return s;
  PodPortMapping pod = target.pod;
  auto it = records_.find(target.id);
  if (it != records_.end()) {
    const PodPortMapping recorded = it->second.AllMappings();
    pod.port_mappings.insert(pod.port_mappings.end(),
                             recorded.port_mappings.begin(),
                             recorded.port_mappings.end());
    if (pod.namespace_.empty() && pod.name.empty()) {
      pod.namespace_ = recorded.namespace_;
      pod.name = recorded.name;
    }
  }
  if (absl::Status s = manager_->Remove(target.id, pod); !s.ok()) return s;
  if (absl::Status s = state_.Delete(target.id); !s.ok()) return s;
  records_.erase(target.id);
  return SaveRouteLocalnet();
}

absl::Status LockedHost::SyncByRecords(const std::vector<PodRequest>& entries) {
  absl::StatusOr<StateDir::Diff> diff = state_.DiffAgainst(entries, backend());
  if (!diff.ok()) return diff.status();
  // Only the entries count: the records of other pods are what sync removes.
  if (absl::Status s = CheckEachOther(entries, &diff->changed); !s.ok()) {
    return s;
  }
  NoteDamaged(std::move(diff->damaged));
  if (diff->changed.empty() && diff->stale.empty()) return absl::OkStatus();
  // Pod by pod costs a transaction per pod and family: past a few hundred
  // changes, one transaction per family for everything costs less.
  constexpr size_t kMostChangesPodByPod = 256;
  if (diff->changed.size() + diff->stale.size() > kMostChangesPodByPod) {
    return SyncAll(entries);
  }
  std::vector<PodRequest> changed;
  for (size_t i : diff->changed) changed.push_back(entries[i]);
  std::vector<PodRequest> concerned = changed;
  for (const HeldPod& pod : diff->stale) {
    concerned.push_back(PodRequest{pod.entry.id, {}, ""});
  }
  if (absl::Status s = Prepare(concerned); !s.ok()) return s;
  if (!trusting_) return SyncAll(entries);  // Prepare read everything.
  // The pods that go first, so that those that come may take their ports;
  // should one that comes fail, those that went come back.
  std::vector<const HeldPod*> removed;
  auto take_back = [&]() {
    for (auto it = removed.rbegin(); it != removed.rend(); ++it) {
      if (absl::Status s = Add({(*it)->entry}); !s.ok() && log_) {
        log_(absl::StrCat("could not put back pod ", (*it)->entry.id, ": ",
                          s.message()));
      }
    }
  };
  for (const HeldPod& pod : diff->stale) {
    if (absl::Status s = Remove(PodRequest{pod.entry.id, {}, ""}); !s.ok()) {
      take_back();
      return s;
    }
    removed.push_back(&pod);
  }
  if (absl::Status s = Add(changed); !s.ok()) {
    take_back();
    return s;
  }
  return absl::OkStatus();
}

absl::Status LockedHost::Sync(const std::vector<PodRequest>& entries) {
  absl::flat_hash_set<std::string> ids;
  for (const PodRequest& e : entries) {
    if (!ids.insert(e.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod id ", e.id, " is given twice"));
    }
  }
  // Trusting the records, only what differs from them is checked.
  if (trusting_ && !prepared_.has_value()) return SyncByRecords(entries);
  // Only the entries count: the records of other pods are what sync removes.
  if (absl::Status s = CheckEachOther(entries, nullptr); !s.ok()) return s;
  return SyncAll(entries);
}

absl::Status LockedHost::SyncAll(const std::vector<PodRequest>& entries) {
  // The host is made to hold exactly `entries`: every record matters, and
  // the kernel is read whole.
  if (absl::Status s = ReadAll(""); !s.ok()) return s;
  if (absl::Status s = RecordRouteLocalnetBefore(entries); !s.ok()) return s;
  auto resave =
      absl::MakeCleanup([this] { SaveRouteLocalnet().IgnoreError(); });
  // A pod recorded exactly as given, and settled, keeps its record: its
  // rules do not change, and a sync that adds one pod writes one record.
  const std::string mine = backend();
  auto unchanged = [&](const PodRequest& e) {
    auto it = records_.find(e.id);
    return it != records_.end() && !it->second.pending &&
           it->second.backend == mine &&
           PodRequestJson(it->second.entry) == PodRequestJson(e);
  };
  for (const PodRequest& e : entries) {
    if (unchanged(e)) continue;
    if (absl::Status s = state_.Write(Intent(e)); !s.ok()) {
      for (const PodRequest& written : entries) {
        if (!unchanged(written)) RestoreRecord(written.id);
      }
      return s;
    }
  }
  if (absl::Status s = manager_->Sync(entries); !s.ok()) {
    for (const PodRequest& e : entries) {
      if (!unchanged(e)) RestoreRecord(e.id);
    }
    return s;
  }
  // The records of pods the kernel no longer holds go before the entries'
  // records settle: settled records never name two pods that conflict (a
  // sync trusts them for that), even when this process dies in between.
  absl::flat_hash_set<std::string> ids;
  for (const PodRequest& e : entries) ids.insert(e.id);
  for (const auto& [id, record] : records_) {
    if (ids.contains(id)) continue;
    if (absl::Status s = state_.Delete(id); !s.ok()) return s;
  }
  std::map<std::string, HeldPod> now;
  for (const PodRequest& e : entries) {
    HeldPod record{e, mine};
    if (!unchanged(e)) {
      if (absl::Status s = state_.Write(record); !s.ok()) return s;
    }
    now.emplace(e.id, std::move(record));
  }
  records_ = std::move(now);
  std::move(resave).Cancel();
  return SaveRouteLocalnet();
}

absl::Status LockedHost::Check(const PodRequest& entry) const {
  return manager_->Check(entry.id, entry.pod, entry.nat_interface);
}

}  // namespace hostport
