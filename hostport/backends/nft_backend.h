// NftBackend: one family's hostport table (`ip`/`ip6 crio-hostports`) through
// libnftables, with an index of whose elements are installed.
//
// Load() lists the table once and indexes its elements by owner comment;
// LoadBase() lists only the chains of the family (`list chains`), whose cost
// does not grow with the elements.
// Replace() then runs one nft transaction holding only the pod's element
// deletes and adds (and the table's objects when some are missing). A key that
// another pod holds with another value is refused by the kernel and nothing
// applies. If the kernel refuses a delta, it loads again once and retries.
#ifndef HOSTPORT_BACKENDS_NFT_BACKEND_H_
#define HOSTPORT_BACKENDS_NFT_BACKEND_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "hostport/backends/backend.h"
#include "hostport/os/nft_runner.h"
#include "hostport/render/nft_renderer.h"

namespace hostport {

class NftBackend : public FamilyBackend {
 public:
  // `runner` must outlive the backend. Call Load() before Replace().
  NftBackend(IPFamily family, NftRunner* runner,
             ObjectNames names = ObjectNames());

  IPFamily family() const override { return family_; }
  std::string name() const override { return "nftables"; }
  absl::Status Load() override;
  absl::Status LoadBase() override;
  bool Assume(const std::vector<const PodPlan*>& plans, bool whole) override;
  bool Holds(absl::string_view id,
             const absl::flat_hash_set<std::string>& hashes) const override;
  int InstalledMappings() const override;
  absl::Status Verify(const PodPlan& plan) const override;
  // Asks the kernel for the plan's elements one by one (key, value and
  // comment); Load() when the runner cannot.
  absl::Status LoadPod(const PodPlan& plan) override;

 private:
  using ElementKey = NftRenderer::ElementKey;

  // Change::removed holds owner comments: OwnerComment(id).
  absl::flat_hash_set<std::string> EntriesOf(
      absl::string_view id,
      const absl::flat_hash_set<std::string>& hashes) const override;
  // Every owner no desired plan has goes; of the desired plans only those
  // whose elements are not installed exactly (keys and values) are rendered.
  Change SyncChange(const std::vector<const PodPlan*>& desired) const override;
  // Deletes the elements of the removed owners and of every plan's owner,
  // then adds the plans' elements (and the table's objects when some are
  // missing).
  std::string Delta(const Change& change) const override;
  // Element changes only: as elements (NftRunner::RunElements).
  absl::Status Apply(const Change& change, const std::string& script) override;
  void Record(const Change& change) override;
  // When no element of anyone is left, deletes the table (best effort).
  void RemoveBaseIfUnused() override;

  std::string Table() const;
  NftTransaction Transaction(const Change& change) const;

  IPFamily family_;
  NftRunner* runner_;
  NftRenderer renderer_;
  bool base_complete_ = false;
  // By owner comment: the elements installed.
  absl::flat_hash_map<std::string, std::vector<ElementKey>> owners_;
};

// Parses `nft list table` output: every element of every set and map, with its
// owner comment ("" when it has none). Exposed for tests.
struct ListedElement {
  std::string set;
  std::string key;
  std::string comment;
  std::string value;  // A map element's value; "" in a set.
};
struct ListedTable {
  std::vector<std::string> objects;  // "map hostports", "chain prerouting", ...
  std::vector<ListedElement> elements;
};
ListedTable ParseNftListing(absl::string_view text);

}  // namespace hostport

#endif  // HOSTPORT_BACKENDS_NFT_BACKEND_H_
