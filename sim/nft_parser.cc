#include "sim/nft_parser.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sim/nft_lexer.h"
#include "sim/nft_rule_parser.h"

namespace sim {
namespace {

using nft::LineFormat;
using nft::Token;
using nft::TokenCursor;
using Kind = Token::Kind;

int NamedPriority(absl::string_view name, bool* ok) {
  *ok = true;
  if (name == "raw") return -300;
  if (name == "mangle") return -150;
  if (name == "dstnat") return -100;
  if (name == "filter") return 0;
  if (name == "security") return 50;
  if (name == "srcnat") return 100;
  int n = 0;
  *ok = absl::SimpleAtoi(name, &n);
  return n;
}

absl::StatusOr<std::vector<ValueType>> TypeList(
    const std::vector<std::string>& names) {
  std::vector<ValueType> out;
  for (const std::string& n : names) {
    absl::StatusOr<ValueType> t = ParseValueTypeName(n);
    if (!t.ok()) return t.status();
    out.push_back(*t);
  }
  return out;
}

// typeof expressions resolve to the type of the field they name.
absl::StatusOr<ValueType> TypeofType(const std::string& expr) {
  static const std::pair<const char*, ValueType> kTypeof[] = {
      {"ip saddr", ValueType::kIpv4Addr},
      {"ip daddr", ValueType::kIpv4Addr},
      {"ip6 saddr", ValueType::kIpv6Addr},
      {"ip6 daddr", ValueType::kIpv6Addr},
      {"meta l4proto", ValueType::kInetProto},
      {"ip protocol", ValueType::kInetProto},
      {"th dport", ValueType::kInetService},
      {"th sport", ValueType::kInetService},
      {"tcp dport", ValueType::kInetService},
      {"udp dport", ValueType::kInetService},
      {"sctp dport", ValueType::kInetService},
      {"iifname", ValueType::kIfname},
      {"oifname", ValueType::kIfname},
      {"meta mark", ValueType::kMark},
  };
  for (const auto& [n, t] : kTypeof) {
    if (expr == n) return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported typeof expression \"", expr, "\""));
}

// What a set or map block says about the set.
struct SetDeclaration {
  std::vector<ValueType> key;
  std::vector<ValueType> data;
  bool verdicts = false;
  bool declared = false;  // a type or typeof line
  bool dynamic = false;   // "flags dynamic": the packet path adds elements
  // The first "elements = { ... }" block: positions and line. Read once the
  // block is over, when the set's types are known.
  bool has_elements = false;
  size_t elements_begin = 0;
  size_t elements_end = 0;
  int elements_line = 0;
};

// Applies the commands of one script (tables, chains, rules, sets, elements,
// `nft list` blocks) to a Ruleset, reading them from one cursor; the insides
// of rules and element blocks go to nft_rule_parser.
class ScriptParser {
 public:
  ScriptParser(TokenCursor* tokens, absl::string_view source, Ruleset* ruleset)
      : tokens_(*tokens), source_(source), ruleset_(ruleset) {}

