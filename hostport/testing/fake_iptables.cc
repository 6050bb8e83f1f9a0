#include "hostport/testing/fake_iptables.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace hostport::testing {
namespace {

using Atomicity = FakeIptables::Atomicity;
using Variant = FakeIptables::Variant;
using Chain = FakeIptables::Chain;
using Table = FakeIptables::Table;
using Tables = FakeIptables::Tables;

// A fixed date keeps save output reproducible in tests.
constexpr char kSaveDate[] = "Thu Jan  1 00:00:00 1970";
constexpr char kVersion[] = "v1.8.9";

int Index(IPFamily family) { return family == IPFamily::kIPv4 ? 0 : 1; }

// Built-in chains of each table, in the order iptables-save prints them.
const std::vector<std::string>* BuiltinChains(absl::string_view table) {
  static const auto* const kBuiltins =
      new std::map<std::string, std::vector<std::string>, std::less<>>{
          {"filter", {"INPUT", "FORWARD", "OUTPUT"}},
          {"mangle",
           {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}},
          {"nat", {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}},
          {"raw", {"PREROUTING", "OUTPUT"}},
      };
  auto it = kBuiltins->find(table);
  return it == kBuiltins->end() ? nullptr : &it->second;
}

bool IsBuiltin(absl::string_view table, absl::string_view chain) {
  const std::vector<std::string>* builtins = BuiltinChains(table);
  return builtins != nullptr && std::find(builtins->begin(), builtins->end(),
                                          chain) != builtins->end();
}

// REQUIRES: BuiltinChains(name) != nullptr.
Table NewTable(absl::string_view name) {
  Table table;
  for (const std::string& chain : *BuiltinChains(name)) {
    table.chains[chain].policy = "ACCEPT";
  }
  return table;
}

// Target extensions the fake knows; any other non-chain target fails to load.
bool IsTargetExtension(absl::string_view target) {
  static const auto* const kTargets = new absl::flat_hash_set<std::string>{
      "ACCEPT",   "DROP",     "RETURN", "DNAT",     "SNAT",   "MASQUERADE",
      "REDIRECT", "NETMAP",   "LOG",    "NFLOG",    "MARK",   "CONNMARK",
      "CT",       "NOTRACK",  "REJECT", "TRACE",    "TCPMSS", "NFQUEUE",
      "AUDIT",    "CHECKSUM", "TPROXY", "CLASSIFY", "TEE",    "SET"};
  return kTargets->contains(target);
}

bool IsNatTarget(absl::string_view target) {
  return target == "DNAT" || target == "SNAT" || target == "MASQUERADE" ||
         target == "REDIRECT" || target == "NETMAP";
}

enum class Tool { kRestore, kSave, kList };

struct Program {
  IPFamily family;
  Tool tool;
  bool nft;              // The nf_tables variant; else legacy.
  std::string basename;  // As invoked.
};

absl::string_view Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

std::optional<Program> ParseProgram(absl::string_view argv0,
                                    Variant plain_variant) {
  absl::string_view name = Basename(argv0);
  Program program{IPFamily::kIPv4, Tool::kRestore,
                  plain_variant == Variant::kNft, std::string(name)};
  if (absl::ConsumePrefix(&name, "ip6tables")) {
    program.family = IPFamily::kIPv6;
  } else if (!absl::ConsumePrefix(&name, "iptables")) {
    return std::nullopt;
  }
  if (absl::ConsumePrefix(&name, "-legacy")) {
    program.nft = false;
  } else if (absl::ConsumePrefix(&name, "-nft")) {
    program.nft = true;
  }
  if (name == "-restore") {
    program.tool = Tool::kRestore;
  } else if (name == "-save") {
    program.tool = Tool::kSave;
  } else if (name.empty()) {
    program.tool = Tool::kList;  // ip[6]tables[-variant] -S CHAIN
  } else {
    return std::nullopt;
  }
  return program;
}

// The name the real tool gives itself in messages: the nft tools the name
// they were run by, the legacy ones "iptables-restore" whatever it was.
std::string ToolName(const Program& p) {
  if (p.nft) return p.basename;
  return absl::StrCat(p.family == IPFamily::kIPv4 ? "iptables" : "ip6tables",
                      p.tool == Tool::kRestore ? "-restore" : "-save");
}

// Splits a rule into words, keeping a "quoted string" (quotes included) whole.
std::vector<std::string> Words(absl::string_view text) {
  std::vector<std::string> words;
  std::string current;
  bool quoted = false;
  bool in_word = false;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == ' ' || c == '\t')) {
      if (in_word) words.push_back(std::move(current));
      current.clear();
      in_word = false;
      continue;
    }
    current.push_back(c);
    in_word = true;
  }
  if (in_word) words.push_back(std::move(current));
  return words;
}

