#include "hostport/backends/iptables_backend.h"

#include <functional>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hostport {
namespace {

using OpKind = IptablesTransaction::OpKind;

// Above this many mappings in one removal, iptables-nft's shared chains are
// read whole rather than probed by handle for each (RemoveOverNetlink).
constexpr size_t kMostProbed = 32;

// How an operation of the base is named in base_present_.
std::string BaseKey(absl::string_view table,
                    const IptablesTransaction::Op& op) {
  return absl::StrCat(table, " ", op.kind == OpKind::kNewChain ? ":" : "-A ",
                      op.chain, " ", op.rule);
}

// The value of `flag` in an iptables-save rule ("-p tcp ... --dport 80" →
// "80"), or "" when absent. Quoted values (comments) are returned without
// quotes.
std::string FlagValue(absl::string_view rule, absl::string_view flag) {
  const std::string needle = absl::StrCat(flag, " ");
  size_t pos = rule.find(needle);
  if (pos == absl::string_view::npos) return "";
  absl::string_view rest = rule.substr(pos + needle.size());
  if (absl::ConsumePrefix(&rest, "\"")) {
    return std::string(rest.substr(0, rest.find('"')));
  }
  return std::string(rest.substr(0, rest.find(' ')));
}

// Walks iptables-save output: `on_chain(chain)` for each ":CHAIN POLICY"
// line, `on_rule(chain, rule)` for each "-A CHAIN RULE" line.
void ForEachSaved(absl::string_view saved,
                  const std::function<void(const std::string&)>& on_chain,
                  const std::function<void(const std::string&,
                                           const std::string&)>& on_rule) {
  for (absl::string_view line : absl::StrSplit(saved, '\n')) {
    if (absl::ConsumePrefix(&line, ":")) {
      on_chain(std::string(line.substr(0, line.find(' '))));
      continue;
    }
    if (!absl::ConsumePrefix(&line, "-A ")) continue;
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos) continue;
    on_rule(std::string(line.substr(0, space)),
            std::string(line.substr(space + 1)));
  }
}

}  // namespace

IptablesBackend::IptablesBackend(IPFamily family, IptablesVariant variant,
                                 CommandRunner* runner, ObjectNames names,
                                 NftRunner* nft)
    : family_(family),
      variant_(variant),
      runner_(runner),
      nft_(variant == IptablesVariant::kNft ? nft : nullptr),
      renderer_(std::move(names)) {}

std::string IptablesBackend::name() const {
  return variant_ == IptablesVariant::kLegacy ? "iptables-legacy"
                                              : "iptables-nft";
}

absl::StatusOr<std::string> IptablesBackend::SaveChains(
    absl::string_view table, const std::vector<std::string>& chains) {
  std::string out;
  for (const std::string& chain : chains) {
    absl::StatusOr<std::optional<std::string>> listed =
        ListIptablesChain(runner_, family_, variant_, table, chain);
    if (!listed.ok()) return listed.status();
    if (!listed->has_value()) continue;
    for (absl::string_view line : absl::StrSplit(**listed, '\n')) {
      std::vector<absl::string_view> w =
          absl::StrSplit(line, absl::MaxSplits(' ', 2));
      if (w.size() >= 2 && (w[0] == "-N" || w[0] == "-P")) {
        absl::StrAppend(&out, ":", w[1], " ", w[0] == "-N" ? "-" : w[2],
                        " [0:0]\n");
      } else if (!line.empty()) {
        absl::StrAppend(&out, line, "\n");
      }
    }
  }
  return out;
}

absl::StatusOr<std::string> IptablesBackend::Save(absl::string_view table) {
  return SaveIptablesTable(runner_, family_, variant_, table);
}

absl::Status IptablesBackend::Apply(const Change& change,
                                    const std::string& script) {
  if (nft_ != nullptr && change.plans.empty()) {
    absl::Status removed = nft_->WithNetlink([&](NftNetlink& netlink) {
      return RemoveOverNetlink(change, &netlink);
    });
    if (!absl::IsUnimplemented(removed)) return removed;
  }
  return Restore(script);
}

