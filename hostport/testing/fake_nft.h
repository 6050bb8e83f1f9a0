// FakeNft: an in-memory nftables behind NftRunner, for the scripts hostport
// sends (see nft_renderer.h) and the listings it reads back.
//
// It behaves like the kernel, including its errors: a script is one
// transaction applied to a copy of the ruleset that replaces it only when
// every command succeeds. Deleting a missing table or element, or referencing
// a missing set or chain, fails with "No such file or directory" (NotFound);
// adding a map element whose key is there with another value, or a set or map
// of another type under a taken name, fails with "File exists"
// (FailedPrecondition), the codes LibNftRunner gives. Re-adding an existing
// table, set, chain or identical element is a no-op, as in nft. Elements are
// checked against the set's type (an IPv6 address in an ipv4_addr set fails).
// List prints `nft list` text: tabs, sets and maps before chains in creation
// order, elements in the kernel's order and wrapping, chain headers with
// standard priority names (dstnat, srcnat, filter, ...).
//
// Understood commands (one per line or separated by ';'):
//   add|create table F T            delete|destroy table F T
//   add|create set|map F T S { type K [: V]; ... }
//   flush set|map F T S             delete set|map F T S
//   add|create chain F T C [{ type X hook H priority P; policy Y; }]
//   flush chain F T C               delete chain F T C
//   add|insert rule F T C STATEMENTS
//   add|create|delete element F T S { E[, E...] }, E = KEY [comment "C"] [: V]
// and lists: "list chains" (every table's chains, base chains with their
// hook line, no rules), "list table|set|map|chain F T [NAME]".
// Listings of every golden ruleset were checked byte for byte against nft
// 1.0 in a network namespace. Rules are kept as written: the fake does not
// canonicalise them the way the kernel round trip does, so they list back
// exactly as sent. Thread-safe.
#ifndef HOSTPORT_TESTING_FAKE_NFT_H_
#define HOSTPORT_TESTING_FAKE_NFT_H_

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/os/nft_runner.h"

namespace hostport::testing {

class FakeNft : public NftRunner {
 public:
  FakeNft() = default;
  FakeNft(const FakeNft&) = delete;
  FakeNft& operator=(const FakeNft&) = delete;

  // Applies `script` all or nothing. Errors carry "nft: " and nft's message
  // naming the failing command; NotFound for "No such file or directory",
  // FailedPrecondition otherwise.
  absl::Status Run(const std::string& script) override;

  // "list table F T", "list set|map F T S", "list chain F T C". NotFound when
  // the object does not exist; InvalidArgument for other commands.
  absl::StatusOr<std::string> List(const std::string& command) override;

  // The next Run (or List) returns `status` and changes nothing. Each
  // injection is used once; they queue.
  void FailNext(absl::Status status);
  void FailNextList(absl::Status status);

  // Every script given to Run and every List command, in order, including
  // failed ones.
  std::vector<std::string> scripts() const;
  std::vector<std::string> list_commands() const;

  // Applies a script like Run but without injections or logging: for seeding
  // state or changing rules underneath the library.
  absl::Status Apply(absl::string_view script);
  // Operator actions underneath the library; the same errors as nft.
  absl::Status DeleteTable(absl::string_view family, absl::string_view table);
  absl::Status DeleteElement(absl::string_view family, absl::string_view table,
                             absl::string_view set, absl::string_view key);

  // The elements of a set or map as `nft list` prints each one
  // ("tcp . 80 comment \"X\" : 10.0.0.5 . 8080"), in listing order; empty
  // when the set does not exist.
  std::vector<std::string> Elements(absl::string_view family,
                                    absl::string_view table,
                                    absl::string_view set) const;
  bool HasTable(absl::string_view family, absl::string_view table) const;
  // The rules of a chain as written; empty when the chain does not exist.
  std::vector<std::string> Rules(absl::string_view family,
                                 absl::string_view table,
                                 absl::string_view chain) const;

  // Internal representation, exposed for the implementation's helpers.
  struct Element {
    std::string key;  // Canonical, components joined by " . ".
    std::optional<std::string> comment;
    std::optional<std::string> value;  // Maps only.
    std::string sort_key;              // Bytes ordered as the kernel lists.
  };
  struct Set {
    std::string name;
    bool is_map = false;
    std::vector<std::string> key_types;
    std::vector<std::string> value_types;
    std::string flags;  // As listed: "interval", "constant,interval".
    std::map<std::string, Element> elements;  // By key.
  };
  struct BaseChain {
    std::string type;
    std::string hook;
    int priority = 0;
    std::string policy;
  };
  struct Chain {
    std::string name;
    std::optional<BaseChain> base;
    std::vector<std::string> rules;
  };
  struct Table {
    std::vector<Set> sets;  // Creation order.
    std::vector<Chain> chains;
  };
  // By (family, name).
  using Ruleset = std::map<std::pair<std::string, std::string>, Table>;

 private:
  mutable std::mutex mu_;
  Ruleset ruleset_;
  std::deque<absl::Status> run_failures_;
  std::deque<absl::Status> list_failures_;
  std::vector<std::string> scripts_;
  std::vector<std::string> list_commands_;
};

}  // namespace hostport::testing

#endif  // HOSTPORT_TESTING_FAKE_NFT_H_