bool AllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

struct Jump {
  std::string target;
  bool is_goto = false;
};

std::optional<Jump> FindJump(const std::vector<std::string>& words) {
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    if (words[i] == "-j" || words[i] == "--jump") return Jump{words[i + 1]};
    if (words[i] == "-g" || words[i] == "--goto") {
      return Jump{words[i + 1], true};
    }
  }
  return std::nullopt;
}

bool References(const Table& table, absl::string_view chain) {
  for (const auto& [name, c] : table.chains) {
    for (const std::string& rule : c.rules) {
      std::optional<Jump> jump = FindJump(Words(rule));
      if (jump.has_value() && jump->target == chain) return true;
    }
  }
  return false;
}

// How a failed line is reported. The two variants check different things at
// different times, as measured with iptables 1.8.9:
//   legacy  libiptc checks every line against its copy of the table (--test
//           included); the kernel checks targets only when the table is
//           replaced at COMMIT.
//   nft     the tool checks chains and rules against its cache, but not under
//           --test, which only parses; the kernel refuses a busy chain
//           (exit 4) and a jump to a missing chain (exit 2, reported at the
//           COMMIT line) when the batch is sent.
struct LineError {
  enum class Style {
    kLineFailed,  // exit 1: "TOOL: line N failed[: REASON]"
    kParameter,   // exit 2: "TOOL vX (VARIANT): REASON" + "Error occurred..."
    kNetlink,     // exit 4: "TOOL vX (nf_tables): \n" + REASON, one
                  // "line N: WHAT" per refused operation
    kMessage,     // exit 1: "TOOL vX (VARIANT): REASON"
  };
  Style style;
  std::string reason;
  // Parse errors are found under nft's --test too; others are not.
  bool parse_error = false;
  int line = 0;  // When not the current line.
};

LineError Refused(std::string reason) {
  return {LineError::Style::kLineFailed, std::move(reason)};
}
LineError BadParameter(std::string reason) {
  return {LineError::Style::kParameter, std::move(reason), true};
}

constexpr char kNoChain[] = "No chain/target/match by that name.";
constexpr char kNoEntry[] = "No such file or directory";

// Chain names as iptables takes them: 1..28 characters, not an option.
std::optional<LineError> CheckChainName(absl::string_view chain) {
  if (chain.empty() || chain[0] == '-' || chain.size() > 28) {
    return BadParameter(absl::StrCat("Invalid chain name `", chain, "'"));
  }
  return std::nullopt;
}

// Applies restore operations to one table. Each method returns the error of
// the line, or nullopt when it applied.
class TableEditor {
 public:
  TableEditor(std::string name, Table table, bool nft)
      : name_(std::move(name)), table_(std::move(table)), nft_(nft) {}

  const std::string& name() const { return name_; }
  Table& table() { return table_; }
  // The line being applied, for messages that name it.
  void set_line(int line) { line_ = line; }

  std::optional<LineError> Declare(absl::string_view line) {
    std::vector<std::string> words = Words(line.substr(1));
    if (words.empty()) return BadParameter("chain name expected");
    const std::string& chain = words[0];
    const std::string policy = words.size() > 1 ? words[1] : "-";
    if (IsBuiltin(name_, chain)) {
      if (policy != "ACCEPT" && policy != "DROP") {
        return BadParameter(absl::StrCat("Bad policy name `", policy, "'"));
      }
      table_.chains[chain].policy = policy;
      return std::nullopt;
    }
    // iptables-nft takes any policy of a user chain for "-".
    if (policy != "-" && !nft_) {
      return LineError{
          LineError::Style::kMessage,
          absl::StrCat("Can't set policy `", policy, "' on `", chain, "' line ",
                       line_, ": Bad built-in chain name"),
          true};
    }
    if (std::optional<LineError> e = CheckChainName(chain)) return e;
    table_.chains[chain].rules.clear();
    return std::nullopt;
  }