absl::Status IptablesBackend::RemoveOverNetlink(const Change& change,
                                                NftNetlink* netlink) const {
  const ObjectNames& names = renderer_.names();
  const std::string family = family_ == IPFamily::kIPv4 ? "ip" : "ip6";
  std::vector<std::string> hashes;
  for (const std::string& hash : change.removed) {
    auto it = installed_.find(hash);
    if (it == installed_.end()) continue;
    if (!it->second.loopback_drop.empty()) {
      return absl::UnimplementedError("a loopback guard rule is found by text");
    }
    hashes.push_back(hash);
  }
  // Everything below is read at this generation; should anyone commit
  // before the deletion does, the kernel refuses it, and the backend reads
  // again.
  absl::StatusOr<uint32_t> generation = netlink->Generation();
  if (!generation.ok()) return generation.status();
  // The mappings' own chains: which exist (a half-removed mapping may lack
  // one), and their handles.
  std::vector<std::string> own;
  for (const std::string& hash : hashes) {
    own.push_back(names.hostport_chain_prefix + hash);
    own.push_back(names.masquerade_chain_prefix + hash);
  }
  absl::StatusOr<std::vector<uint64_t>> own_handles =
      netlink->ChainHandles(family, "nat", own);
  if (!own_handles.ok()) return own_handles.status();
  // One iptables-nft-restore gave a pod's chains and then its jumps to them
  // handles from one counter per table: a jump is less than 4 per mapping of
  // its pod above its chain (declared where first used, even in a sync).
  // Removing many mappings at once (a sync), reading each shared chain once
  // costs less than probing for each.
  const uint64_t window =
      hashes.size() <= kMostProbed ? 4 * hashes.size() + 4 : 0;

  // Per chain ("table chain"): its rules when read whole, the handles going.
  absl::flat_hash_map<std::string, std::vector<NftRuleJump>> whole;
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> going;
  auto read_whole = [&](const std::string& table, const std::string& chain)
      -> absl::StatusOr<const std::vector<NftRuleJump>*> {
    const std::string key = absl::StrCat(table, " ", chain);
    auto it = whole.find(key);
    if (it != whole.end()) return &it->second;
    absl::StatusOr<std::vector<NftRuleJump>> rules =
        netlink->RuleJumps(family, table, chain);
    if (!rules.ok()) return rules.status();
    return &(whole[key] = std::move(*rules));
  };
  std::vector<NftRuleOp> ops, chain_ops;
  // Deletes the rules of `rules` that jump to `target`; false if none does.
  auto take = [&](const std::string& table, const std::string& chain,
                  const std::vector<NftRuleJump>& rules,
                  const std::string& target) {
    bool found = false;
    for (const NftRuleJump& rule : rules) {
      if (rule.target != target) continue;
      found = true;
      if (going[absl::StrCat(table, " ", chain)].insert(rule.handle).second) {
        ops.push_back(
            {NftRuleOp::Kind::kDeleteRule, table, chain, rule.handle});
      }
    }
    return found;
  };
  // The jumps of `chain` to `target`, looked for after `near` (the target's
  // handle, 0 for none) first: at least one must be there.
  auto drop_jumps = [&](const std::string& table, const std::string& chain,
                        const std::string& target,
                        uint64_t near) -> absl::Status {
    // One handle at a time, likeliest first (a pod of one mapping: 2 above
    // its chain): a handle the chain does not hold costs a walk of it all.
    for (uint64_t parity : {0, 1}) {
      for (uint64_t offset = 2 - parity; near != 0 && offset <= window;
           offset += 2) {
        absl::StatusOr<std::vector<NftRuleJump>> rules =
            netlink->RulesByHandle(family, table, chain, {near + offset});
        if (!rules.ok()) return rules.status();
        if (take(table, chain, *rules, target)) return absl::OkStatus();
      }
    }
    absl::StatusOr<const std::vector<NftRuleJump>*> rules =
        read_whole(table, chain);
    if (!rules.ok()) return rules.status();
    if (take(table, chain, **rules, target)) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat(name(), " ", IPFamilyLabel(family_), ": ", table, " ",
                     chain, " has no jump to ", target));
  };
  auto drop_chain = [&](const std::string& table, const std::string& chain) {
    chain_ops.push_back({NftRuleOp::Kind::kFlushChain, table, chain, 0});
    chain_ops.push_back({NftRuleOp::Kind::kDeleteChain, table, chain, 0});
  };
  for (size_t i = 0; i < hashes.size(); ++i) {
    const SharedRules& rules = installed_.at(hashes[i]);
    if (!rules.hostport_jump.empty()) {
      if (absl::Status s = drop_jumps("nat", names.hostports_chain, own[2 * i],
                                      (*own_handles)[2 * i]);
          !s.ok()) {
        return s;
      }
    }
    if (!rules.masquerade_jump.empty()) {
      if (absl::Status s =
              drop_jumps("nat", names.masquerade_chain, own[2 * i + 1],
                         (*own_handles)[2 * i + 1]);
          !s.ok()) {
        return s;
      }
    }
  }
  for (size_t i = 0; i < own.size(); ++i) {
    if ((*own_handles)[i] != 0) drop_chain("nat", own[i]);
  }
  if (change.remove_base) {
    // What UndoBase would send: a jump from a built-in chain goes by its
    // handle; a chain of the base goes when all its rules are the base's or
    // already going, never with someone else's rule in it.
    IptablesTransaction undo(family_);
    UndoBase(&undo);
    for (const IptablesTransaction::Table& table : undo.tables()) {
      // Rules of the base in chains of the base go with their chain.
      absl::flat_hash_map<std::string, int> base_rules;
      absl::flat_hash_set<std::string> base_chains;
      for (const IptablesTransaction::Op& op : table.ops) {
        if (op.kind == OpKind::kDelete) ++base_rules[op.chain];
        if (op.kind == OpKind::kDeleteChain) base_chains.insert(op.chain);
      }
      for (const IptablesTransaction::Op& op : table.ops) {
        if (op.kind == OpKind::kDeleteChain) {
          absl::StatusOr<const std::vector<NftRuleJump>*> rules =
              read_whole(table.name, op.chain);
          if (!rules.ok()) return rules.status();
          const int others =
              static_cast<int>((*rules)->size()) -
              static_cast<int>(
                  going[absl::StrCat(table.name, " ", op.chain)].size()) -
              base_rules[op.chain];
          if (others != 0) {
            return absl::FailedPreconditionError(
                absl::StrCat(table.name, " ", op.chain, " holds ", others,
                             " rule(s) not of the base"));
          }
          drop_chain(table.name, op.chain);
        } else if (op.kind == OpKind::kDelete &&
                   !base_chains.contains(op.chain)) {
          // Ours is the one jump there to our chain; a second is someone
          // else's (CRI-O's, say), and keeps the base.
          const std::string target = FlagValue(op.rule, "-j");
          absl::StatusOr<const std::vector<NftRuleJump>*> rules =
              read_whole(table.name, op.chain);
          if (!rules.ok()) return rules.status();
          if (absl::c_count_if(**rules, [&](const NftRuleJump& rule) {
                return rule.target == target;
              }) != 1) {
            return absl::FailedPreconditionError(
                absl::StrCat(table.name, " ", op.chain, " has other than one ",
                             "jump to ", target));
          }
          if (absl::Status s = drop_jumps(table.name, op.chain, target, 0);
              !s.ok()) {
            return s;
          }
        }
      }
    }
  }
  ops.insert(ops.end(), chain_ops.begin(), chain_ops.end());
  return netlink->ApplyRuleOps(family, ops, *generation);
}

