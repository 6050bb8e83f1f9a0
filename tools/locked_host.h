// LockedHost: the one way hostportctl and hostport-cni change a host's port
// mappings, so that many processes of either, run concurrently and killed at
// any moment, keep the host consistent.
//
// Open() waits for the state directory's host-wide lock and holds it for the
// object's life: reading the records, checking conflicts, changing the kernel
// and writing the records back happen with no other process in between. The
// manager adopts every recorded pod, whichever tool added it, so conflicts,
// replaced mappings and route_localnet are judged against the whole host.
// Each change records its intent (a pending record naming every mapping the
// kernel may hold for the id) before the kernel changes and settles it after:
// a process killed in between leaves a record from which a later Remove finds
// every rule of the id, on every backend.
//
// Opened with MetaOptions::trust_records (hostport-cni, hostportctl add and
// remove), it reads nothing up front: the first change reads, through the
// state directory's index, only the records it concerns (its ids and every
// pod sharing a host port with them), and the manager takes them as what the
// kernel holds. A fresh process then costs O(its change). Sync compares the
// entries with the records (reading each as bytes) and checks and changes
// only what differs. It reads everything instead (as without trust_records)
// for a change to ids outside the first change's, and when a concerned
// record was written by another backend (whose rules a full manager cleans
// up).
//
// Errors: InvalidArgument for a pod that does not plan, AlreadyExists for a
// conflict (naming both pods), others from the kernel or the state directory.
// On any error nothing is half-applied.
#ifndef TOOLS_LOCKED_HOST_H_
#define TOOLS_LOCKED_HOST_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/hostport_manager.h"
#include "tools/pods_file.h"
#include "tools/state_dir.h"

namespace hostport {

// The backend a manager uses for its first family: "nftables",
// "iptables-legacy", "iptables-nft", or "none".
std::string BackendName(const HostPortManager& manager);

// A ManagerOptions::log that prints each line to `out` as "<who>: warning: ..."
// for the manager's warnings (which start "warning: ") and "<who>: note: ..."
// otherwise. `out` must outlive the manager.
std::function<void(absl::string_view)> LogLinesTo(std::ostream& out,
                                                  std::string who);

class LockedHost {
 public:
  // Takes the lock of `state_dir`, reads its records (damaged ones are named
  // through options.log and skipped), creates a manager with `options` and
  // has it adopt the records; with options.trust_records, the reading waits
  // for the first change (see above).
  static absl::StatusOr<std::unique_ptr<LockedHost>> Open(
      const std::string& state_dir, MetaOptions options);
  // The same with a manager the caller keeps (hostportctl run, which holds
  // the ports between calls). REQUIRES: `manager` outlives the LockedHost.
  static absl::StatusOr<std::unique_ptr<LockedHost>> OpenWith(
      const std::string& state_dir, HostPortManager* manager,
      std::function<void(absl::string_view)> log);

  LockedHost(const LockedHost&) = delete;
  LockedHost& operator=(const LockedHost&) = delete;

  // With trust_records: reads the records that changing `entries` concerns,
  // once; Add and Remove call it for their own entries. Call it first with
  // every entry of several Removes.
  absl::Status Prepare(const std::vector<PodRequest>& entries);

  // Checks every entry (against the others and every other recorded pod),
  // then adds them one by one, each with its intent recorded first. If one
  // fails, those added before it are taken back and their records restored.
  // `progress`, when given, is told how many are added so far.
  absl::Status Add(const std::vector<PodRequest>& entries,
                   const std::function<void(size_t)>& progress = nullptr);
  // Removes every mapping the kernel may hold for `target.id`: those its
  // record names and those `target` names; then the record. Needs no pod IP.
  absl::Status Remove(const PodRequest& target);
  // Makes the kernel and the records hold exactly `entries`, after checking
  // that each plans and that none conflicts with another (InvalidArgument or
  // AlreadyExists for the first in order that does not; nothing changes).
  // Trusting the records, only what differs from them is checked and
  // changed: an entry recorded exactly as given was checked when recorded.
  // The records that no entry names are removed, then the entries not
  // recorded exactly are added (and should that fail, the removed come
  // back); the kernel is not read whole, so rules of ours that no record
  // names stay (open without trust_records to reconcile with the kernel).
  // Past 256 differences it syncs as without trust_records: one transaction
  // per family beats one per pod.
  absl::Status Sync(const std::vector<PodRequest>& entries);
  // Whether the kernel holds `entry` as Add would install it.
  absl::Status Check(const PodRequest& entry) const;

  std::string backend() const { return BackendName(*manager_); }
  const std::vector<DamagedRecord>& damaged() const { return damaged_; }

 private:
  LockedHost(StateLock lock, StateDir state)
      : lock_(std::move(lock)), state_(std::move(state)) {}
  // Reads every record and has the manager adopt them.
  absl::Status ReadRecords();
  // route_localnet.json; empty (and logged) when it cannot be read.
  std::map<std::string, std::string> RouteLocalnetOnRecord();
  // Adds `damaged` to damaged() and names them through the log.
  void NoteDamaged(std::vector<DamagedRecord> damaged);
  // Keeps `pods` as the records read and has the manager adopt them, with
  // `held`'s other fields; adds `damaged` to damaged() and names them through
  // the log.
  void AdoptRecords(std::vector<HeldPod> pods,
                    std::vector<DamagedRecord> damaged,
                    HostPortManager::HeldState held);
  // Sync trusting the records: changes only what differs from them.
  absl::Status SyncByRecords(const std::vector<PodRequest>& entries);
  // Sync reading every record and the whole kernel.
  absl::Status SyncAll(const std::vector<PodRequest>& entries);
  // Leaves trust_records: a manager that reads the kernel whole adopts every
  // record. `why`, when not empty, is logged.
  absl::Status ReadAll(absl::string_view why);
  // InvalidArgument or AlreadyExists for the first entry that does not plan
  // or conflicts with another entry or a recorded pod of another id.
  absl::Status CheckEntries(const std::vector<PodRequest>& entries) const;
  // The pending record of `entry`, carrying what the id held before.
  HeldPod Intent(const PodRequest& entry) const;
  // Writes the record `id` had before this call (or deletes it).
  void RestoreRecord(const std::string& id);
  // Puts on record, before the change, the route_localnet values that Add or
  // Sync of `entries` would replace: a process killed right after setting
  // route_localnet leaves what to put back.
  absl::Status RecordRouteLocalnetBefore(
      const std::vector<PodRequest>& entries);
  absl::Status SaveRouteLocalnet();

  StateLock lock_;
  StateDir state_;
  std::unique_ptr<HostPortManager> owned_;
  HostPortManager* manager_ = nullptr;
  std::map<std::string, HeldPod> records_;  // By id, as on disk.
  std::vector<DamagedRecord> damaged_;
  std::function<void(absl::string_view)> log_;
  // Opened with trust_records and not yet fallen back to reading everything.
  bool trusting_ = false;
  MetaOptions options_;  // For ReadAll().
  // With trusting_: the ids whose concerned records were read; nullopt
  // before the first change.
  std::optional<std::set<std::string>> prepared_;
};

}  // namespace hostport

#endif  // TOOLS_LOCKED_HOST_H_
