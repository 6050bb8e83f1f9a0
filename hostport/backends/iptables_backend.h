// IptablesBackend: one family's hostport rules through iptables-restore and
// iptables-save (legacy or nf_tables variant), with an index of what is
// installed.
//
// Load() runs iptables-save once per table it uses (nat, and raw for IPv4) and
// keeps only what is ours: the shared chains and their jumps, and per mapping
// hash the exact rules in the shared chains. Replace() then sends
// `iptables-restore -w --noflush` input holding only the change, never
// redeclaring (and so never flushing) a chain it does not own wholly. If the
// kernel refuses a delta (someone changed our rules underneath), it loads again
// once and retries. LoadBase() reads nothing: a change that only removes
// trusts the records (a rule they name that is not there makes the kernel
// refuse, and the backend load); one that adds first lists the built-in chains
// that jump to ours and the localnet guard (`-S CHAIN`), never a chain whose
// length grows with the mappings. The last mapping takes the base with it in
// the same iptables-restore.
//
// On iptables-nft, given the nf_tables seam (NftRunner), a change that only
// removes goes to the kernel directly instead: iptables-nft-restore caches
// every rule of the table to delete one, and waits at exit for the kernel to
// release them. The jumps to a mapping's chains are found by handle: the
// restore that added them gave them handles just above its chains' (looked
// up by name), and a few GETRULE requests read those; only when they are not
// there, or a change removes many mappings, is the shared chain dumped whole.
// One transaction, refused by the kernel if anyone committed since the
// lookups began, deletes the jumps and the chains (and the base with the
// last mapping, unless someone else's rule sits in one of its chains or
// someone else also jumps to one). Mappings with a loopback guard rule, found
// by their text, still go through iptables-nft-restore.
//
// REQUIRES: the iptables binaries of the chosen variant are installed
// ("iptables-legacy-restore" etc.); the runner acts in the intended network
// namespace.
#ifndef HOSTPORT_BACKENDS_IPTABLES_BACKEND_H_
#define HOSTPORT_BACKENDS_IPTABLES_BACKEND_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "hostport/backends/backend.h"
#include "hostport/os/command_runner.h"
#include "hostport/os/iptables_tools.h"
#include "hostport/os/nft_runner.h"
#include "hostport/render/iptables_renderer.h"

namespace hostport {

class IptablesBackend : public FamilyBackend {
 public:
  // `runner` must outlive the backend. Call Load() before Replace().
  // `nft`, for iptables-nft only, may be null (every change then goes
  // through iptables-nft-restore).
  IptablesBackend(IPFamily family, IptablesVariant variant,
                  CommandRunner* runner, ObjectNames names = ObjectNames(),
                  NftRunner* nft = nullptr);

  IPFamily family() const override { return family_; }
  std::string name() const override;
  absl::Status Load() override;
  absl::Status LoadBase() override;
  bool Assume(const std::vector<const PodPlan*>& plans, bool whole) override;
  bool Holds(absl::string_view id,
             const absl::flat_hash_set<std::string>& hashes) const override;
  int InstalledMappings() const override {
    return static_cast<int>(installed_.size());
  }
  absl::Status Verify(const PodPlan& plan) const override;

 private:
  using SharedRules = IptablesRenderer::SharedRules;

  // Change::removed holds mapping hashes; `hashes` are the pod's own.
  absl::flat_hash_set<std::string> EntriesOf(
      absl::string_view id,
      const absl::flat_hash_set<std::string>& hashes) const override;
  // Every installed hash no desired plan has goes; every desired plan is
  // rendered again (a plan's own hashes are replaced, not removed).
  Change SyncChange(const std::vector<const PodPlan*>& desired) const override;
  std::string Delta(const Change& change) const override;
  absl::Status Apply(const Change& change, const std::string& script) override;
  // Reads the base (ReadBase) before a change that adds mappings, when
  // LoadBase() left it unread; and when records had mappings but the base is
  // incomplete, logs that and loads everything.
  absl::Status Prepare(const Change& change) override;
  bool BaseGoesWith(const Change& change) const override;
  // Runs `script` with iptables-restore --noflush.
  absl::Status Restore(const std::string& script);
  // `change`, which only removes, over nft_: Unimplemented (nothing done)
  // when it cannot, for Restore to do it; FailedPrecondition when a rule
  // the index has is not in the kernel.
  absl::Status RemoveOverNetlink(const Change& change,
                                 NftNetlink* netlink) const;
  void Record(const Change& change) override;
  // Best effort: if someone else's rule sits in a shared chain, they stay.
  void RemoveBaseIfUnused() override;
  // Appends the undo of every base operation present, last first, nat
  // before raw and filter.
  void UndoBase(IptablesTransaction* tx) const;
  // Lists the built-in chains that jump to ours and the localnet guard, never
  // a chain whose length grows with the mappings; on iptables-legacy, which
  // fetches the whole table for any listing, saves nat once instead of
  // listing three of its chains.
  absl::Status ReadBase();
  // Takes every base operation as present (records imply it, or a change
  // that added mappings just created what was missing).
  void AssumeBase();

  // Whether every operation of the base is present.
  bool BaseComplete() const;

  absl::StatusOr<std::string> Save(absl::string_view table);
  // `chains` of `table` (ListIptablesChain) in iptables-save's form, the
  // chains that do not exist left out: what Load needs of tables where only
  // our chains and a built-in chain's jumps to them matter.
  absl::StatusOr<std::string> SaveChains(
      absl::string_view table, const std::vector<std::string>& chains);

  IPFamily family_;
  IptablesVariant variant_;
  CommandRunner* runner_;
  NftRunner* nft_;
  IptablesRenderer renderer_;
  // By mapping hash: the rules the mapping has in shared chains.
  absl::flat_hash_map<std::string, SharedRules> installed_;
  // Base operations (-N chain / -A rule) already present, as rendered text.
  absl::flat_hash_set<std::string> base_present_;
  // Whether base_present_ was read from the kernel (Load, ReadBase) rather
  // than assumed from records (LoadBase, Assume).
  bool base_read_ = false;
};

}  // namespace hostport

#endif  // HOSTPORT_BACKENDS_IPTABLES_BACKEND_H_