absl::Status IptablesBackend::Restore(const std::string& script) {
  return RestoreIptables(runner_, family_, variant_, script, "the change");
}

absl::Status IptablesBackend::Load() {
  const ObjectNames& names = renderer_.names();
  installed_.clear();
  base_present_.clear();
  partial_ = false;
  base_read_ = true;
  // rule lines of each chain we read, by table.
  absl::flat_hash_map<std::string, std::vector<std::string>> dnat_rules;
  absl::flat_hash_set<std::string> loopback_rules;
  absl::flat_hash_set<std::string> chains;
  const std::string hp_prefix = names.hostport_chain_prefix;
  const std::string mq_prefix = names.masquerade_chain_prefix;
  // nat whole (every pod's chains); of raw and filter only the guards and
  // the built-in chains that jump to them.
  std::vector<std::string> tables = {"nat"};
  if (family_ == IPFamily::kIPv4) {
    tables.push_back("raw");
    tables.push_back("filter");
  }
  for (const std::string& table : tables) {
    absl::StatusOr<std::string> saved =
        table == "raw"
            ? SaveChains(table, {"PREROUTING", names.loopback_guard_chain})
        : table == "filter"
            ? SaveChains(table, {"INPUT", names.localnet_guard_chain})
            : Save(table);
    if (!saved.ok()) return saved.status();
    ForEachSaved(
        *saved,
        [&](const std::string& chain) {
          chains.insert(absl::StrCat(table, " ", chain));
        },
        [&](const std::string& chain, const std::string& rule) {
          base_present_.insert(absl::StrCat(table, " -A ", chain, " ", rule));
          if (table == "raw" && chain == names.loopback_guard_chain) {
            loopback_rules.insert(rule);
          } else if (table == "nat" && chain == names.hostports_chain) {
            const std::string target = FlagValue(rule, "-j");
            if (absl::StartsWith(target, hp_prefix)) {
              SharedRules& s = installed_[target.substr(hp_prefix.size())];
              s.hash = target.substr(hp_prefix.size());
              s.hostport_jump = rule;
            }
          } else if (table == "nat" && chain == names.masquerade_chain) {
            const std::string target = FlagValue(rule, "-j");
            if (absl::StartsWith(target, mq_prefix)) {
              SharedRules& s = installed_[target.substr(mq_prefix.size())];
              s.hash = target.substr(mq_prefix.size());
              s.masquerade_jump = rule;
            }
          } else if (table == "nat" && absl::StartsWith(chain, hp_prefix)) {
            dnat_rules[chain.substr(hp_prefix.size())].push_back(rule);
          }
        });
  }
  for (const std::string& chain : chains) {
    // Chains of ours without jumps (a half-removed mapping) are indexed too, so
    // a Replace() naming their hash deletes them.
    for (const std::string& prefix : {hp_prefix, mq_prefix}) {
      const std::string nat_prefix = absl::StrCat("nat ", prefix);
      if (absl::StartsWith(chain, nat_prefix)) {
        const std::string hash = chain.substr(nat_prefix.size());
        installed_[hash].hash = hash;
      }
    }
  }
  // A loopback-bound mapping's guard is the drop rule for its DNAT's address,
  // port and comment, rendered as AddPod() writes it.
  for (auto& [hash, shared] : installed_) {
    const std::string& jump = shared.hostport_jump;
    for (const std::string& dnat : dnat_rules[hash]) {
      const std::string address = FlagValue(dnat, "-d");
      if (!absl::StartsWith(address, "127.")) continue;
      const std::string proto = FlagValue(jump, "-p");
      const std::string drop = absl::StrCat(
          "-d ", address, " -p ", proto, " -m comment --comment \"",
          FlagValue(jump, "--comment"), "\" -m ", proto, " --dport ",
          FlagValue(jump, "--dport"), " -j DROP");
      if (loopback_rules.contains(drop)) shared.loopback_drop = drop;
    }
  }
  for (const std::string& chain : chains) {
    base_present_.insert(absl::StrCat(chain.substr(0, chain.find(' ')), " :",
                                      chain.substr(chain.find(' ') + 1), " "));
  }
  return absl::OkStatus();
}

