// FamilyBackend: one address family's rules in the kernel, with an in-memory
// index of what hostport owns there.
//
// A backend learns what is installed once (Load: one dump of its own table or
// chains), then changes the kernel only by deltas whose size depends on the pod
// being changed, one kernel transaction each. A caller that keeps records of
// what it installed (ManagerOptions::trust_records) skips the dump: LoadBase()
// reads only whether the base objects are in place and Assume() takes the
// records' pods as installed; a delta the kernel refuses loads everything.
// Implementations: IptablesBackend (iptables-legacy or iptables-nft) and
// NftBackend (libnftables).
#ifndef HOSTPORT_BACKENDS_BACKEND_H_
#define HOSTPORT_BACKENDS_BACKEND_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "hostport/model/plan.h"

namespace hostport {

class FamilyBackend {
 public:
  virtual ~FamilyBackend() = default;

  virtual IPFamily family() const = 0;
  // "iptables-legacy", "iptables-nft" or "nftables".
  virtual std::string name() const = 0;

  // Where a change says that the kernel refused its first attempt, so the
  // index is read again (someone changed our rules underneath). Null: silent.
  void set_log(std::function<void(absl::string_view)> log) {
    log_ = std::move(log);
  }

  // Forgets the index and learns again what of ours the kernel holds. Called
  // when the backend is created and after the kernel refused a delta (someone
  // changed our rules underneath).
  virtual absl::Status Load() = 0;

  // Forgets the index and learns only whether the base objects (nftables: the
  // table's chains; iptables: the jumps from the built-in chains to ours) are
  // in place, reading nothing whose size grows with the mappings installed.
  // The index is then partial (see Assume). A backend may put the reading off
  // until a change needs it (Prepare): IptablesBackend reads nothing here.
  virtual absl::Status LoadBase() = 0;

  // Adds `plans` (pods that records say are installed) to the index. With
  // `whole`, they are all there is and the index is complete; otherwise it
  // stays partial, and the last mapping of a partial index going leaves the
  // base objects in place. Returns false, changing nothing, when a plan has
  // mappings of this family but the base objects are missing: the kernel
  // changed behind the records' back. (Where LoadBase read nothing, Prepare
  // checks that instead and logs RecordsWithoutBaseWarning.)
  virtual bool Assume(const std::vector<const PodPlan*>& plans, bool whole) = 0;

  // In one kernel transaction: removes every installed mapping of pod `id`
  // (found by chain hash in `hashes` for iptables, by the owner comment
  // OwnerComment(id) for nftables) and installs `plan`'s mappings of this
  // family (nothing when `plan` is null). Creates the shared chains or table
  // first when they are missing, and takes them away again (best effort, in a
  // second transaction) when no mapping is left. On error the kernel and the
  // index are as before.
  absl::Status Replace(absl::string_view id,
                       const absl::flat_hash_set<std::string>& hashes,
                       const PodPlan* plan);

  // Whether the index holds anything of pod `id`.
  virtual bool Holds(absl::string_view id,
                     const absl::flat_hash_set<std::string>& hashes) const = 0;

  // Mappings the index holds, all pods together.
  virtual int InstalledMappings() const = 0;

  // Reconciles: loads the kernel's state again, then in one kernel transaction
  // removes every mapping of ours that no plan in `desired` owns and
  // (re)installs every desired plan's mappings of this family. On error the
  // kernel is as before.
  absl::Status Sync(const std::vector<const PodPlan*>& desired);

  // Whether the index holds every mapping of `plan` in this family, as `plan`
  // would install it: OK, or NotFound naming the first one missing or
  // different.
  virtual absl::Status Verify(const PodPlan& plan) const = 0;
  // Reads what the kernel holds of `plan`'s own mappings, enough for
  // Verify(plan) (the rest of the index stays as it was); by default
  // everything, Load().
  virtual absl::Status LoadPod(const PodPlan& plan) { return Load(); }

 protected:
  // What one kernel transaction changes: the index entries to remove
  // (iptables: mapping hashes; nftables: owner comments) and the plans whose
  // mappings of this family are (re)installed.
  struct Change {
    absl::flat_hash_set<std::string> removed;
    std::vector<const PodPlan*> plans;
    // The base objects go in the same transaction (see BaseGoesWith).
    bool remove_base = false;
  };

  // The index entries of pod `id`, as Change::removed names them; `hashes`
  // are MappingHashes of the pod.
  virtual absl::flat_hash_set<std::string> EntriesOf(
      absl::string_view id,
      const absl::flat_hash_set<std::string>& hashes) const = 0;
  // Reads what Delta(change) needs that the index does not know yet; by
  // default nothing. (IptablesBackend reads whether its base is in place only
  // before a change that adds.)
  virtual absl::Status Prepare(const Change& change) {
    return absl::OkStatus();
  }
  // Whether the base objects can go in the same transaction as `change`: the
  // index is complete and nothing is left in it after `change`. By default
  // false: RemoveBaseIfUnused takes them away afterwards.
  virtual bool BaseGoesWith(const Change& change) const { return false; }
  // What Sync changes against the index Load() just read: every entry that no
  // plan in `desired` owns goes; the desired plans are (re)installed, all of
  // them or only those the index does not hold exactly.
  virtual Change SyncChange(
      const std::vector<const PodPlan*>& desired) const = 0;
  // The script that makes `change` against the index, creating the shared
  // chains or table first when they are missing, and with
  // `change.remove_base` taking them away last; "" when there is nothing to
  // do.
  virtual std::string Delta(const Change& change) const = 0;
  // Runs `script`, the Delta of `change`, in one kernel transaction.
  virtual absl::Status Apply(const Change& change,
                             const std::string& script) = 0;
  // Brings the index along after the kernel accepted `change`.
  virtual void Record(const Change& change) = 0;
  // When no mapping is left in a complete index, takes the shared chains or
  // table away again, best effort, in a transaction of its own.
  virtual void RemoveBaseIfUnused() = 0;

  // Whether the index may lack mappings that are installed (after LoadBase,
  // until a Load or an Assume with `whole`).
  bool partial_ = false;
  std::function<void(absl::string_view)> log_;

 private:
  // Prepares and applies `*change` once. A change that empties a complete
  // index takes the base with it (sets remove_base); should the kernel refuse
  // that (someone else's rule in a shared chain), the change is applied
  // without, remove_base cleared.
  absl::Status Attempt(Change* change);
  // Attempts `change()`, then records it. When the kernel refuses it, our
  // index may be stale (someone changed our rules underneath): loads again,
  // asks `change()` again against the new index and attempts once more. The
  // error names the backend, the family and `what`.
  absl::Status Commit(absl::string_view what,
                      const std::function<Change()>& change);
};

// What a backend's owner logs when records say pods have mappings of `b`'s
// family but `b` lacks the base objects they need.
std::string RecordsWithoutBaseWarning(const FamilyBackend& b);

// The chain hashes of every mapping `pod` could have installed under `id`,
// whatever its IPs: what Remove() needs when the pod has no IP left.
absl::flat_hash_set<std::string> MappingHashes(absl::string_view id,
                                               const PodPortMapping& pod);

}  // namespace hostport

#endif  // HOSTPORT_BACKENDS_BACKEND_H_
