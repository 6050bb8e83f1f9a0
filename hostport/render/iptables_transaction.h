// IptablesTransaction: an ordered change to one family's iptables tables,
// rendered as input for `iptables-restore --noflush` (or ip6tables-restore).
//
// Operations are recorded in order per table; tables appear in the order they
// were first touched, each closed by COMMIT. Within a table, chain declarations
// (":CHAIN - [0:0]", which create a chain or flush it) come first, then every
// other operation in the order recorded. A transaction only ever declares
// chains its caller owns wholly: declaring is how restore input empties a
// chain, so declaring a shared chain would wipe other owners' rules. Shared
// chains are created with -N, which fails instead of flushing.
//
// iptables-restore applies one table per COMMIT with both variants
// (iptables 1.8.9: when a later table fails, earlier tables stay applied; the
// fakes mirror what the kernel was seen to do). Callers order tables so that a
// failure between two COMMITs leaves the safer state.
#ifndef HOSTPORT_RENDER_IPTABLES_TRANSACTION_H_
#define HOSTPORT_RENDER_IPTABLES_TRANSACTION_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "hostport/model/types.h"

namespace hostport {

class IptablesTransaction {
 public:
  enum class OpKind {
    kDeclareChain,  // :CHAIN - [0:0]   (create, or flush if it exists)
    kNewChain,      // -N CHAIN         (create; fails if it exists)
    kAppend,        // -A CHAIN rule
    kInsert,        // -I CHAIN rule    (at the top)
    kDelete,        // -D CHAIN rule    (fails if absent)
    kDeleteChain,   // -X CHAIN         (fails unless empty and unreferenced)
  };
  struct Op {
    OpKind kind;
    std::string chain;
    std::string rule;  // The rule specification; empty for chain operations.
  };
  struct Table {
    std::string name;
    std::vector<Op> ops;
  };

  explicit IptablesTransaction(IPFamily family) : family_(family) {}

  IPFamily family() const { return family_; }

  void DeclareChain(absl::string_view table, absl::string_view chain);
  void NewChain(absl::string_view table, absl::string_view chain);
  void Append(absl::string_view table, absl::string_view chain,
              absl::string_view rule);
  void Insert(absl::string_view table, absl::string_view chain,
              absl::string_view rule);
  void Delete(absl::string_view table, absl::string_view chain,
              absl::string_view rule);
  void DeleteChain(absl::string_view table, absl::string_view chain);

  // Puts `table` next in the table order without adding an operation, so that
  // callers can choose which table commits first. Tables without operations are
  // not rendered.
  void Touch(absl::string_view table);

  // Appends every operation of `other` (same family) after this one's.
  void Merge(const IptablesTransaction& other);

  const std::vector<Table>& tables() const { return tables_; }
  bool empty() const { return size() == 0; }
  int size() const;

  // The restore input: "*table", the operations in order (a declaration
  // where it was first made, not hoisted: iptables-nft numbers chains and
  // rules in the order it reads them, so a pod's jumps get handles just
  // above its chains' even when many pods are laid down at once), "COMMIT"
  // per table.
  std::string Render() const;

 private:
  void Add(absl::string_view table, OpKind kind, absl::string_view chain,
           absl::string_view rule);

  IPFamily family_;
  std::vector<Table> tables_;
};

}  // namespace hostport

#endif  // HOSTPORT_RENDER_IPTABLES_TRANSACTION_H_