  absl::Status Run() {
    while (true) {
      SkipSeparators();
      if (tokens_.Peek().kind == Kind::kEnd) return absl::OkStatus();
      absl::Status s = Command();
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat(source_, ":", s.message()));
      }
    }
  }

 private:
  absl::Status Error(const Token& t, absl::string_view what) const {
    return tokens_.Error(t, what);
  }

  void SkipSeparators() {
    while (tokens_.Peek().kind == Kind::kNewline ||
           tokens_.Peek().kind == Kind::kSemicolon) {
      tokens_.Next();
    }
  }

  // Up to the newline, ';' or '}' that ends the command (not consumed).
  void SkipToEndOfCommand() {
    while (tokens_.Peek().kind != Kind::kNewline &&
           tokens_.Peek().kind != Kind::kSemicolon &&
           tokens_.Peek().kind != Kind::kRBrace &&
           tokens_.Peek().kind != Kind::kEnd) {
      tokens_.Next();
    }
  }

  // End of a command: newline, ';', '}' (not consumed) or end of input.
  absl::Status EndOfCommand() {
    const Token& t = tokens_.Peek();
    if (t.kind == Kind::kNewline || t.kind == Kind::kSemicolon) {
      tokens_.Next();
      return absl::OkStatus();
    }
    if (t.kind == Kind::kEnd || t.kind == Kind::kRBrace) {
      return absl::OkStatus();
    }
    return Error(t, "unexpected token");
  }

  // A "{ ... }" block with what it nests, unread.
  void SkipBlock() {
    int depth = 0;
    do {
      const Token& t = tokens_.Next();
      if (t.kind == Kind::kLBrace) ++depth;
      if (t.kind == Kind::kRBrace) --depth;
      if (t.kind == Kind::kEnd) return;
    } while (depth > 0);
  }

  // An element block "{ ... }", passed over so it can be read later.
  absl::Status PassElementBlock() {
    int depth = 0;
    do {
      const Token& e = tokens_.Next();
      if (e.kind == Kind::kLBrace) ++depth;
      if (e.kind == Kind::kRBrace) --depth;
      if (e.kind == Kind::kEnd) return Error(e, "unterminated elements");
    } while (depth > 0);
    return absl::OkStatus();
  }

  void NoteUnsupported(Table* table, const absl::Status& status) {
    if (table->unsupported.ok()) table->unsupported = status;
  }

  // "[family] name": families this simulator does not model are reported
  // through `skip`.
  absl::Status TableRef(TableFamily* family, std::string* name, bool* skip) {
    *skip = false;
    *family = TableFamily::kIp;
    const Token& t = tokens_.Peek();
    if (t.Is("ip") || t.Is("ip6") || t.Is("inet")) {
      *family = t.Is("ip")    ? TableFamily::kIp
                : t.Is("ip6") ? TableFamily::kIp6
                              : TableFamily::kInet;
      tokens_.Next();
    } else if (t.Is("arp") || t.Is("bridge") || t.Is("netdev")) {
      *skip = true;
      skipped_family_ = t.text;
      tokens_.Next();
    }
    absl::StatusOr<std::string> n = tokens_.ExpectName("a table name");
    if (!n.ok()) return n.status();
    *name = *n;
    return absl::OkStatus();
  }

  Table* FindTable(TableFamily family, absl::string_view name) {
    return ruleset_->FindTable(Syntax::kNft, family, name);
  }

  Table* GetOrCreateTable(TableFamily family, const std::string& name) {
    Table* t = FindTable(family, name);
    if (t != nullptr) return t;
    Table table;
    table.syntax = Syntax::kNft;
    table.family = family;
    table.name = name;
    table.source = source_;
    ruleset_->tables.push_back(std::move(table));
    return &ruleset_->tables.back();
  }

  absl::StatusOr<Table*> ExistingTable(const Token& at, TableFamily family,
                                       const std::string& name) {
    Table* t = FindTable(family, name);
    if (t == nullptr) {
      return Error(
          at, absl::StrCat("no table ", TableFamilyName(family), " ", name));
    }
    return t;
  }

  absl::Status Command() {
    const Token& verb = tokens_.Next();
    if (verb.Is("table")) return TableBlock(verb);
    if (!verb.Is("add") && !verb.Is("create") && !verb.Is("insert") &&
        !verb.Is("delete") && !verb.Is("destroy") && !verb.Is("flush")) {
      return Error(verb, "unsupported command");
    }
    const Token& what = tokens_.Next();
    if (verb.Is("flush") && what.Is("ruleset")) {
      ruleset_->tables.erase(
          std::remove_if(
              ruleset_->tables.begin(), ruleset_->tables.end(),
              [](const Table& t) { return t.syntax == Syntax::kNft; }),
          ruleset_->tables.end());
      return EndOfCommand();
    }
    TableFamily family;
    std::string name;
    bool skip;
    absl::Status s = TableRef(&family, &name, &skip);
    if (!s.ok()) return s;
    if (skip) {
      return Error(what, absl::StrCat("commands on ", skipped_family_,
                                      " tables are not modelled"));
    }
    if (what.Is("table")) return TableCommand(verb, family, name);
    if (what.Is("chain")) return ChainCommand(verb, family, name);
    if (what.Is("rule")) return RuleCommand(verb, family, name);
    if (what.Is("set") || what.Is("map")) {
      return SetCommand(verb, what, family, name);
    }
    if (what.Is("element")) return ElementCommand(verb, family, name);
    if (what.Is("counter") && !verb.Is("flush") && !verb.Is("insert")) {
      // A named counter only counts: nothing on a packet's path.
      tokens_.Next();
      if (tokens_.Peek().kind == Kind::kLBrace) SkipBlock();
      return EndOfCommand();
    }
    return Error(what, "unsupported object");
  }

  absl::Status TableBlock(const Token& verb) {
    TableFamily family;
    std::string name;
    bool skip;
    absl::Status s = TableRef(&family, &name, &skip);
    if (!s.ok()) return s;
    if (tokens_.Peek().kind != Kind::kLBrace) {
      return Error(tokens_.Peek(), "expected \"{\"");
    }
    if (skip) {
      ruleset_->notes.push_back(absl::StrCat(
          source_, ":", verb.line, ": table ", skipped_family_, " ", name,
          " ignored: the ", skipped_family_, " family has no NAT hooks"));
      SkipBlock();
      return absl::OkStatus();
    }
    Table* t = GetOrCreateTable(family, name);
    return TableBody(t);
  }

  absl::Status TableCommand(const Token& verb, TableFamily family,
                            const std::string& name) {
    if (verb.Is("add") || verb.Is("create")) {
      if (verb.Is("create") && FindTable(family, name) != nullptr) {
        return Error(verb, absl::StrCat("table ", name, " already exists"));
      }
      Table* t = GetOrCreateTable(family, name);
      if (tokens_.Peek().kind == Kind::kLBrace) return TableBody(t);
      return EndOfCommand();
    }
    if (verb.Is("delete") || verb.Is("destroy")) {
      Table* t = FindTable(family, name);
      if (t == nullptr) {
        if (verb.Is("destroy")) return EndOfCommand();
        return Error(verb, absl::StrCat("no table ", TableFamilyName(family),
                                        " ", name));
      }
      ruleset_->tables.erase(ruleset_->tables.begin() +
                             (t - ruleset_->tables.data()));
      return EndOfCommand();
    }
    if (verb.Is("flush")) {
      absl::StatusOr<Table*> t = ExistingTable(verb, family, name);
      if (!t.ok()) return t.status();
      for (auto& [n, c] : (*t)->chains) c.rules.clear();
      for (auto& [n, set] : (*t)->sets) set.Clear();
      return EndOfCommand();
    }
    return Error(verb, "unsupported table command");
  }

  absl::Status TableBody(Table* table) {
    absl::Status s = tokens_.Expect(Kind::kLBrace, "\"{\"");
    if (!s.ok()) return s;
    while (true) {
      SkipSeparators();
      const Token& t = tokens_.Next();
      if (t.kind == Kind::kRBrace) return absl::OkStatus();
      s = TableMember(table, t);
      if (!s.ok()) return s;
    }
  }

  // One member of a table block, `t` its first word.
  absl::Status TableMember(Table* table, const Token& t) {
    if (t.Is("chain")) {
      absl::StatusOr<std::string> name = tokens_.ExpectName("a chain name");
      if (!name.ok()) return name.status();
      return ChainBody(table, GetOrCreateChain(table, *name));
    }
    if (t.Is("set") || t.Is("map")) {
      absl::StatusOr<std::string> name = tokens_.ExpectName("a set name");
      if (!name.ok()) return name.status();
      return SetBody(table, *name, t.Is("map"));
    }
    if (t.Is("comment") && tokens_.Peek().kind == Kind::kString) {
      tokens_.Next();
    } else if (t.Is("counter") && tokens_.Peek(1).kind == Kind::kLBrace) {
      // A named counter only counts what "counter name" rules send it.
      tokens_.Next();
      SkipBlock();
    } else if (t.Is("flags")) {
      // A dormant table is not evaluated by the kernel.
      NoteUnsupported(table, absl::InvalidArgumentError(absl::StrCat(
                                 "line ", t.line, ": table flags")));
      SkipToEndOfCommand();
    } else if (t.kind == Kind::kWord) {
      // counter, quota, ct helper, flowtable, ...: objects with no part in
      // NAT; the table can still be ignored as a whole.
      NoteUnsupported(table, absl::InvalidArgumentError(absl::StrCat(
                                 "line ", t.line, ": unsupported object \"",
                                 t.text, "\" in table ", table->Label())));
      while (tokens_.Peek().kind != Kind::kLBrace &&
             tokens_.Peek().kind != Kind::kEnd &&
             tokens_.Peek().kind != Kind::kNewline) {
        tokens_.Next();
      }
      if (tokens_.Peek().kind == Kind::kLBrace) SkipBlock();
    } else {
      return Error(t, "unexpected token in table");
    }
    return absl::OkStatus();
  }

  Chain* GetOrCreateChain(Table* table, const std::string& name) {
    auto it = table->chains.find(name);
    if (it != table->chains.end()) return &it->second;
    Chain& c = table->chains[name];
    c.name = name;
    c.handle = table->next_handle++;
    return &c;
  }

  absl::Status ChainBody(Table* table, Chain* chain) {
    absl::Status s = tokens_.Expect(Kind::kLBrace, "\"{\"");
    if (!s.ok()) return s;
    while (true) {
      SkipSeparators();
      const Token& t = tokens_.Peek();
      if (t.kind == Kind::kRBrace) {
        tokens_.Next();
        return absl::OkStatus();
      }
      if (t.kind == Kind::kEnd) return Error(t, "unterminated chain");
      if (t.Is("type")) {
        s = BaseChainSpec(table, chain);
      } else if (t.Is("policy")) {
        s = Policy(chain);
      } else if (t.Is("comment") && tokens_.Peek(1).kind == Kind::kString) {
        tokens_.Next();
        tokens_.Next();
      } else {
        s = AddRule(table, chain, nullptr, false);
      }
      if (!s.ok()) return s;
    }
  }

  // "type T hook H [device D] priority P [+|- N]".
  absl::Status BaseChainSpec(Table* table, Chain* chain) {
    const Token& type_tok = tokens_.Next();
    absl::StatusOr<std::string> type = tokens_.ExpectName("a chain type");
    if (!type.ok()) return type.status();
    if (!tokens_.Peek().Is("hook")) {
      return Error(tokens_.Peek(), "expected \"hook\"");
    }
    tokens_.Next();
    bool known = ChainHook(table, chain);
    if (!tokens_.Peek().Is("priority")) {
      return Error(tokens_.Peek(), "expected \"priority\"");
    }
    tokens_.Next();
    absl::StatusOr<int> priority = Priority();
    if (!priority.ok()) return priority.status();
    chain->is_base = known;
    chain->type = *type;
    chain->priority = *priority;
    if (*type != "nat" && *type != "filter" && *type != "route") {
      return Error(type_tok,
                   absl::StrCat("unknown chain type \"", *type, "\""));
    }
    return EndOfCommand();
  }

  // The hook name (and device); false for a hook with no netfilter
  // counterpart here, which marks the table.
  bool ChainHook(Table* table, Chain* chain) {
    const Token& hook_tok = tokens_.Next();
    static const std::pair<const char*, Hook> kHooks[] = {
        {"prerouting", Hook::kPrerouting},
        {"input", Hook::kInput},
        {"forward", Hook::kForward},
        {"output", Hook::kOutput},
        {"postrouting", Hook::kPostrouting}};
    bool known = false;
    for (const auto& [n, h] : kHooks) {
      if (hook_tok.Is(n)) {
        chain->hook = h;
        known = true;
      }
    }
    if (!known) {
      // ingress/egress hooks (netdev, inet ingress) see no NAT.
      NoteUnsupported(table,
                      absl::InvalidArgumentError(absl::StrCat(
                          "line ", hook_tok.line, ": unsupported hook \"",
                          hook_tok.text, "\"")));
    }
    if (tokens_.Peek().Is("device")) {
      tokens_.Next();
      tokens_.Next();
    }
    return known;
  }

  // A number or a named priority, with an optional "+ N" or "- N".
  absl::StatusOr<int> Priority() {
    const Token& prio = tokens_.Next();
    bool ok;
    int priority = NamedPriority(prio.text, &ok);
    if (!ok) return Error(prio, "invalid priority");
    if (tokens_.Peek().Is("+") || tokens_.Peek().Is("-")) {
      bool plus = tokens_.Next().Is("+");
      int delta;
      const Token& d = tokens_.Next();
      if (!absl::SimpleAtoi(d.text, &delta)) {
        return Error(d, "invalid priority");
      }
      priority += plus ? delta : -delta;
    }
    return priority;
  }

  absl::Status Policy(Chain* chain) {
    tokens_.Next();
    const Token& p = tokens_.Next();
    if (p.Is("accept")) {
      chain->policy_drop = false;
    } else if (p.Is("drop")) {
      chain->policy_drop = true;
    } else {
      return Error(p, "invalid policy (accept or drop)");
    }
    return EndOfCommand();
  }

  absl::Status ChainCommand(const Token& verb, TableFamily family,
                            const std::string& table_name) {
    absl::StatusOr<Table*> table = ExistingTable(verb, family, table_name);
    if (!table.ok()) return table.status();
    absl::StatusOr<std::string> name = tokens_.ExpectName("a chain name");
    if (!name.ok()) return name.status();
    auto it = (*table)->chains.find(*name);
    if (verb.Is("add") || verb.Is("create")) {
      if (verb.Is("create") && it != (*table)->chains.end()) {
        return Error(verb, absl::StrCat("chain ", *name, " already exists"));
      }
      Chain* chain = GetOrCreateChain(*table, *name);
      if (tokens_.Peek().kind == Kind::kLBrace) {
        return ChainBody(*table, chain);
      }
      return EndOfCommand();
    }
    if (it == (*table)->chains.end()) {
      if (verb.Is("destroy")) return EndOfCommand();
      return Error(verb, absl::StrCat("no chain ", *name));
    }
    if (verb.Is("flush")) {
      it->second.rules.clear();
      return EndOfCommand();
    }
    if (verb.Is("delete") || verb.Is("destroy")) {
      return DeleteChain(verb, *table, *name);
    }
    return Error(verb, "unsupported chain command");
  }

  // As the kernel: only an empty chain that no rule jumps to.
  absl::Status DeleteChain(const Token& verb, Table* table,
                           const std::string& name) {
    if (!table->chains.at(name).rules.empty()) {
      return Error(verb, absl::StrCat("chain ", name, " is not empty"));
    }
    for (const auto& [n, c] : table->chains) {
      for (const Rule& r : c.rules) {
        for (const Action& a : r.actions) {
          if (a.chain == name) {
            return Error(verb, absl::StrCat("chain ", name,
                                            " is still referenced from ", n));
          }
        }
      }
    }
    table->chains.erase(name);
    return EndOfCommand();
  }

  absl::Status RuleCommand(const Token& verb, TableFamily family,
                           const std::string& table_name) {
    absl::StatusOr<Table*> table = ExistingTable(verb, family, table_name);
    if (!table.ok()) return table.status();
    absl::StatusOr<std::string> name = tokens_.ExpectName("a chain name");
    if (!name.ok()) return name.status();
    auto it = (*table)->chains.find(*name);
    if (it == (*table)->chains.end()) {
      return Error(verb, absl::StrCat("no chain ", *name));
    }
    std::vector<Rule>& rules = it->second.rules;
    const Rule* anchor = nullptr;
    if (tokens_.Peek().Is("handle") || tokens_.Peek().Is("position")) {
      absl::StatusOr<const Rule*> found = RuleByHandle(rules);
      if (!found.ok()) return found.status();
      anchor = *found;
    }
    if (verb.Is("delete") || verb.Is("destroy")) {
      if (anchor == nullptr) return Error(verb, "delete rule needs a handle");
      rules.erase(rules.begin() + (anchor - rules.data()));
      return EndOfCommand();
    }
    if (verb.Is("add") || verb.Is("create")) {
      return AddRule(*table, &it->second, anchor, false);
    }
    if (verb.Is("insert")) return AddRule(*table, &it->second, anchor, true);
    return Error(verb, "unsupported rule command");
  }

  // "handle N" or "position N": the rule of `rules` with that handle.
  absl::StatusOr<const Rule*> RuleByHandle(const std::vector<Rule>& rules) {
    tokens_.Next();
    const Token& h = tokens_.Next();
    uint64_t handle;
    if (!absl::SimpleAtoi(h.text, &handle)) return Error(h, "invalid handle");
    const Rule* anchor = nullptr;
    for (const Rule& r : rules) {
      if (r.handle == handle) anchor = &r;
    }
    if (anchor == nullptr) {
      return Error(h, absl::StrCat("no rule with handle ", handle));
    }
    return anchor;
  }

  // Reads the rule up to the end of the line (braces may span lines) and
  // puts it after `anchor` (before, with `before`; at the end or the start
  // without an anchor). A rule the simulator cannot model is kept as a
  // placeholder that says why, so that only a walk reaching it refuses.
  absl::Status AddRule(Table* table, Chain* chain, const Rule* anchor,
                       bool before) {
    size_t begin = tokens_.position();
    absl::Status s = PassRule();
    if (!s.ok()) return s;
    if (tokens_.position() == begin) return EndOfCommand();
    TokenCursor rule_tokens =
        tokens_.Range(begin, tokens_.position(), LineFormat::kRule);
    absl::StatusOr<Rule> rule = nft::ParseRule(&rule_tokens, *table);
    if (rule.ok()) {
      // The matches nft showed stay: the walk refuses only where they hold.
      TokenCursor again =
          tokens_.Range(begin, tokens_.position(), LineFormat::kRule);
      if (rule->unsupported.empty()) {
        rule->unsupported = nft::ListedWithoutStatement(&again, tokens_.Peek());
      }
      if (!rule->unsupported.empty()) rule->actions.clear();
    } else {
      Rule placeholder;
      placeholder.text = rule_tokens.Text(begin, tokens_.position());
      placeholder.unsupported = std::string(rule.status().message());
      rule = std::move(placeholder);
    }
    rule->handle = table->next_handle++;
    std::vector<Rule>& rules = chain->rules;
    if (anchor == nullptr) {
      rules.insert(before ? rules.begin() : rules.end(), *std::move(rule));
    } else {
      size_t i = anchor - rules.data();
      rules.insert(rules.begin() + i + (before ? 0 : 1), *std::move(rule));
    }
    return EndOfCommand();
  }

  // Moves past a rule's tokens: up to a newline, ';' or '}' outside braces.
  absl::Status PassRule() {
    int depth = 0;
    while (true) {
      const Token& t = tokens_.Peek();
      if (t.kind == Kind::kEnd) break;
      if (depth == 0 &&
          (t.kind == Kind::kNewline || t.kind == Kind::kSemicolon ||
           t.kind == Kind::kRBrace)) {
        break;
      }
      if (t.kind == Kind::kLBrace) ++depth;
      if (t.kind == Kind::kRBrace) --depth;
      tokens_.Next();
    }
    if (depth != 0) return Error(tokens_.Peek(), "unbalanced braces in rule");
    return absl::OkStatus();
  }

  absl::Status SetCommand(const Token& verb, const Token& what,
                          TableFamily family, const std::string& table_name) {
    absl::StatusOr<Table*> table = ExistingTable(verb, family, table_name);
    if (!table.ok()) return table.status();
    absl::StatusOr<std::string> name = tokens_.ExpectName("a set name");
    if (!name.ok()) return name.status();
    if (verb.Is("add") || verb.Is("create")) {
      if (verb.Is("create") && (*table)->sets.count(*name)) {
        return Error(verb, absl::StrCat("set ", *name, " already exists"));
      }
      return SetBody(*table, *name, what.Is("map"));
    }
    auto it = (*table)->sets.find(*name);
    if (it == (*table)->sets.end()) {
      if (verb.Is("delete") || verb.Is("destroy")) {
        (*table)->unsupported_sets.erase(*name);
      }
      if (verb.Is("destroy") || (*table)->unsupported_sets.count(*name)) {
        return EndOfCommand();
      }
      return Error(verb, absl::StrCat("no set ", *name));
    }
    if (verb.Is("flush")) {
      it->second.Clear();
    } else {
      (*table)->sets.erase(it);
    }
    return EndOfCommand();
  }

  absl::Status SetBody(Table* table, const std::string& name, bool is_map) {
    absl::Status s = tokens_.Expect(Kind::kLBrace, "\"{\"");
    if (!s.ok()) return s;
    SetDeclaration decl;
    while (true) {
      SkipSeparators();
      const Token& t = tokens_.Next();
      if (t.kind == Kind::kRBrace) break;
      if (t.Is("type") || t.Is("typeof")) {
        s = SetType(t, &decl);
        if (!s.ok()) {
          SkipRestOfBlock();
          return UnmodelledSet(table, name, s);
        }
        continue;
      }
      s = SetProperty(t, &decl);
      if (!s.ok()) return s;
    }
    s = DeclareSet(table, name, is_map, decl);
    if (!s.ok()) return s;
    table->unsupported_sets.erase(name);
    if (decl.dynamic) table->sets[name].set_dynamic(true);
    if (decl.has_elements) {
      s = AddElements(table, &table->sets[name], decl.elements_begin,
                      decl.elements_end, decl.elements_line);
      if (s.code() == absl::StatusCode::kAlreadyExists) return s;
      if (!s.ok()) return UnmodelledSet(table, name, s);
    }
    return EndOfCommand();
  }

  // Past the "}" that closes the block the cursor is in.
  void SkipRestOfBlock() {
    int depth = 1;
    while (depth > 0 && tokens_.Peek().kind != Kind::kEnd) {
      const Token& t = tokens_.Next();
      if (t.kind == Kind::kLBrace) ++depth;
      if (t.kind == Kind::kRBrace) --depth;
    }
  }

  // Records that set `name` cannot be modelled, and why; rules that use it
  // become unmodelled (see Table::unsupported_sets).
  absl::Status UnmodelledSet(Table* table, const std::string& name,
                             const absl::Status& why) {
    table->sets.erase(name);
    std::string line(why.message());
    if (!line.empty() && absl::ascii_isdigit(line[0])) line = "line " + line;
    table->unsupported_sets[name] = line;
    return EndOfCommand();
  }

  // One line of a set block, `t` its first word.
  absl::Status SetProperty(const Token& t, SetDeclaration* decl) {
    if (t.Is("type") || t.Is("typeof")) return SetType(t, decl);
    if (t.Is("elements")) return SetElements(decl);
    if (t.Is("flags")) {
      while (tokens_.Peek().kind == Kind::kWord ||
             tokens_.Peek().kind == Kind::kComma) {
        if (tokens_.Next().Is("dynamic")) decl->dynamic = true;
      }
      return absl::OkStatus();
    }
    if (t.Is("flags") || t.Is("size") || t.Is("policy") || t.Is("timeout") ||
        t.Is("gc-interval") || t.Is("counter") || t.Is("auto-merge") ||
        t.Is("comment")) {
      // Storage hints; membership is what the simulator evaluates.
      SkipToEndOfCommand();
      return absl::OkStatus();
    }
    return Error(t, "unsupported set property");
  }

  // Creates the set unless it exists; an existing one keeps its types.
  absl::Status DeclareSet(Table* table, const std::string& name, bool is_map,
                          const SetDeclaration& decl) {
    bool exists = table->sets.count(name) > 0;
    if (!decl.declared) {
      if (!exists) {
        return Error(tokens_.Peek(),
                     absl::StrCat("set ", name, " needs a type"));
      }
    } else if (!exists) {
      if (is_map && decl.data.empty() && !decl.verdicts) {
        return Error(tokens_.Peek(),
                     absl::StrCat("map ", name, " needs a data type"));
      }
      table->sets.emplace(name, ElementSet(decl.key, decl.data, decl.verdicts));
    }
    return absl::OkStatus();
  }

  // The words of "type a . b : c . d" up to the end of the line, split at
  // ":" into key and data. A typeof expression keeps its words together
  // ("ip daddr").
  void TypeWords(bool is_typeof, std::vector<std::string>* key,
                 std::vector<std::string>* data) {
    std::string current;
    bool after_colon = false;
    auto flush = [&]() {
      if (!current.empty()) (after_colon ? data : key)->push_back(current);
      current.clear();
    };
    while (tokens_.Peek().kind == Kind::kWord) {
      const Token& w = tokens_.Next();
      if (w.text == ".") {
        flush();
      } else if (w.text == ":") {
        flush();
        after_colon = true;
      } else {
        if (is_typeof && !current.empty()) current += " ";
        current += w.text;
      }
    }
    flush();
  }

  // "type ..." replaces the types; "typeof ..." adds the types of the
  // expressions it names.
  absl::Status SetType(const Token& t, SetDeclaration* decl) {
    std::vector<std::string> key, data;
    TypeWords(t.Is("typeof"), &key, &data);
    decl->declared = true;
    if (t.Is("type")) {
      if (data.size() == 1 && data[0] == "verdict") {
        decl->verdicts = true;
        data.clear();
      }
      absl::StatusOr<std::vector<ValueType>> k = TypeList(key);
      absl::StatusOr<std::vector<ValueType>> d = TypeList(data);
      if (!k.ok()) return Error(t, k.status().message());
      if (!d.ok()) return Error(t, d.status().message());
      decl->key = *k;
      decl->data = *d;
      return absl::OkStatus();
    }
    for (const std::string& e : key) {
      absl::StatusOr<ValueType> vt = TypeofType(e);
      if (!vt.ok()) return Error(t, vt.status().message());
      decl->key.push_back(*vt);
    }
    for (const std::string& e : data) {
      if (e == "verdict") {
        decl->verdicts = true;
        continue;
      }
      absl::StatusOr<ValueType> vt = TypeofType(e);
      if (!vt.ok()) return Error(t, vt.status().message());
      decl->data.push_back(*vt);
    }
    return absl::OkStatus();
  }

  // "elements = { ... }": passed over now, read once the types are known.
  absl::Status SetElements(SetDeclaration* decl) {
    if (!tokens_.Peek().Is("=")) {
      return Error(tokens_.Peek(), "expected \"=\"");
    }
    tokens_.Next();
    if (tokens_.Peek().kind != Kind::kLBrace) {
      return Error(tokens_.Peek(), "expected \"{\"");
    }
    decl->elements_line = tokens_.Peek().line;
    size_t begin = tokens_.position();
    absl::Status s = PassElementBlock();
    if (!s.ok()) return s;
    // As before the parsers were split, only the first block is read.
    if (!decl->has_elements) {
      decl->has_elements = true;
      decl->elements_begin = begin;
      decl->elements_end = tokens_.position();
    }
    return absl::OkStatus();
  }

  // Reads the element block at positions [begin, end) into `set`; errors
  // name the line the block starts on.
  absl::Status AddElements(const Table* table, ElementSet* set, size_t begin,
                           size_t end, int line) {
    TokenCursor block = tokens_.Range(begin, end, LineFormat::kRule);
    absl::Status s = nft::ParseElements(&block, *table, set);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat(line, ": ", s.message()));
    }
    return absl::OkStatus();
  }

  absl::Status ElementCommand(const Token& verb, TableFamily family,
                              const std::string& table_name) {
    absl::StatusOr<Table*> table = ExistingTable(verb, family, table_name);
    if (!table.ok()) return table.status();
    absl::StatusOr<std::string> name = tokens_.ExpectName("a set name");
    if (!name.ok()) return name.status();
    auto it = (*table)->sets.find(*name);
    bool unmodelled = (*table)->unsupported_sets.count(*name) > 0;
    if (it == (*table)->sets.end() && !unmodelled) {
      return Error(verb, absl::StrCat("no set or map ", *name));
    }
    if (tokens_.Peek().kind != Kind::kLBrace) {
      return Error(tokens_.Peek(), "expected \"{\"");
    }
    int line = tokens_.Peek().line;
    size_t begin = tokens_.position();
    absl::Status s = PassElementBlock();
    if (!s.ok()) return s;
    size_t end = tokens_.position();
    // Elements of a set that is not modelled change nothing modelled.
    if (unmodelled) return EndOfCommand();
    if (verb.Is("add") || verb.Is("create")) {
      s = AddElements(*table, &it->second, begin, end, line);
      if (s.code() == absl::StatusCode::kAlreadyExists) return s;
      if (!s.ok()) return UnmodelledSet(*table, *name, s);
      return EndOfCommand();
    }
    if (verb.Is("delete") || verb.Is("destroy")) {
      return DeleteElements(verb, **table, *name, begin, end, line);
    }
    return Error(verb, "unsupported element command");
  }

  // Removes the keys of the block at [begin, end) from set `name`; "delete"
  // fails on a key that is not there, "destroy" does not.
  absl::Status DeleteElements(const Token& verb, Table& table,
                              const std::string& name, size_t begin, size_t end,
                              int line) {
    ElementSet& set = table.sets.at(name);
    // Keys only: read them as a plain set of the key types.
    ElementSet keys(set.key_types(), {}, false);
    absl::Status ks = AddElements(&table, &keys, begin, end, line);
    if (!ks.ok()) return ks;
    for (const SetElement* e : keys.elements()) {
      absl::Status s = set.Remove(e->key);
      if (!s.ok() && verb.Is("delete")) {
        return absl::InvalidArgumentError(
            absl::StrCat(line, ": no element \"", e->text, "\" in ", name));
      }
    }
    return EndOfCommand();
  }

  TokenCursor& tokens_;
  std::string source_;
  Ruleset* ruleset_;
  // The family TableRef last reported through `skip`.
  std::string skipped_family_;
};

}  // namespace

absl::Status ApplyNftScript(absl::string_view text, absl::string_view source,
                            Ruleset* ruleset) {
  absl::StatusOr<std::vector<Token>> tokens = nft::Lex(text, source);
  if (!tokens.ok()) return tokens.status();
  Ruleset copy = *ruleset;
  TokenCursor cursor(*tokens, LineFormat::kCommand);
  absl::Status s = ScriptParser(&cursor, source, &copy).Run();
  if (!s.ok()) return s;
  *ruleset = std::move(copy);
  return absl::OkStatus();
}

absl::StatusOr<Ruleset> ParseNftRuleset(absl::string_view text,
                                        absl::string_view source) {
  Ruleset ruleset;
  absl::Status s = ApplyNftScript(text, source, &ruleset);
  if (!s.ok()) return s;
  return ruleset;
}

bool LooksLikeNftText(absl::string_view text) {
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line.front() == '#') continue;
    for (absl::string_view kw : {"table ", "add ", "create ", "insert ",
                                 "delete ", "destroy ", "flush "}) {
      if (absl::StartsWith(line, kw)) return true;
    }
    return false;
  }
  return false;
}

}  // namespace sim
