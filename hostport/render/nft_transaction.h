// NftTransaction: an ordered list of nft commands, rendered as one `nft -f`
// script.
//
// nft applies a script as a single kernel transaction: every command takes
// effect or none does. The transaction only builds text; running it is a
// backend's job.
#ifndef HOSTPORT_RENDER_NFT_TRANSACTION_H_
#define HOSTPORT_RENDER_NFT_TRANSACTION_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "hostport/os/nft_element.h"

namespace hostport {

class NftTransaction {
 public:
  // Appends one command, e.g. "add element ip crio-hostports hairpins { ... }".
  // REQUIRES: `command` is one line without a trailing newline.
  void Add(absl::string_view command) { commands_.emplace_back(command); }

  // Appends an `add element` or `delete element` command and the same change
  // as data.
  void AddElement(absl::string_view command, NftElementOp op) {
    commands_.emplace_back(command);
    elements_.push_back(std::move(op));
  }

  // Appends every command of `other` after this one's.
  void Merge(const NftTransaction& other) {
    commands_.insert(commands_.end(), other.commands_.begin(),
                     other.commands_.end());
    elements_.insert(elements_.end(), other.elements_.begin(),
                     other.elements_.end());
  }

  // The element commands as data, in order.
  const std::vector<NftElementOp>& elements() const { return elements_; }
  // Whether every command is an element command (AddElement).
  bool ElementsOnly() const { return elements_.size() == commands_.size(); }

  const std::vector<std::string>& commands() const { return commands_; }
  bool empty() const { return commands_.empty(); }
  int size() const { return static_cast<int>(commands_.size()); }

  // The script: one command per line.
  std::string Render() const;

 private:
  std::vector<std::string> commands_;
  std::vector<NftElementOp> elements_;
};

}  // namespace hostport

#endif  // HOSTPORT_RENDER_NFT_TRANSACTION_H_