absl::Status IptablesBackend::LoadBase() {
  installed_.clear();
  base_present_.clear();
  partial_ = true;
  base_read_ = false;
  return absl::OkStatus();
}

absl::Status IptablesBackend::ReadBase() {
  const ObjectNames& names = renderer_.names();
  base_present_.clear();
  std::vector<std::pair<std::string, std::vector<std::string>>> reads = {
      {"nat", {"PREROUTING", "OUTPUT", "POSTROUTING"}}};
  if (family_ == IPFamily::kIPv4) {
    reads.push_back({"raw", {"PREROUTING"}});
    reads.push_back({"filter", {"INPUT", names.localnet_guard_chain}});
  }
  for (const auto& [table, chains] : reads) {
    // iptables-legacy fetches the whole table for any listing: one save of
    // nat costs less than three listings of its chains.
    const bool whole = variant_ == IptablesVariant::kLegacy && table == "nat";
    absl::StatusOr<std::string> saved =
        whole ? Save(table) : SaveChains(table, chains);
    if (!saved.ok()) return saved.status();
    const absl::flat_hash_set<std::string> wanted(chains.begin(), chains.end());
    ForEachSaved(
        *saved,
        [&](const std::string& chain) {
          if (wanted.contains(chain)) {
            base_present_.insert(absl::StrCat(table, " :", chain, " "));
          }
        },
        [&](const std::string& chain, const std::string& rule) {
          if (!wanted.contains(chain)) return;
          base_present_.insert(absl::StrCat(table, " -A ", chain, " ", rule));
          // iptables refuses a jump to a missing chain: the target exists.
          const std::string target = FlagValue(rule, "-j");
          if (target == names.hostports_chain ||
              target == names.masquerade_chain ||
              target == names.loopback_guard_chain) {
            base_present_.insert(absl::StrCat(table, " :", target, " "));
          }
        });
  }
  base_read_ = true;
  return absl::OkStatus();
}

