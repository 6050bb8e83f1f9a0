#include "hostport/backends/nft_backend.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "hostport/model/naming.h"

namespace hostport {

ListedTable ParseNftListing(absl::string_view text) {
  ListedTable table;
  std::string current;  // "map hostports" while inside its block.
  bool in_elements = false;
  std::string elements;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!in_elements) {
      for (const char* kind : {"set ", "map ", "chain "}) {
        if (absl::StartsWith(line, kind) && absl::EndsWith(line, "{")) {
          current = std::string(
              absl::StripAsciiWhitespace(line.substr(0, line.size() - 1)));
          table.objects.push_back(current);
        }
      }
      if (!absl::ConsumePrefix(&line, "elements = {")) continue;
      in_elements = true;
      elements.clear();
    }
    const size_t close = line.find('}');
    absl::StrAppend(&elements, line.substr(0, close), " ");
    if (close == absl::string_view::npos) continue;
    in_elements = false;
    const std::string set = current.substr(current.find(' ') + 1);
    for (absl::string_view item : absl::StrSplit(elements, ',')) {
      item = absl::StripAsciiWhitespace(item);
      if (item.empty()) continue;
      ListedElement e{set, "", "", ""};
      const size_t comment = item.find(" comment \"");
      absl::string_view after;  // What follows key and comment.
      if (comment != absl::string_view::npos) {
        e.key = std::string(item.substr(0, comment));
        absl::string_view rest = item.substr(comment + strlen(" comment \""));
        const size_t end = rest.find('"');
        e.comment = std::string(rest.substr(0, end));
        if (end != absl::string_view::npos) after = rest.substr(end + 1);
      } else {
        const size_t colon = item.find(" : ");
        e.key = std::string(item.substr(0, colon));
        if (colon != absl::string_view::npos) after = item.substr(colon);
      }
      if (absl::ConsumePrefix(&after, " : ")) e.value = std::string(after);
      table.elements.push_back(std::move(e));
    }
  }
  return table;
}

namespace {

// `elements` as sorted "set key : value" lines, to compare.
std::vector<std::string> Texts(
    const std::vector<NftRenderer::ElementKey>& elements) {
  std::vector<std::string> texts;
  for (const NftRenderer::ElementKey& e : elements) {
    texts.push_back(absl::StrCat(e.set, " ", e.key, " : ", e.value));
  }
  std::sort(texts.begin(), texts.end());
  return texts;
}

}  // namespace

NftBackend::NftBackend(IPFamily family, NftRunner* runner, ObjectNames names)
    : family_(family), runner_(runner), renderer_(std::move(names)) {}

std::string NftBackend::Table() const {
  return absl::StrCat(family_ == IPFamily::kIPv4 ? "ip " : "ip6 ",
                      renderer_.names().nft_table);
}

absl::Status NftBackend::Load() {
  owners_.clear();
  base_complete_ = false;
  partial_ = false;
  absl::StatusOr<std::string> listing = runner_->List("list table " + Table());
  if (absl::IsNotFound(listing.status())) return absl::OkStatus();
  if (!listing.ok()) return listing.status();
  ListedTable table = ParseNftListing(*listing);
  base_complete_ = true;
  for (const NftRenderer::BaseObject& object : renderer_.BaseObjects(family_)) {
    if (std::find(table.objects.begin(), table.objects.end(),
                  object.Listed()) == table.objects.end()) {
      base_complete_ = false;
    }
  }
  for (ListedElement& e : table.elements) {
    owners_[e.comment].push_back(
        {std::move(e.set), std::move(e.key), std::move(e.value)});
  }
  return absl::OkStatus();
}

absl::Status NftBackend::LoadBase() {
  owners_.clear();
  base_complete_ = false;
  partial_ = true;
  // The chains only: the sets and maps are created in the same transaction
  // as the chains, and a missing one makes a delta fail (and so load
  // everything).
  std::vector<std::string> chains;
  for (const NftRenderer::BaseObject& object : renderer_.BaseObjects(family_)) {
    if (object.kind == NftRenderer::BaseObject::Kind::kChain) {
      chains.push_back(object.name);
    }
  }
  absl::StatusOr<std::vector<std::string>> present =
      runner_->ExistingChains(family_ == IPFamily::kIPv4 ? "ip" : "ip6",
                              renderer_.names().nft_table, chains);
  if (!present.ok()) return present.status();
  base_complete_ = present->size() == chains.size();
  return absl::OkStatus();
}

bool NftBackend::Assume(const std::vector<const PodPlan*>& plans, bool whole) {
  for (const PodPlan* plan : plans) {
    if (!plan->family(family_).mappings.empty() && !base_complete_) {
      return false;
    }
  }
  for (const PodPlan* plan : plans) {
    if (plan->family(family_).mappings.empty()) continue;
    owners_[plan->owner_comment] = renderer_.ElementKeys(family_, *plan);
  }
  if (whole) partial_ = false;
  return true;
}

