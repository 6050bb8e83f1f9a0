// FakeIptables: an in-memory stand-in for iptables-restore and iptables-save
// (both families, plain, -legacy- and -nft- names) behind CommandRunner.
//
// It behaves like the kernel and the real tools (iptables 1.8.9), including
// their errors and when they find them: -D of a rule that is not there, -N of
// a chain that exists, -X of a chain that is missing, non-empty or still
// jumped to, a jump to a chain that does not exist, DROP in table nat and a
// NAT target outside it all fail with the exit code and stderr text of the
// variant ("iptables-restore: line N failed", "iptables-nft-restore: line N
// failed: REASON", exit 4 "line N: CHAIN_DEL failed (Device or resource
// busy)" for nf_tables, ...). As with the real tools, legacy --test checks
// everything but the kernel's target checks, while nft --test only parses.
// Changes apply to a copy of a table that replaces it only when every line of
// the table succeeds, at its COMMIT; as measured with iptables 1.8.9, both
// variants commit table by table, so tables before a failing one stay
// applied (SetAtomicity(kWholeInput) makes the whole input all or nothing).
// iptables-save prints the state in the real tool's layout, so what the
// library parses from the fake it would parse from the kernel.
//
// Tables nat (PREROUTING INPUT OUTPUT POSTROUTING), raw (PREROUTING OUTPUT),
// filter and mangle exist in both families. Rules are kept as the text that
// followed "-A CHAIN"; the fake does not canonicalise them the way the kernel
// round trip does, so input must already be in iptables-save form (as the
// library's renderer writes it) for -D and save to match the real tools.
// The legacy and nft variants of a family share one state (the kernel keeps
// legacy and nf_tables rules apart). Save output was checked against
// iptables-legacy-save and iptables-nft-save 1.8.9 for every golden; its
// "# Generated"/"# Completed" lines carry a fixed date. Thread-safe.
#ifndef HOSTPORT_TESTING_FAKE_IPTABLES_H_
#define HOSTPORT_TESTING_FAKE_IPTABLES_H_

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hostport/model/types.h"
#include "hostport/os/command_runner.h"

namespace hostport::testing {

class FakeIptables : public CommandRunner {
 public:
  // Which implementation a program name stands for. The variants report
  // errors differently and find some at different times (see the file
  // comment); -legacy- and -nft- names are fixed, plain names configurable.
  enum class Variant { kLegacy, kNft };

  // How much of one restore input applies when a line fails.
  enum class Atomicity {
    // Each table is replaced at its COMMIT; tables committed before the
    // failing line stay applied. What iptables 1.8.9 does, legacy and nft
    // alike (measured).
    kPerTable,
    // All or nothing, for tests that want the stricter model.
    kWholeInput,
  };

  // One call to Run, as received.
  struct Call {
    std::vector<std::string> argv;
    std::string stdin_text;
  };

  FakeIptables() = default;
  FakeIptables(const FakeIptables&) = delete;
  FakeIptables& operator=(const FakeIptables&) = delete;

  // Emulates argv[0] (its basename): ip[6]tables[-legacy|-nft]-restore,
  // ip[6]tables[-legacy|-nft]-save, ip[6]tables[-legacy|-nft] -w [-t TABLE]
  // -S CHAIN, and ip[6]tables --version (whose variant is
  // SetPlainVariant's). The result carries the exit code, stdout
  // and stderr the real tool would give. Any other program: NotFound naming
  // it, as when exec fails.
  //
  // restore accepts -w [SECONDS], --wait, -n/--noflush, -t/--test and -v;
  // without --noflush every table named in the input is emptied first (all
  // chains flushed, user chains deleted). save accepts -t/--table TABLE and
  // -c; without -t it prints every table ever touched, in name order.
  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                    const std::string& stdin_text) override;

  // The variant of the plain names (iptables-restore, ip6tables-save, ...);
  // kNft unless set, as Debian's default alternative.
  void SetPlainVariant(Variant variant);

  // The atomicity of every restore variant; kPerTable unless set.
  void SetAtomicity(Atomicity atomicity);

  // The next call whose program basename contains `program_substring` returns
  // `exit_code` and `stderr_text` without touching any state. Injections queue
  // and each is used once.
  void FailNext(absl::string_view program_substring, int exit_code,
                absl::string_view stderr_text);

  // Every call to Run so far, in order, including failed ones.
  std::vector<Call> calls() const;
  void ClearCalls();

  // Applies restore input (as iptables-restore --noflush of the nft variant,
  // but all or nothing) without going through Run or the call log: for seeding
  // someone else's rules or removing ours underneath the library. On failure
  // the status carries the stderr text the real tool would print.
  absl::Status Restore(IPFamily family, absl::string_view text);

  // iptables-save output for `table`, or every touched table when nullopt,
  // as the plain name of the configured variant prints it.
  std::string Save(IPFamily family, const std::optional<std::string>& table =
                                        std::nullopt) const;

  // The rule specifications of a chain (the text after "-A CHAIN "), in order;
  // empty when the chain does not exist.
  std::vector<std::string> Rules(IPFamily family, absl::string_view table,
                                 absl::string_view chain) const;
  // Built-in chains of a known table always exist.
  bool HasChain(IPFamily family, absl::string_view table,
                absl::string_view chain) const;
  // Every chain of `table`: built-ins in kernel order, then user chains by
  // name.
  std::vector<std::string> Chains(IPFamily family,
                                  absl::string_view table) const;

  // Internal representation, exposed for the implementation's helpers.
  struct Chain {
    std::string policy;  // "ACCEPT"/"DROP" for built-ins, empty for user.
    std::vector<std::string> rules;
  };
  struct Table {
    std::map<std::string, Chain> chains;
  };
  using Tables = std::map<std::string, Table>;  // By table name.

 private:
  struct Injection {
    std::string program_substring;
    int exit_code;
    std::string stderr_text;
  };

  mutable std::mutex mu_;
  Tables tables_[2];  // Indexed by family: 0 IPv4, 1 IPv6.
  Variant plain_variant_ = Variant::kNft;
  Atomicity atomicity_ = Atomicity::kPerTable;
  std::deque<Injection> injections_;
  std::vector<Call> calls_;
};

// `save` (iptables-save output; other lines pass through) without comment
// lines and without the tables that hold no rule and no user chain: an empty
// table the tools created and left (iptables-nft keeps the raw table it made
// for the loopback guard) carries nothing of anyone's.
std::string WithoutEmptyTables(absl::string_view save);

}  // namespace hostport::testing

#endif  // HOSTPORT_TESTING_FAKE_IPTABLES_H_