  std::optional<LineError> Apply(absl::string_view op, absl::string_view chain,
                                 absl::string_view rule) {
    if (op == "-N" || op == "--new-chain") return NewChain(chain);
    if (op == "-A" || op == "--append") return Insert(chain, rule, false);
    if (op == "-I" || op == "--insert") return Insert(chain, rule, true);
    if (op == "-D" || op == "--delete") return Delete(chain, rule);
    if (op == "-X" || op == "--delete-chain") return DeleteChain(chain);
    if (op == "-F" || op == "--flush") return Flush(chain);
    if (op == "-P" || op == "--policy") {
      if (!IsBuiltin(name_, chain)) return Refused("Bad built-in chain name");
      if (rule != "ACCEPT" && rule != "DROP") {
        return BadParameter(absl::StrCat("Bad policy name `", rule, "'"));
      }
      table_.chains[std::string(chain)].policy = std::string(rule);
      return std::nullopt;
    }
    if (op == "-Z" || op == "--zero") return std::nullopt;
    return BadParameter(absl::StrCat("unknown option \"", op, "\""));
  }

  // What the kernel refuses when the table is committed at line `line`.
  std::optional<LineError> CheckCommit(int line) const {
    if (!nft_ && !misplaced_target_.empty()) {
      return LineError{LineError::Style::kLineFailed, misplaced_target_, false,
                       line};
    }
    if (nft_ && !missing_chain_.empty()) {
      return LineError{
          LineError::Style::kParameter,
          absl::StrCat("Chain '", missing_chain_, "' does not exist"), false,
          line};
    }
    if (nft_ && !kernel_refusals_.empty()) {
      return LineError{LineError::Style::kNetlink,
                       absl::StrJoin(kernel_refusals_, ""), false, line};
    }
    return std::nullopt;
  }

 private:
  std::optional<LineError> NewChain(absl::string_view chain) {
    if (std::optional<LineError> e = CheckChainName(chain)) return e;
    if (table_.chains.count(std::string(chain)) > 0) {
      return Refused("Chain already exists.");
    }
    table_.chains[std::string(chain)];
    return std::nullopt;
  }

  // The checks the tool and the kernel make on a rule before accepting it.
  std::optional<LineError> CheckRule(absl::string_view op,
                                     absl::string_view chain,
                                     absl::string_view rule) {
    std::optional<Jump> jump = FindJump(Words(rule));
    if (!jump.has_value()) return std::nullopt;
    const std::string& target = jump->target;
    const std::string rule_op = absl::StrCat(
        op == "-I" || op == "--insert" ? "RULE_INSERT" : "RULE_APPEND",
        " failed (");
    if (table_.chains.count(target) > 0) {
      if (IsBuiltin(name_, target)) {
        if (!nft_) return Refused("Invalid argument");
        RefusedByKernel(
            absl::StrCat(rule_op, kNoEntry, "): rule in chain ", chain));
      }
      return std::nullopt;
    }
    if (jump->is_goto || !IsTargetExtension(target)) {
      // iptables-nft takes any unknown target for a chain; the kernel looks
      // it up in batch order, so a chain created later does not count, and
      // the tool reports it at COMMIT.
      if (nft_) {
        if (missing_chain_.empty()) missing_chain_ = target;
        return std::nullopt;
      }
      LineError e = BadParameter(
          jump->is_goto ? absl::StrCat("goto '", target, "' is not a chain")
                        : absl::StrCat("Couldn't load target `", target,
                                       "':", kNoEntry, "\n"));
      e.parse_error = false;
      return e;
    }
    if (target == "DROP" && name_ == "nat") {
      return BadParameter(
          "\nThe \"nat\" table is not intended for filtering, the use of DROP "
          "is therefore inhibited.\n\n");
    }
    const bool misplaced =
        (IsNatTarget(target) && name_ != "nat") ||
        ((target == "CT" || target == "NOTRACK") && name_ != "raw");
    if (misplaced) {
      if (nft_) {
        RefusedByKernel(
            absl::StrCat(rule_op, "Invalid argument): rule in chain ", chain));
      } else {
        // Legacy: the kernel refuses the whole table at COMMIT.
        misplaced_target_ =
            absl::StrCat(target, " is not valid in table ", name_);
      }
    }
    return std::nullopt;
  }