absl::Status IptablesBackend::Prepare(const Change& change) {
  if (base_read_) return absl::OkStatus();
  bool adds = false;
  for (const PodPlan* plan : change.plans) {
    adds = adds || !plan->family(family_).mappings.empty();
  }
  if (!adds) return absl::OkStatus();
  // Records said mappings are installed, and so the base with them.
  const bool assumed = !installed_.empty();
  if (absl::Status s = ReadBase(); !s.ok()) return s;
  if (!assumed || BaseComplete()) return absl::OkStatus();
  if (log_) log_(RecordsWithoutBaseWarning(*this));
  return Load();
}

void IptablesBackend::AssumeBase() {
  IptablesTransaction base = renderer_.Base(family_);
  for (const IptablesTransaction::Table& table : base.tables()) {
    for (const IptablesTransaction::Op& op : table.ops) {
      base_present_.insert(BaseKey(table.name, op));
    }
  }
}

bool IptablesBackend::BaseComplete() const {
  IptablesTransaction base = renderer_.Base(family_);
  for (const IptablesTransaction::Table& table : base.tables()) {
    for (const IptablesTransaction::Op& op : table.ops) {
      if (!base_present_.contains(BaseKey(table.name, op))) return false;
    }
  }
  return true;
}

bool IptablesBackend::Assume(const std::vector<const PodPlan*>& plans,
                             bool whole) {
  bool any = false;
  for (const PodPlan* plan : plans) {
    any = any || !plan->family(family_).mappings.empty();
  }
  // Unread, the base is taken to be as the records imply: a removal that
  // finds otherwise is refused, and a change that adds reads it first.
  if (any && !base_read_) AssumeBase();
  if (any && !BaseComplete()) return false;
  for (const PodPlan* plan : plans) {
    for (const PlannedMapping& m : plan->family(family_).mappings) {
      installed_[m.hash] = renderer_.SharedRulesOf(m);
    }
  }
  if (whole) partial_ = false;
  return true;
}

bool IptablesBackend::BaseGoesWith(const Change& change) const {
  if (partial_ || base_present_.empty()) return false;
  for (const PodPlan* plan : change.plans) {
    if (!plan->family(family_).mappings.empty()) return false;
  }
  for (const auto& [hash, rules] : installed_) {
    if (!change.removed.contains(hash)) return false;
  }
  return true;
}

absl::flat_hash_set<std::string> IptablesBackend::EntriesOf(
    absl::string_view, const absl::flat_hash_set<std::string>& hashes) const {
  return hashes;
}

std::string IptablesBackend::Delta(const Change& change) const {
  const std::vector<const PodPlan*>& plans = change.plans;
  IptablesTransaction tx(family_);
  absl::flat_hash_set<std::string> readded;
  bool adds_loopback = false;
  for (const PodPlan* plan : plans) {
    for (const PlannedMapping& m : plan->family(family_).mappings) {
      readded.insert(m.hash);
      adds_loopback = adds_loopback || m.IsLoopbackBound();
    }
  }
  // The loopback guard commits before the DNAT it guards (iptables-restore
  // commits table by table).
  if (adds_loopback) tx.Touch("raw");
  if (!readded.empty()) {
    IptablesTransaction base = renderer_.Base(family_);
    for (const IptablesTransaction::Table& table : base.tables()) {
      for (const IptablesTransaction::Op& op : table.ops) {
        if (base_present_.contains(BaseKey(table.name, op))) continue;
        if (op.kind == OpKind::kNewChain) {
          tx.NewChain(table.name, op.chain);
        } else if (op.kind == OpKind::kInsert) {
          tx.Insert(table.name, op.chain, op.rule);
        } else {
          tx.Append(table.name, op.chain, op.rule);
        }
      }
    }
  }
  absl::flat_hash_set<std::string> removed = change.removed;
  removed.insert(readded.begin(), readded.end());
  for (const std::string& hash : removed) {
    auto it = installed_.find(hash);
    if (it == installed_.end()) continue;
    renderer_.RemoveRules(it->second, /*keep_chains=*/readded.contains(hash),
                          &tx);
  }
  for (const PodPlan* plan : plans) renderer_.AddPod(*plan, &tx);
  if (change.remove_base) UndoBase(&tx);
  return tx.Render();
}

