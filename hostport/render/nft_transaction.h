// NftTransaction: an ordered list of nft commands, rendered as one `nft -f`
// script.
//
// nft applies a script as a single kernel transaction: every command takes
// effect or none does. The transaction only builds text; running it is a
// backend's job.
#ifndef HOSTPORT_RENDER_NFT_TRANSACTION_H_
#define HOSTPORT_RENDER_NFT_TRANSACTION_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace hostport {

class NftTransaction {
 public:
  // Appends one command, e.g. "add element ip crio-hostports hairpins { ... }".
  // REQUIRES: `command` is one line without a trailing newline.
  void Add(absl::string_view command) { commands_.emplace_back(command); }

  // Appends every command of `other` after this one's.
  void Merge(const NftTransaction& other) {
    commands_.insert(commands_.end(), other.commands_.begin(),
                     other.commands_.end());
  }

  const std::vector<std::string>& commands() const { return commands_; }
  bool empty() const { return commands_.empty(); }
  int size() const { return static_cast<int>(commands_.size()); }

  // The script: one command per line.
  std::string Render() const;

 private:
  std::vector<std::string> commands_;
};

}  // namespace hostport

#endif  // HOSTPORT_RENDER_NFT_TRANSACTION_H_