  std::optional<LineError> Insert(absl::string_view chain,
                                  absl::string_view rule, bool at_top) {
    auto it = table_.chains.find(std::string(chain));
    if (it == table_.chains.end()) return Refused(kNoChain);
    size_t position = at_top ? 0 : it->second.rules.size();
    if (at_top) {
      // "-I CHAIN N rule": insert at position N (1-based).
      std::vector<std::string> parts =
          absl::StrSplit(rule, absl::MaxSplits(' ', 1));
      if (AllDigits(parts[0])) {
        int n = 0;
        if (!absl::SimpleAtoi(parts[0], &n) || n < 1 ||
            n > static_cast<int>(it->second.rules.size()) + 1) {
          return Refused("Index of insertion too big.");
        }
        position = n - 1;
        rule = parts.size() > 1 ? rule.substr(parts[0].size() + 1) : "";
      }
    }
    if (std::optional<LineError> e =
            CheckRule(at_top ? "-I" : "-A", chain, rule)) {
      return e;
    }
    it->second.rules.insert(
        it->second.rules.begin() + static_cast<std::ptrdiff_t>(position),
        std::string(rule));
    return std::nullopt;
  }

  std::optional<LineError> Delete(absl::string_view chain,
                                  absl::string_view rule) {
    auto it = table_.chains.find(std::string(chain));
    if (it == table_.chains.end()) return Refused(kNoChain);
    std::vector<std::string>& rules = it->second.rules;
    if (AllDigits(rule)) {
      int n = 0;
      if (!absl::SimpleAtoi(rule, &n) || n < 1 ||
          n > static_cast<int>(rules.size())) {
        return Refused("Index of deletion too big.");
      }
      rules.erase(rules.begin() + (n - 1));
      return std::nullopt;
    }
    // The rule is parsed before it is looked up: DROP in nat fails as such.
    std::optional<Jump> jump = FindJump(Words(rule));
    if (jump.has_value() && jump->target == "DROP" && name_ == "nat") {
      return CheckRule("-D", chain, rule);
    }
    auto found = std::find(rules.begin(), rules.end(), rule);
    if (found == rules.end()) {
      return Refused("Bad rule (does a matching rule exist in that chain?).");
    }
    rules.erase(found);
    return std::nullopt;
  }

  // nf_tables refuses an operation when the batch is sent: the tool's cache
  // goes on as if it applied, and the table fails at COMMIT.
  void RefusedByKernel(absl::string_view what) {
    kernel_refusals_.push_back(absl::StrCat("line ", line_, ": ", what, "\n"));
  }

  void ChainBusy(absl::string_view chain) {
    RefusedByKernel(absl::StrCat(
        "CHAIN_DEL failed (Device or resource busy): chain ", chain));
  }

  std::optional<LineError> DeleteChain(absl::string_view chain) {
    if (chain.empty()) {
      // Every user chain; each must be empty and unreferenced. libiptc stops
      // at the first that is not, nf_tables names every one.
      std::vector<std::string> user;
      for (const auto& [name, c] : table_.chains) {
        if (IsBuiltin(name_, name)) continue;
        user.push_back(name);
        if (!c.rules.empty() || References(table_, name)) {
          if (!nft_) return Refused("Directory not empty.");
          ChainBusy(name);
        }
      }
      for (const std::string& name : user) table_.chains.erase(name);
      return std::nullopt;
    }
    auto it = table_.chains.find(std::string(chain));
    // iptables-nft tries to delete a built-in chain; the kernel finds it busy
    // when it has rules (and the tool's cache misses it when it has none).
    if (nft_ && it != table_.chains.end() && IsBuiltin(name_, chain) &&
        !it->second.rules.empty()) {
      ChainBusy(chain);
      return std::nullopt;
    }
    if (it == table_.chains.end() || IsBuiltin(name_, chain)) {
      return Refused(kNoChain);
    }
    const bool empty = it->second.rules.empty();
    if (!empty || References(table_, chain)) {
      if (!nft_) {
        return Refused(empty ? "Too many links." : "Directory not empty.");
      }
      ChainBusy(chain);
    }
    table_.chains.erase(it);
    return std::nullopt;
  }