absl::flat_hash_set<std::string> NftBackend::EntriesOf(
    absl::string_view id, const absl::flat_hash_set<std::string>&) const {
  return {OwnerComment(id)};
}

std::string NftBackend::Delta(const Change& change) const {
  return Transaction(change).Render();
}

NftTransaction NftBackend::Transaction(const Change& change) const {
  const std::vector<const PodPlan*>& plans = change.plans;
  NftTransaction tx;
  bool adds = false;
  for (const PodPlan* plan : plans) {
    adds = adds || !plan->family(family_).mappings.empty();
  }
  if (adds && !base_complete_) renderer_.AddBase(family_, &tx);
  absl::flat_hash_set<std::string> removed = change.removed;
  for (const PodPlan* plan : plans) removed.insert(plan->owner_comment);
  for (const std::string& owner : removed) {
    if (auto it = owners_.find(owner); it != owners_.end()) {
      renderer_.DeleteElements(family_, it->second, &tx);
    }
  }
  for (const PodPlan* plan : plans) renderer_.AddPod(family_, *plan, &tx);
  return tx;
}

void NftBackend::Record(const Change& change) {
  for (const std::string& owner : change.removed) owners_.erase(owner);
  for (const PodPlan* plan : change.plans) {
    owners_.erase(plan->owner_comment);
    if (plan->family(family_).mappings.empty()) continue;
    owners_[plan->owner_comment] = renderer_.ElementKeys(family_, *plan);
    base_complete_ = true;
  }
}

absl::Status NftBackend::Apply(const Change& change,
                               const std::string& script) {
  const NftTransaction tx = Transaction(change);
  if (!tx.ElementsOnly()) return runner_->Run(script);
  return runner_->RunElements(family_ == IPFamily::kIPv4 ? "ip" : "ip6",
                              renderer_.names().nft_table, tx.elements(),
                              script);
}

void NftBackend::RemoveBaseIfUnused() {
  if (partial_ || !owners_.empty() || !base_complete_) return;
  // Its own transaction, best effort: an element of anyone keeps the table.
  if (runner_->Run(absl::StrCat("delete table ", Table(), "\n")).ok()) {
    base_complete_ = false;
  }
}

NftBackend::Change NftBackend::SyncChange(
    const std::vector<const PodPlan*>& desired) const {
  absl::flat_hash_set<std::string> wanted;
  for (const PodPlan* plan : desired) wanted.insert(plan->owner_comment);
  Change change;
  for (const auto& [owner, keys] : owners_) {
    if (!wanted.contains(owner)) change.removed.insert(owner);
  }
  if (!base_complete_) {
    change.plans = desired;
    return change;
  }
  for (const PodPlan* plan : desired) {
    auto it = owners_.find(plan->owner_comment);
    const std::vector<ElementKey> want = renderer_.ElementKeys(family_, *plan);
    if (want.empty() && it == owners_.end()) continue;
    if (it == owners_.end() || Texts(it->second) != Texts(want)) {
      change.plans.push_back(plan);
    }
  }
  return change;
}

bool NftBackend::Holds(absl::string_view id,
                       const absl::flat_hash_set<std::string>&) const {
  return owners_.contains(OwnerComment(id));
}

int NftBackend::InstalledMappings() const {
  int n = 0;
  for (const auto& [owner, keys] : owners_) {
    for (const ElementKey& k : keys) {
      n += k.set == "hostports" || k.set == "hostipports";
    }
  }
  return n;
}

}  // namespace hostport

namespace hostport {

absl::Status NftBackend::LoadPod(const PodPlan& plan) {
  NftTransaction add;
  renderer_.AddPod(family_, plan, &add);
  absl::StatusOr<std::vector<bool>> held =
      runner_->HoldsElements(family_ == IPFamily::kIPv4 ? "ip" : "ip6",
                             renderer_.names().nft_table, add.elements());
  if (absl::IsUnimplemented(held.status())) return Load();
  if (!held.ok()) return held.status();
  // AddPod's elements, in ElementKeys' order.
  const std::vector<ElementKey> keys = renderer_.ElementKeys(family_, plan);
  std::vector<ElementKey>& owned = owners_[plan.owner_comment];
  owned.clear();
  for (size_t i = 0; i < keys.size() && i < held->size(); ++i) {
    if ((*held)[i]) owned.push_back(keys[i]);
  }
  if (owned.empty()) owners_.erase(plan.owner_comment);
  return absl::OkStatus();
}

absl::Status NftBackend::Verify(const PodPlan& plan) const {
  const std::vector<ElementKey> want = renderer_.ElementKeys(family_, plan);
  auto it = owners_.find(plan.owner_comment);
  for (const ElementKey& key : want) {
    if (it == owners_.end() || std::find(it->second.begin(), it->second.end(),
                                         key) == it->second.end()) {
      return absl::NotFoundError(
          absl::StrCat("nftables ", IPFamilyLabel(family_), " lacks element { ",
                       key.key, " } of pod ", plan.owner, " in ", key.set));
    }
  }
  return absl::OkStatus();
}

}  // namespace hostport