void IptablesBackend::Record(const Change& change) {
  for (const std::string& hash : change.removed) installed_.erase(hash);
  if (change.remove_base) base_present_.clear();
  bool added = false;
  for (const PodPlan* plan : change.plans) {
    for (const PlannedMapping& m : plan->family(family_).mappings) {
      installed_[m.hash] = renderer_.SharedRulesOf(m);
      added = true;
    }
  }
  // The change created what of the base was missing.
  if (added) AssumeBase();
}

void IptablesBackend::UndoBase(IptablesTransaction* tx) const {
  IptablesTransaction base = renderer_.Base(family_);
  std::vector<std::pair<std::string, IptablesTransaction::Op>> ops;
  for (const IptablesTransaction::Table& table : base.tables()) {
    for (const IptablesTransaction::Op& op : table.ops) {
      if (base_present_.contains(BaseKey(table.name, op))) {
        ops.push_back({table.name, op});
      }
    }
  }
  // nat before raw and filter: the DNAT chains go before the guards.
  for (const char* table : {"nat", "raw", "filter"}) {
    for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
      if (it->first != table) continue;
      if (it->second.kind == OpKind::kNewChain) {
        tx->DeleteChain(it->first, it->second.chain);
      } else {
        tx->Delete(it->first, it->second.chain, it->second.rule);
      }
    }
  }
}

void IptablesBackend::RemoveBaseIfUnused() {
  if (partial_ || !installed_.empty() || base_present_.empty()) return;
  // The base was assumed from records, and taking it away with the last
  // mapping was refused: read what there is of it.
  if (!base_read_ && !ReadBase().ok()) return;
  // Undo the base, last operation first, in its own transaction: should anyone
  // else's rule sit in a shared chain, -X refuses, nothing changes, and the
  // base simply stays.
  IptablesTransaction undo(family_);
  UndoBase(&undo);
  if (undo.empty() || !Restore(undo.Render()).ok()) return;
  base_present_.clear();
}

IptablesBackend::Change IptablesBackend::SyncChange(
    const std::vector<const PodPlan*>& desired) const {
  absl::flat_hash_set<std::string> wanted;
  for (const PodPlan* plan : desired) {
    for (const PlannedMapping& m : plan->family(family_).mappings) {
      wanted.insert(m.hash);
    }
  }
  Change change{{}, desired};
  for (const auto& [hash, rules] : installed_) {
    if (!wanted.contains(hash)) change.removed.insert(hash);
  }
  return change;
}

bool IptablesBackend::Holds(
    absl::string_view, const absl::flat_hash_set<std::string>& hashes) const {
  for (const std::string& hash : hashes) {
    if (installed_.contains(hash)) return true;
  }
  return false;
}

}  // namespace hostport

namespace hostport {

absl::Status IptablesBackend::Verify(const PodPlan& plan) const {
  for (const PlannedMapping& m : plan.family(family_).mappings) {
    auto it = installed_.find(m.hash);
    const SharedRules want = renderer_.SharedRulesOf(m);
    if (it == installed_.end() ||
        it->second.hostport_jump != want.hostport_jump ||
        it->second.masquerade_jump != want.masquerade_jump ||
        it->second.loopback_drop != want.loopback_drop) {
      return absl::NotFoundError(absl::StrCat(
          name(), " ", IPFamilyLabel(family_), " lacks ",
          DescribeMapping(m.index, m.host_port, m.protocol, m.host_ip_text),
          " of pod ", plan.owner, " (chain ",
          renderer_.names().hostport_chain_prefix, m.hash, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace hostport