  std::optional<LineError> Flush(absl::string_view chain) {
    if (chain.empty()) {
      for (auto& [name, c] : table_.chains) c.rules.clear();
      return std::nullopt;
    }
    auto it = table_.chains.find(std::string(chain));
    if (it == table_.chains.end()) return Refused(kNoChain);
    it->second.rules.clear();
    return std::nullopt;
  }

  std::string name_;
  Table table_;
  bool nft_;
  int line_ = 0;
  std::string misplaced_target_;  // Legacy: the kernel refuses at COMMIT.
  std::string missing_chain_;     // nft: the kernel refuses at COMMIT.
  std::vector<std::string> kernel_refusals_;  // nft: "line N: WHAT\n".
};

struct RestoreOptions {
  bool noflush = false;
  bool test = false;
  Atomicity atomicity = Atomicity::kPerTable;
  Program program;
};

// The stderr text of the real tool for a failed line.
std::string FailureText(const Program& program, int line_number,
                        const LineError& error) {
  const std::string tool = ToolName(program);
  const bool nft = program.nft;
  const int line = error.line != 0 ? error.line : line_number;
  switch (error.style) {
    case LineError::Style::kLineFailed:
      return nft ? absl::StrCat(tool, ": line ", line,
                                " failed: ", error.reason, "\n")
                 : absl::StrCat(tool, ": line ", line, " failed\n");
    case LineError::Style::kNetlink:
      return absl::StrCat(tool, " ", kVersion, " (nf_tables): \n",
                          error.reason);
    case LineError::Style::kMessage:
      return absl::StrCat(tool, " ", kVersion,
                          nft ? " (nf_tables): " : " (legacy): ", error.reason,
                          "\n");
    case LineError::Style::kParameter:
      break;
  }
  return absl::StrCat(tool, " ", kVersion,
                      nft ? " (nf_tables): " : " (legacy): ", error.reason,
                      "\nError occurred at line: ", line, "\nTry `", tool,
                      " -h' or '", tool, " --help' for more information.\n");
}

int ExitCode(const LineError& error) {
  switch (error.style) {
    case LineError::Style::kLineFailed:
    case LineError::Style::kMessage:
      return 1;
    case LineError::Style::kParameter:
      return 2;
    case LineError::Style::kNetlink:
      return 4;
  }
  return 1;
}

// Applies restore input to `*committed` with the program's atomicity. Returns
// nullopt on success, else the result the real tool would give.
std::optional<CommandResult> ApplyRestore(absl::string_view text,
                                          const RestoreOptions& options,
                                          Tables* committed) {
  const Program& program = options.program;
  // iptables-nft --test only parses: it finds parse errors and nothing else.
  const bool parse_only = options.test && program.nft;
  Tables work = *committed;
  std::optional<TableEditor> editor;
  int line_number = 0;
  auto fail = [&](const LineError& error) {
    CommandResult result;
    result.exit_code = ExitCode(error);
    result.stderr_text = FailureText(program, line_number, error);
    return result;
  };
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '*') {
      if (editor.has_value()) {
        const std::string tool = ToolName(program);
        return CommandResult{
            2, "",
            absl::StrCat("Bad argument `", line, "'\nError occurred at line: ",
                         line_number, "\nTry `", tool, " -h' or '", tool,
                         " --help' for more information.\n")};
      }
      const std::string name(line.substr(1));
      if (BuiltinChains(name) == nullptr) {
        return fail(BadParameter(
            absl::StrCat("can't initialize iptables table `", name,
                         "': Table does not exist (do you need to insmod?)")));
      }
      auto it = work.find(name);
      // Without --noflush the tool starts the table from empty.
      editor.emplace(
          name,
          it == work.end() || !options.noflush ? NewTable(name) : it->second,
          program.nft);
      continue;
    }
    if (!editor.has_value()) {
      return fail(BadParameter("no command specified (table expected)"));
    }
    if (line == "COMMIT") {
      if (std::optional<LineError> e = editor->CheckCommit(line_number);
          e.has_value() && !options.test) {
        return fail(*e);
      }
      work[editor->name()] = editor->table();
      if (options.atomicity == Atomicity::kPerTable && !options.test) {
        (*committed)[editor->name()] = editor->table();
      }
      editor.reset();
      continue;
    }
    std::optional<LineError> error;
    editor->set_line(line_number);
    if (line[0] == ':') {
      error = editor->Declare(line);
    } else {
      std::vector<absl::string_view> parts =
          absl::StrSplit(line, absl::MaxSplits(' ', 2));
      error =
          editor->Apply(parts[0], parts.size() > 1 ? parts[1] : "",
                        parts.size() > 2 ? absl::StripAsciiWhitespace(parts[2])
                                         : absl::string_view());
    }
    if (error.has_value() && (error->parse_error || !parse_only)) {
      return fail(*error);
    }
  }
  if (editor.has_value()) {
    return CommandResult{
        1, "",
        absl::StrCat(ToolName(program), ": COMMIT expected at line ",
                     line_number, "\n")};
  }
  if (!options.test) *committed = std::move(work);
  return std::nullopt;
}

