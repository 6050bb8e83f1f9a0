#include "hostport/nft_backend.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "hostport/naming.h"

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
      ListedElement e{set, "", ""};
      const size_t comment = item.find(" comment \"");
      if (comment != absl::string_view::npos) {
        e.key = std::string(item.substr(0, comment));
        absl::string_view rest = item.substr(comment + strlen(" comment \""));
        e.comment = std::string(rest.substr(0, rest.find('"')));
      } else {
        e.key = std::string(item.substr(0, item.find(" : ")));
      }
      table.elements.push_back(std::move(e));
    }
  }
  return table;
}

NftBackend::NftBackend(IPFamily family, NftRunner* runner, ObjectNames names)
    : family_(family), runner_(runner), renderer_(std::move(names)) {}

std::string NftBackend::Table() const {
  return absl::StrCat(family_ == IPFamily::kIPv4 ? "ip " : "ip6 ",
                      renderer_.names().nft_table);
}

absl::Status NftBackend::Load() {
  owners_.clear();
  base_complete_ = false;
  absl::StatusOr<std::string> listing = runner_->List("list table " + Table());
  if (absl::IsNotFound(listing.status())) return absl::OkStatus();
  if (!listing.ok()) return listing.status();
  ListedTable table = ParseNftListing(*listing);
  base_complete_ = true;
  for (const std::string& object : renderer_.BaseObjects(family_)) {
    if (std::find(table.objects.begin(), table.objects.end(), object) ==
        table.objects.end()) {
      base_complete_ = false;
    }
  }
  for (ListedElement& e : table.elements) {
    owners_[e.comment].push_back({std::move(e.set), std::move(e.key)});
  }
  return absl::OkStatus();
}

NftTransaction NftBackend::Delta(absl::string_view owner,
                                 const PodPlan* plan) const {
  NftTransaction tx;
  const bool adds = plan != nullptr && !plan->family(family_).mappings.empty();
  if (adds && !base_complete_) renderer_.AddBase(family_, &tx);
  if (auto it = owners_.find(owner); it != owners_.end()) {
    renderer_.DeleteElements(family_, it->second, &tx);
  }
  if (adds) renderer_.AddPod(family_, *plan, &tx);
  return tx;
}

absl::Status NftBackend::Replace(absl::string_view id,
                                 const absl::flat_hash_set<std::string>&,
                                 const PodPlan* plan) {
  const std::string owner = OwnerComment(id);
  NftTransaction tx = Delta(owner, plan);
  if (tx.empty()) return absl::OkStatus();
  if (absl::Status status = runner_->Run(tx.Render()); !status.ok()) {
    if (absl::Status reload = Load(); !reload.ok()) return reload;
    tx = Delta(owner, plan);
    if (tx.empty()) return absl::OkStatus();
    if (absl::Status retry = runner_->Run(tx.Render()); !retry.ok()) {
      return absl::Status(
          retry.code(),
          absl::StrCat("nftables IPv", family_ == IPFamily::kIPv4 ? "4" : "6",
                       " for pod ", id, ": ", retry.message()));
    }
  }
  owners_.erase(owner);
  if (plan != nullptr && !plan->family(family_).mappings.empty()) {
    owners_[owner] = renderer_.ElementKeys(family_, *plan);
    base_complete_ = true;
  }
  return absl::OkStatus();
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