std::string SaveTable(absl::string_view header_tool, const std::string& name,
                      const Table& table) {
  std::string out = absl::StrCat("# Generated by ", header_tool, " on ",
                                 kSaveDate, "\n*", name, "\n");
  const std::vector<std::string>& builtins = *BuiltinChains(name);
  std::vector<std::string> order = builtins;
  for (const std::string& chain : builtins) {
    absl::StrAppend(&out, ":", chain, " ", table.chains.at(chain).policy,
                    " [0:0]\n");
  }
  for (const auto& [chain, c] : table.chains) {
    if (IsBuiltin(name, chain)) continue;
    absl::StrAppend(&out, ":", chain, " - [0:0]\n");
    order.push_back(chain);
  }
  for (const std::string& chain : order) {
    for (const std::string& rule : table.chains.at(chain).rules) {
      absl::StrAppend(&out, "-A ", chain, rule.empty() ? "" : " ", rule, "\n");
    }
  }
  absl::StrAppend(&out, "COMMIT\n# Completed on ", kSaveDate, "\n");
  return out;
}

std::string SaveHeader(const Program& program) {
  return absl::StrCat(ToolName(program), " ", kVersion,
                      program.nft ? " (nf_tables)" : "");
}

// REQUIRES: table is nullopt or names a known table.
std::string SaveTables(const Program& program, const Tables& tables,
                       const std::optional<std::string>& table) {
  const std::string header = SaveHeader(program);
  if (table.has_value()) {
    auto it = tables.find(*table);
    return SaveTable(header, *table,
                     it == tables.end() ? NewTable(*table) : it->second);
  }
  std::string out;
  for (const auto& [name, t] : tables) {
    absl::StrAppend(&out, SaveTable(header, name, t));
  }
  return out;
}

// `ip[6]tables -w [-t TABLE] -S CHAIN`, as the real tool prints it: "-P" for
// a built-in chain's policy or "-N" for a user chain, then its rules; exit 1
// for a chain that does not exist.
CommandResult ListChain(const Program& program, const Tables& tables,
                        const std::vector<std::string>& argv) {
  std::string table = "filter";
  std::optional<std::string> chain;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "-w" || arg == "--wait") {
      if (i + 1 < argv.size() && AllDigits(argv[i + 1])) ++i;
    } else if ((arg == "-t" || arg == "--table") && i + 1 < argv.size()) {
      table = argv[++i];
    } else if ((arg == "-S" || arg == "--list-rules") && i + 1 < argv.size()) {
      chain = argv[++i];
    } else {
      CommandResult usage;
      usage.exit_code = 2;
      usage.stderr_text = absl::StrCat("FakeIptables: ", program.basename,
                                       " supports only -w, -t and -S "
                                       "CHAIN, not \"",
                                       arg, "\"\n");
      return usage;
    }
  }
  CommandResult result;
  if (!chain.has_value() || BuiltinChains(table) == nullptr) {
    result.exit_code = 2;
    result.stderr_text = "FakeIptables: want -S CHAIN of a known table\n";
    return result;
  }
  auto t = tables.find(table);
  const Table& found = t == tables.end() ? NewTable(table) : t->second;
  auto c = found.chains.find(*chain);
  if (c == found.chains.end()) {
    result.exit_code = 1;
    result.stderr_text = "iptables: No chain/target/match by that name.\n";
    return result;
  }
  result.stdout_text =
      IsBuiltin(table, *chain)
          ? absl::StrCat("-P ", *chain, " ", c->second.policy, "\n")
          : absl::StrCat("-N ", *chain, "\n");
  for (const std::string& rule : c->second.rules) {
    absl::StrAppend(&result.stdout_text, "-A ", *chain, rule.empty() ? "" : " ",
                    rule, "\n");
  }
  return result;
}

CommandResult UsageError(const Program& program, absl::string_view message) {
  CommandResult result;
  result.exit_code = 2;
  result.stderr_text =
      absl::StrCat(ToolName(program), " ", kVersion, ": ", message, "\n");
  return result;
}

}  // namespace

absl::StatusOr<CommandResult> FakeIptables::Run(
    const std::vector<std::string>& argv, const std::string& stdin_text) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(Call{argv, stdin_text});
  if (argv.empty()) return absl::InvalidArgumentError("empty command line");
  const absl::string_view command = Basename(argv[0]);
  if ((command == "iptables" || command == "ip6tables") && argv.size() == 2 &&
      argv[1] == "--version") {
    CommandResult result;
    result.stdout_text = absl::StrCat(
        command, " ", kVersion,
        plain_variant_ == Variant::kNft ? " (nf_tables)\n" : " (legacy)\n");
    return result;
  }
  std::optional<Program> program = ParseProgram(argv[0], plain_variant_);
  if (!program.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "cannot run ", argv[0],
        ": No such file or directory (FakeIptables "
        "emulates only ip[6]tables[-legacy|-nft]-restore and -save)"));
  }
  const absl::string_view base = Basename(argv[0]);
  for (auto it = injections_.begin(); it != injections_.end(); ++it) {
    if (absl::StrContains(base, it->program_substring)) {
      CommandResult injected;
      injected.exit_code = it->exit_code;
      injected.stderr_text = it->stderr_text;
      injections_.erase(it);
      return injected;
    }
  }
  Tables& tables = tables_[Index(program->family)];
  if (program->tool == Tool::kList) return ListChain(*program, tables, argv);
  if (program->tool == Tool::kSave) {
    std::optional<std::string> table;
    for (size_t i = 1; i < argv.size(); ++i) {
      const std::string& arg = argv[i];
      if ((arg == "-t" || arg == "--table") && i + 1 < argv.size()) {
        table = argv[++i];
      } else if (absl::StartsWith(arg, "--table=")) {
        table = arg.substr(strlen("--table="));
      } else if (arg != "-c" && arg != "--counters") {
        return UsageError(*program,
                          absl::StrCat("unknown option \"", arg, "\""));
      }
    }
    if (table.has_value() && BuiltinChains(*table) == nullptr) {
      CommandResult result;
      result.exit_code = 1;
      result.stderr_text = absl::StrCat(
          ToolName(*program), ": Unable to open table ", *table, "\n");
      return result;
    }
    CommandResult result;
    result.stdout_text = SaveTables(*program, tables, table);
    return result;
  }
  RestoreOptions options;
  options.program = *program;
  options.atomicity = atomicity_;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "-w" || arg == "--wait") {
      if (i + 1 < argv.size() && AllDigits(argv[i + 1])) ++i;
    } else if ((arg == "-W" || arg == "--wait-interval") &&
               i + 1 < argv.size()) {
      ++i;
    } else if (arg == "-n" || arg == "--noflush") {
      options.noflush = true;
    } else if (arg == "-t" || arg == "--test") {
      options.test = true;
    } else if (arg != "-v" && arg != "--verbose") {
      return UsageError(*program, absl::StrCat("unknown option \"", arg, "\""));
    }
  }
  std::optional<CommandResult> failure =
      ApplyRestore(stdin_text, options, &tables);
  if (failure.has_value()) return *failure;
  return CommandResult();
}

void FakeIptables::SetPlainVariant(Variant variant) {
  std::lock_guard<std::mutex> lock(mu_);
  plain_variant_ = variant;
}

void FakeIptables::SetAtomicity(Atomicity atomicity) {
  std::lock_guard<std::mutex> lock(mu_);
  atomicity_ = atomicity;
}

void FakeIptables::FailNext(absl::string_view program_substring, int exit_code,
                            absl::string_view stderr_text) {
  std::lock_guard<std::mutex> lock(mu_);
  injections_.push_back(Injection{std::string(program_substring), exit_code,
                                  std::string(stderr_text)});
}

std::vector<FakeIptables::Call> FakeIptables::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

void FakeIptables::ClearCalls() {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.clear();
}

absl::Status FakeIptables::Restore(IPFamily family, absl::string_view text) {
  std::lock_guard<std::mutex> lock(mu_);
  RestoreOptions options;
  options.noflush = true;
  options.atomicity = Atomicity::kWholeInput;
  options.program = Program{
      family, Tool::kRestore, true,
      family == IPFamily::kIPv4 ? "iptables-restore" : "ip6tables-restore"};
  std::optional<CommandResult> failure =
      ApplyRestore(text, options, &tables_[Index(family)]);
  if (failure.has_value()) {
    return absl::FailedPreconditionError(failure->stderr_text);
  }
  return absl::OkStatus();
}

std::string FakeIptables::Save(IPFamily family,
                               const std::optional<std::string>& table) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Program program{
      family, Tool::kSave, plain_variant_ == Variant::kNft,
      family == IPFamily::kIPv4 ? "iptables-save" : "ip6tables-save"};
  if (table.has_value() && BuiltinChains(*table) == nullptr) return "";
  return SaveTables(program, tables_[Index(family)], table);
}

std::vector<std::string> FakeIptables::Rules(IPFamily family,
                                             absl::string_view table,
                                             absl::string_view chain) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Tables& tables = tables_[Index(family)];
  auto t = tables.find(std::string(table));
  if (t == tables.end()) return {};
  auto c = t->second.chains.find(std::string(chain));
  if (c == t->second.chains.end()) return {};
  return c->second.rules;
}

bool FakeIptables::HasChain(IPFamily family, absl::string_view table,
                            absl::string_view chain) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (IsBuiltin(table, chain)) return true;
  const Tables& tables = tables_[Index(family)];
  auto t = tables.find(std::string(table));
  return t != tables.end() && t->second.chains.count(std::string(chain)) > 0;
}

std::vector<std::string> FakeIptables::Chains(IPFamily family,
                                              absl::string_view table) const {
  std::lock_guard<std::mutex> lock(mu_);
  const std::vector<std::string>* builtins = BuiltinChains(table);
  if (builtins == nullptr) return {};
  std::vector<std::string> chains = *builtins;
  const Tables& tables = tables_[Index(family)];
  auto t = tables.find(std::string(table));
  if (t == tables.end()) return chains;
  for (const auto& [name, c] : t->second.chains) {
    if (!IsBuiltin(table, name)) chains.push_back(name);
  }
  return chains;
}

std::string WithoutEmptyTables(absl::string_view save) {
  std::string out, block;
  bool in_table = false, used = false;
  for (absl::string_view line : absl::StrSplit(save, '\n')) {
    if (absl::StartsWith(line, "#")) continue;
    if (absl::StartsWith(line, "*")) {
      in_table = true;
      used = false;
      block.clear();
    }
    if (!in_table) {
      absl::StrAppend(&out, line, "\n");
      continue;
    }
    absl::StrAppend(&block, line, "\n");
    used = used || absl::StartsWith(line, "-A ") ||
           (absl::StartsWith(line, ":") && absl::EndsWith(line, " - [0:0]"));
    if (line == "COMMIT") {
      if (used) absl::StrAppend(&out, block);
      in_table = false;
    }
  }
  return out;
}

}  // namespace hostport::testing
