#include "sim/simulator.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sim {

std::string PacketVerdictName(PacketVerdict verdict) {
  switch (verdict) {
    case PacketVerdict::kDelivered:
      return "delivered";
    case PacketVerdict::kLocal:
      return "local";
    case PacketVerdict::kDropped:
      return "dropped";
  }
  return "?";
}

absl::StatusOr<PacketOrigin> ParsePacketOrigin(absl::string_view text) {
  PacketOrigin origin;
  if (text == "local") {
    origin.kind = PacketOrigin::Kind::kLocal;
    return origin;
  }
  if (text == "external") return origin;
  if (absl::StartsWith(text, "external:") && text.size() > 9) {
    origin.interface = std::string(text.substr(9));
    return origin;
  }
  if (absl::StartsWith(text, "pod:")) {
    absl::StatusOr<IpAddress> pod = IpAddress::Parse(text.substr(4));
    if (pod.ok()) {
      origin.kind = PacketOrigin::Kind::kPod;
      origin.pod = *pod;
      return origin;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid origin \"", text,
                   "\" (external, external:IFACE, local or pod:IP)"));
}

namespace {

constexpr int kMaxJumpDepth = 64;
constexpr int kConntrackPriority = -200;  // NF_IP_PRI_CONNTRACK
constexpr int kMaxKeyWidth = 128;
// Chains shorter than this are scanned; the index pays off on long ones.
constexpr size_t kIndexThreshold = 8;

int FamilyIndex(IpFamily f) { return f == IpFamily::kV4 ? 0 : 1; }

uint32_t IndexKey(uint32_t proto, uint32_t port) { return proto << 16 | port; }

// The (protocol, destination port) keys under which a rule can match, or
// false when no key rules it out.
bool RuleKeys(const Rule& rule, std::vector<uint32_t>* keys) {
  int proto = -1;
  std::vector<uint32_t> ports;
  for (const Match& m : rule.matches) {
    if (m.kind != Match::Kind::kInSet || m.negate || m.fields.size() != 1 ||
        m.literal == nullptr) {
      continue;
    }
    std::vector<const SetElement*> elements = m.literal->elements();
    bool exact = !elements.empty();
    for (const SetElement* e : elements) {
      exact = exact && e->key[0].kind == ValuePattern::Kind::kExact;
    }
    if (!exact) continue;
    if (m.fields[0] == Field::kL4Proto && elements.size() == 1) {
      proto = static_cast<uint8_t>(elements[0]->key[0].lo[0]);
    } else if (m.fields[0] == Field::kDstPort && ports.empty() &&
               elements.size() <= 16) {
      for (const SetElement* e : elements) {
        ports.push_back(DecodeNumber(e->key[0].lo));
      }
    }
  }
  if (proto < 0 || ports.empty()) return false;
  for (uint32_t p : ports) keys->push_back(IndexKey(proto, p));
  return true;
}

void BuildIndex(Chain* chain) {
  chain->keyed_rules.clear();
  chain->unkeyed_rules.clear();
  chain->indexed = chain->rules.size() >= kIndexThreshold;
  if (!chain->indexed) return;
  for (uint32_t i = 0; i < chain->rules.size(); ++i) {
    std::vector<uint32_t> keys;
    if (RuleKeys(chain->rules[i], &keys)) {
      for (uint32_t k : keys) {
        std::vector<uint32_t>& list = chain->keyed_rules[k];
        if (list.empty() || list.back() != i) list.push_back(i);
      }
    } else {
      chain->unkeyed_rules.push_back(i);
    }
  }
}

std::string TraceLabel(const Table& table, const Chain& chain) {
  if (table.syntax == Syntax::kIptables) {
    return absl::StrCat(table.name, "/", chain.name);
  }
  return absl::StrCat(table.Label(), "/", chain.name);
}

std::string MessageLabel(const Table& table) {
  if (table.syntax == Syntax::kIptables) {
    return absl::StrCat(
        table.family == TableFamily::kIp ? "iptables " : "ip6tables ",
        table.name, " (", table.source, ")");
  }
  return absl::StrCat("nft table ", table.Label(), " (", table.source, ")");
}

std::string Hex(uint32_t v) { return absl::StrFormat("0x%x", v); }

// The base chains a walk runs: NAT, raw (iptables: DROP before conntrack and
// NAT) and filter (accept/drop, policies).
bool IsEvaluated(const Chain& chain) {
  return chain.type == "nat" || chain.type == "raw" || chain.type == "filter";
}

// Whether a walk evaluates an nft table; a note says why not, or why its
// answers may be wrong. Fails for a table with a NAT chain that holds a
// construct the simulator does not model.
absl::StatusOr<bool> EvaluatesNftTable(const Table& table,
                                       bool rendered_by_iptables_nft,
                                       std::vector<std::string>* notes) {
  if (rendered_by_iptables_nft) {
    notes->push_back(absl::StrCat(
        MessageLabel(table),
        " ignored: it is iptables-nft's rendering of a table whose "
        "iptables-save text is given, which is the truth"));
    return false;
  }
  if (table.family != TableFamily::kInet && table.name == "nat" &&
      table.chains.count("PREROUTING") && table.chains.count("POSTROUTING")) {
    notes->push_back(absl::StrCat(
        MessageLabel(table),
        " looks like an iptables-nft table: nft may print its DNAT and "
        "MASQUERADE rules as nothing; give its iptables-save text for an "
        "exact answer"));
  }
  if (!table.HasNatChain() && !table.HasFilterChain()) {
    notes->push_back(absl::StrCat(
        MessageLabel(table), " ignored: it has no NAT or filter base chain"));
    return false;
  }
  // A table of filter chains only that holds something unmodelled is
  // kept: a walk that enters it refuses (RunHook).
  if (!table.unsupported.ok() && table.HasNatChain()) {
    return absl::InvalidArgumentError(
        absl::StrCat(MessageLabel(table), ": ", table.unsupported.message()));
  }
  return true;
}

// Keeps only the tables a walk evaluates (every iptables table, and the nft
// tables EvaluatesNftTable accepts).
absl::Status ChooseTables(Ruleset* ruleset) {
  std::vector<bool> rendered_by_iptables_nft;
  for (const Table& table : ruleset->tables) {
    rendered_by_iptables_nft.push_back(
        table.syntax == Syntax::kNft && table.family != TableFamily::kInet &&
        ruleset->FindTable(Syntax::kIptables, table.family, table.name) !=
            nullptr);
  }
  std::vector<Table> kept;
  for (size_t i = 0; i < ruleset->tables.size(); ++i) {
    Table& table = ruleset->tables[i];
    if (table.syntax == Syntax::kNft) {
      absl::StatusOr<bool> evaluated = EvaluatesNftTable(
          table, rendered_by_iptables_nft[i], &ruleset->notes);
      if (!evaluated.ok()) return evaluated.status();
      if (!*evaluated) continue;
    }
    kept.push_back(std::move(table));
  }
  ruleset->tables = std::move(kept);
  return absl::OkStatus();
}

// A rule and where it is, for messages: "iptables nat (file) chain X rule 3
// (-p tcp ...)".
struct RuleLocation {
  const Table& table;
  const std::string& chain;
  size_t index;
  const Rule& rule;

  std::string Describe() const {
    return absl::StrCat(MessageLabel(table), " chain ", chain, " rule ",
                        index + 1, " (", rule.text, ")");
  }
};

// Points the match at its set: the anonymous one it holds (noting when that
// is a single value) or the named set of its table.
absl::Status BindMatch(const RuleLocation& at, Match* m) {
  int width = 0;
  for (Field f : m->fields) width += ValueWidth(FieldValueType(f));
  if (width > kMaxKeyWidth) {
    return absl::InvalidArgumentError(
        absl::StrCat(at.Describe(), ": concatenation too wide"));
  }
  if (m->kind == Match::Kind::kAnyOf) {
    for (Match& sub : m->any_of) {
      absl::Status s = BindMatch(at, &sub);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (m->kind != Match::Kind::kInSet) return absl::OkStatus();
  if (m->literal != nullptr) {
    m->set = m->literal.get();
    std::vector<const SetElement*> elements = m->literal->elements();
    if (elements.size() == 1 && elements[0]->key.size() == 1 &&
        (elements[0]->key[0].kind == ValuePattern::Kind::kExact ||
         elements[0]->key[0].kind == ValuePattern::Kind::kPrefix)) {
      m->single = true;
      m->single_pattern = elements[0]->key[0];
    }
    return absl::OkStatus();
  }
  auto it = at.table.sets.find(m->set_name);
  if (it == at.table.sets.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(at.Describe(), ": no set \"", m->set_name, "\""));
  }
  m->set = &it->second;
  return absl::OkStatus();
}

// Points a jump or goto at its chain, and a map statement at its map; every
// chain a verdict map names must exist.
absl::Status BindAction(const RuleLocation& at, Action* a) {
  const Table& table = at.table;
  if (a->kind == Action::Kind::kJump || a->kind == Action::Kind::kGoto) {
    auto it = table.chains.find(a->chain);
    if (it == table.chains.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(at.Describe(), ": no chain \"", a->chain, "\""));
    }
    if (it->second.is_base) {
      return absl::InvalidArgumentError(absl::StrCat(
          at.Describe(), ": jumps to base chain \"", a->chain, "\""));
    }
    a->target = &it->second;
  }
  if (a->literal_map != nullptr) {
    a->map = a->literal_map.get();
  } else if (!a->map_name.empty()) {
    auto it = table.sets.find(a->map_name);
    if (it == table.sets.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(at.Describe(), ": no map \"", a->map_name, "\""));
    }
    a->map = &it->second;
  }
  if (a->map != nullptr && a->map->dynamic()) {
    // Traffic fills it: what a lookup finds is not known (not modelled).
    return absl::InvalidArgumentError(
        absl::StrCat(at.Describe(), ": map \"", a->map_name,
                     "\" has flags dynamic: lookups in it are not modelled"));
  }
  if (a->kind != Action::Kind::kVerdictMap || a->map == nullptr) {
    return absl::OkStatus();
  }
  for (const SetElement* e : a->map->elements()) {
    if ((e->verdict.kind == VerdictSpec::Kind::kJump ||
         e->verdict.kind == VerdictSpec::Kind::kGoto) &&
        !table.chains.count(e->verdict.chain)) {
      return absl::InvalidArgumentError(
          absl::StrCat(at.Describe(), ": verdict map jumps to missing chain \"",
                       e->verdict.chain, "\""));
    }
  }
  return absl::OkStatus();
}

// Fills an iptables `-m set` match from the ipset it names: the fields its
// dimensions read (source or destination, as the rule says) and the set's
// elements; a list:set becomes one sub-match per member.
absl::Status ResolveIpset(const Ruleset& ruleset, IpFamily family, Match* m,
                          bool in_list) {
  auto it = ruleset.ipsets.find(m->set_name);
  if (it == ruleset.ipsets.end()) {
    return absl::NotFoundError(absl::StrCat(
        "-m set: no ipset \"", m->set_name,
        "\" is known (hostportctl trace: --ipsets FILE or --live)"));
  }
  const IpSet& set = it->second;
  if (set.type == "list:set") {
    if (in_list) {
      return absl::InvalidArgumentError(
          absl::StrCat("ipset ", set.name, " (list:set) inside a list:set"));
    }
    m->kind = Match::Kind::kAnyOf;
    for (const std::string& member : set.members) {
      Match sub;
      sub.set_name = member;
      sub.ipset_src = m->ipset_src;
      absl::Status s = ResolveIpset(ruleset, family, &sub, true);
      if (!s.ok()) return s;
      m->any_of.push_back(std::move(sub));
    }
    return absl::OkStatus();
  }
  // The kernel reads only the first dimensions of more than the set has (as
  // a list:set's members do) and never finds a key of fewer (verified on
  // 6.x: `--match-set IPPORT dst` never matched); the other family is not
  // verified, so refused.
  if (set.family != family) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ipset ", set.name, " (", set.source, ") is of the other family"));
  }
  if (m->ipset_src.size() < set.dimensions.size()) {
    m->literal = std::make_shared<ElementSet>();
    return absl::OkStatus();
  }
  bool v4 = family == IpFamily::kV4;
  for (size_t d = 0; d < set.dimensions.size(); ++d) {
    bool src = m->ipset_src[d];
    if (set.dimensions[d] == "ip") {
      m->fields.push_back(v4 ? (src ? Field::kSrcAddr4 : Field::kDstAddr4)
                             : (src ? Field::kSrcAddr6 : Field::kDstAddr6));
      continue;
    }
    if (set.type != "bitmap:port") m->fields.push_back(Field::kL4Proto);
    m->fields.push_back(src ? Field::kSrcPort : Field::kDstPort);
  }
  m->literal = set.elements;
  return absl::OkStatus();
}

// Resolves the `-m set` matches of every iptables rule; a rule whose ipset
// is missing or does not fit is kept as unsupported, refused where reached.
void ResolveIpsets(Ruleset* ruleset) {
  for (Table& table : ruleset->tables) {
    if (table.syntax != Syntax::kIptables) continue;
    IpFamily family =
        table.family == TableFamily::kIp6 ? IpFamily::kV6 : IpFamily::kV4;
    for (auto& [name, chain] : table.chains) {
      for (Rule& rule : chain.rules) {
        for (Match& m : rule.matches) {
          if (m.ipset_src.empty() || !m.fields.empty() ||
              m.kind == Match::Kind::kAnyOf) {
            continue;
          }
          absl::Status s = ResolveIpset(*ruleset, family, &m, false);
          if (s.ok()) continue;
          // Refused only when the rule's other tests pass: last.
          Match unknown;
          unknown.kind = Match::Kind::kUnknown;
          unknown.chance_what = std::string(s.message());
          m = rule.matches.back();
          rule.matches.back() = std::move(unknown);
          break;
        }
      }
    }
  }
}

absl::Status BindRule(const RuleLocation& at, Rule* rule) {
  if (at.table.syntax == Syntax::kIptables && at.table.name == "raw") {
    for (const Action& a : rule->actions) {
      if (a.kind == Action::Kind::kDnat || a.kind == Action::Kind::kSnat ||
          a.kind == Action::Kind::kMasquerade) {
        return absl::InvalidArgumentError(absl::StrCat(
            at.Describe(), ": NAT targets are valid only in table nat"));
      }
    }
  }
  for (Match& m : rule->matches) {
    absl::Status s = BindMatch(at, &m);
    if (!s.ok()) return s;
  }
  for (Action& a : rule->actions) {
    absl::Status s = BindAction(at, &a);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Binds every rule of the table and indexes its chains; notes base chains
// of types a walk does not run.
absl::Status BindTable(Table* table, std::vector<std::string>* notes) {
  for (auto& [chain_name, chain] : table->chains) {
    if (chain.is_base && !IsEvaluated(chain)) {
      notes->push_back(absl::StrCat(
          MessageLabel(*table), ": base chain ", chain_name, " (type ",
          chain.type,
          ") not evaluated: only NAT, raw and filter chains are modelled"));
    }
    for (size_t r = 0; r < chain.rules.size(); ++r) {
      Rule& rule = chain.rules[r];
      absl::Status s = BindRule({*table, chain_name, r, rule}, &rule);
      if (!s.ok()) return s;
    }
    BuildIndex(&chain);
  }
  return absl::OkStatus();
}

}  // namespace

Simulator::Simulator(Ruleset ruleset, HostModel host)
    : ruleset_(std::move(ruleset)),
      host_(std::move(host)),
      host_index_(host_) {}

Simulator::HostIndex::HostIndex(const HostModel& host)
    : lo_(host.FindInterface("lo")) {
  for (const HostRoute& r : host.routes()) {
    const HostInterface* i = host.FindInterface(r.dev);
    if (i != nullptr) prefixes_.push_back({r.to, i});
  }
  for (const HostInterface& i : host.interfaces()) {
    for (const IpPrefix& p : i.addresses) {
      local_.push_back(p.address());
      if (&i != lo_) prefixes_.push_back({p, &i});
    }
  }
  // HostModel::Route keeps the first of the longest: routes before
  // interface prefixes, each in order.
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const auto& a, const auto& b) {
                     return a.first.length() > b.first.length();
                   });
}

bool Simulator::HostIndex::IsLocal(const IpAddress& address) const {
  if (address.IsLoopback()) return true;
  for (const IpAddress& a : local_) {
    if (a == address) return true;
  }
  return false;
}

const HostInterface* Simulator::HostIndex::Route(const IpAddress& dst) const {
  if (IsLocal(dst)) return lo_;
  for (const auto& [prefix, interface] : prefixes_) {
    if (prefix.Contains(dst)) return interface;
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Create(Ruleset ruleset,
                                                             HostModel host) {
  std::unique_ptr<Simulator> sim(
      new Simulator(std::move(ruleset), std::move(host)));
  absl::Status s = sim->Bind();
  if (!s.ok()) return s;
  return sim;
}

absl::Status Simulator::Bind() {
  absl::Status s = ChooseTables(&ruleset_);
  if (!s.ok()) return s;
  ResolveIpsets(&ruleset_);
  for (Table& table : ruleset_.tables) {
    s = BindTable(&table, &ruleset_.notes);
    if (!s.ok()) return s;
  }
  OrderBaseChains();
  return absl::OkStatus();
}

void Simulator::OrderBaseChains() {
  for (const Table& table : ruleset_.tables) {
    for (const auto& [name, chain] : table.chains) {
      if (!chain.is_base || !IsEvaluated(chain)) continue;
      for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
        if (!table.AppliesTo(f)) continue;
        hooks_[FamilyIndex(f)][static_cast<int>(chain.hook)].push_back(
            {&table, &chain, chain.type == "nat"});
      }
    }
  }
  for (auto& by_hook : hooks_) {
    for (std::vector<BaseChain>& chains : by_hook) {
      std::stable_sort(chains.begin(), chains.end(),
                       [](const BaseChain& a, const BaseChain& b) {
                         return a.chain->priority < b.chain->priority;
                       });
    }
  }
}

namespace {

// One probabilistic point of a walk: how many ways it can go, and which one
// this walk takes. TraceAll replays a prefix of choices and enumerates the
// rest depth-first.
struct BranchChoice {
  uint32_t ways;
  uint32_t taken;
};

std::string Percent(double p) { return absl::StrFormat("%.1f%%", p * 100); }

// The source of an external packet that names none.
const IpAddress& ExternalSource(IpFamily family) {
  static const IpAddress v4 = *IpAddress::Parse("203.0.113.7");
  static const IpAddress v6 = *IpAddress::Parse("2001:db8:ffff::7");
  return family == IpFamily::kV4 ? v4 : v6;
}

// 127.0.0.1 or ::1.
const IpAddress& Loopback(IpFamily family) {
  static const IpAddress v4 = *IpAddress::Parse("127.0.0.1");
  static const IpAddress v6 = *IpAddress::Parse("::1");
  return family == IpFamily::kV4 ? v4 : v6;
}

}  // namespace

// One packet's walk: the packet and connection state, and the result being
// built.
class Simulator::Walk {
 public:
  // `choices`: the branches to take at the walk's probabilistic points, in
  // order; the walk appends branch 0 for each point past their end.
  Walk(const Simulator& sim, const TraceOptions& options, TraceResult* result,
       std::vector<BranchChoice>* choices)
      : sim_(sim),
        host_(sim.host_),
        index_(sim.host_index_),
        options_(options),
        result_(result),
        choices_(choices) {}

  // The probabilistic rule the walk met first / last ("" when none).
  const std::string& first_branch_rule() const { return first_branch_rule_; }
  const std::string& last_branch_rule() const { return last_branch_rule_; }

  absl::Status Run(const Packet& p) {
    absl::Status s = Init(p);
    if (!s.ok()) return s;
    switch (p.origin.kind) {
      case PacketOrigin::Kind::kLocal:
        s = LocalPath();
        break;
      case PacketOrigin::Kind::kExternal:
      case PacketOrigin::Kind::kPod:
        s = ReceivePath();
        break;
    }
    if (!s.ok()) return s;
    if (!refusal_.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          refusal_,
          ": the walk reaches it and cannot tell whether it matches"));
    }
    result_->to = dst_;
    result_->to_port = dport_;
    result_->source = src_;
    result_->source_port = sport_;
    result_->out_interface = oif_ != nullptr ? oif_->name : "";
    result_->probability = probability_;
    result_->probability_known = probability_known_;
    return absl::OkStatus();
  }

 private:
  enum class Flow : uint8_t {
    kNextAction,
    kNextRule,
    kChanged,
    kAccept,
    kDrop
  };

  struct Frame {
    const Chain* chain;
    const std::vector<uint32_t>* keyed;
    size_t ki;
    size_t ui;
    size_t all;
    bool scan;  // every rule in order, no index
  };

  // Callers test tracing() first so that building the arguments costs
  // nothing when the trace is off.
  bool tracing() const { return options_.record_trace; }

  template <typename... Args>
  void Step(const Args&... args) {
    result_->trace.push_back(absl::StrCat(args...));
  }

  // Sets a rule's outcome as the trace shows it (nothing when not tracing).
  void Say(std::string* outcome, absl::string_view text) const {
    if (tracing()) outcome->assign(text.data(), text.size());
  }

  void Drop(absl::string_view reason) {
    result_->verdict = PacketVerdict::kDropped;
    result_->reason = std::string(reason);
    if (tracing()) Step("dropped: ", reason);
  }

  absl::Status Invalid(absl::string_view what) {
    return absl::InvalidArgumentError(std::string(what));
  }

  absl::Status Init(const Packet& p) {
    family_ = p.dst.family();
    proto_ = static_cast<uint8_t>(p.protocol);
    dst_ = p.dst;
    dport_ = p.dst_port;
    sport_ = p.src_port;
    if (p.dst_port == 0) return Invalid("destination port 0 (1..65535)");
    if (p.src_port == 0) return Invalid("source port 0 (1..65535)");
    origin_ = p.origin.kind;
    switch (p.origin.kind) {
      case PacketOrigin::Kind::kExternal: {
        src_ = p.src ? *p.src : ExternalSource(family_);
        if (!p.origin.interface.empty()) {
          iif_ = host_.FindInterface(p.origin.interface);
          if (iif_ == nullptr) {
            return Invalid(absl::StrCat("no interface \"", p.origin.interface,
                                        "\" on the host"));
          }
        } else {
          const HostInterface* r = index_.Route(src_);
          if (r != nullptr && r != index_.lo()) {
            iif_ = r;
          } else {
            for (const HostInterface& i : host_.interfaces()) {
              if (&i != index_.lo()) {
                iif_ = &i;
                break;
              }
            }
          }
          if (iif_ == nullptr) {
            return Invalid("the host has no interface but lo to arrive on");
          }
        }
        break;
      }
      case PacketOrigin::Kind::kPod: {
        pod_ = p.origin.pod;
        if (pod_.family() != family_) {
          return Invalid(absl::StrCat("pod address ", pod_.ToString(),
                                      " and destination ", dst_.ToString(),
                                      " differ in family"));
        }
        src_ = p.src ? *p.src : pod_;
        // Inside the pod, its loopback talks to itself from its loopback.
        if (!p.src && dst_.IsLoopback()) src_ = dst_;
        port_ = host_.FindBridgePort(pod_, &bridge_);
        if (port_ != nullptr) {
          iif_ = host_.FindInterface(bridge_->name);
        } else {
          iif_ = index_.Route(pod_);
          if (iif_ == index_.lo()) iif_ = nullptr;
        }
        if (iif_ == nullptr) {
          return Invalid(absl::StrCat("pod address ", pod_.ToString(),
                                      " is behind no interface of the host"));
        }
        break;
      }
      case PacketOrigin::Kind::kLocal:
        if (p.src) {
          src_ = *p.src;
        } else if (index_.IsLocal(dst_)) {
          src_ = host_.LocalSource(dst_);
        } else {
          const HostInterface* out = index_.Route(dst_);
          std::optional<IpAddress> a =
              out != nullptr ? host_.SourceAddress(*out, dst_) : std::nullopt;
          // Unroutable: any address will do, the walk drops it for want of
          // a route.
          src_ = a ? *a : Loopback(family_);
        }
        if (!index_.IsLocal(src_)) {
          return Invalid(absl::StrCat("source ", src_.ToString(),
                                      " of a local process is not a host "
                                      "address"));
        }
        break;
    }
    if (src_.family() != family_) {
      return Invalid(absl::StrCat("source ", src_.ToString(),
                                  " and destination ", dst_.ToString(),
                                  " differ in family"));
    }
    orig_dst_ = dst_;
    orig_dport_ = dport_;
    return absl::OkStatus();
  }

  bool IsOwnPodAddress(const IpAddress& a) const {
    if (a == pod_) return true;
    if (port_ == nullptr) return false;
    for (const IpAddress& own : port_->addresses) {
      if (own == a) return true;
    }
    return false;
  }

  absl::Status ReceivePath() {
    bool from_pod = origin_ == PacketOrigin::Kind::kPod;
    if (tracing())
      Step(from_pod ? "pod " : "", src_.WithPort(sport_), " → ",
           dst_.WithPort(dport_), " ",
           ProtocolName(static_cast<Protocol>(proto_)), " arrives on ",
           iif_->name);
    if (from_pod && (IsOwnPodAddress(dst_) || dst_.IsLoopback())) {
      if (tracing()) {
        Step("the pod's own ", dst_.IsLoopback() ? "loopback" : "address",
             ": handled inside the pod, never reaches the host");
      }
      result_->verdict = PacketVerdict::kDelivered;
      return absl::OkStatus();
    }
    if (family_ == IpFamily::kV6 && iif_ != index_.lo() &&
        (src_.IsLoopback() || dst_.IsLoopback())) {
      Drop(absl::StrCat("IPv6 ::1 on non-loopback interface ", iif_->name,
                        " is dropped on receipt"));
      return absl::OkStatus();
    }
    if (from_pod && bridge_ != nullptr && !bridge_->br_netfilter &&
        !index_.IsLocal(dst_)) {
      const HostInterface* out = index_.Route(dst_);
      if (out != nullptr && out->name == bridge_->name) {
        if (tracing())
          Step("bridged at layer 2 on ", bridge_->name,
               " (br_netfilter off): host hooks not traversed");
        oif_ = out;
        result_->verdict = PacketVerdict::kDelivered;
        return absl::OkStatus();
      }
    }
    absl::StatusOr<bool> ok = RunHook(Hook::kPrerouting);
    if (!ok.ok()) return ok.status();
    if (!*ok) return absl::OkStatus();
    if (family_ == IpFamily::kV4 && iif_ != index_.lo() &&
        (src_.IsLoopback() || dst_.IsLoopback()) && !iif_->route_localnet) {
      Drop(absl::StrCat("martian ",
                        src_.IsLoopback() ? "source " : "destination ",
                        (src_.IsLoopback() ? src_ : dst_).ToString(), " on ",
                        iif_->name, " (route_localnet=0)"));
      return absl::OkStatus();
    }
    if (index_.IsLocal(dst_)) {
      oif_ = index_.lo();
      if (tracing()) Step("routing: ", dst_.ToString(), " is local → input");
      ok = RunHook(Hook::kInput);
      if (!ok.ok()) return ok.status();
      if (!*ok) return absl::OkStatus();
      if (tracing())
        Step("delivered to a local socket on ", dst_.WithPort(dport_));
      result_->verdict = PacketVerdict::kLocal;
      return absl::OkStatus();
    }
    oif_ = index_.Route(dst_);
    if (oif_ == nullptr) {
      Drop(absl::StrCat("no route to ", dst_.ToString()));
      return absl::OkStatus();
    }
    if (tracing())
      Step("routing: ", dst_.ToString(), " → forward out ", oif_->name);
    ok = RunHook(Hook::kForward);
    if (!ok.ok()) return ok.status();
    if (!*ok) return absl::OkStatus();
    return Leave();
  }

  absl::Status LocalPath() {
    if (tracing())
      Step("local process ", src_.WithPort(sport_), " → ",
           dst_.WithPort(dport_), " ",
           ProtocolName(static_cast<Protocol>(proto_)));
    oif_ = index_.Route(dst_);
    if (oif_ == nullptr) {
      Drop(absl::StrCat("no route to ", dst_.ToString()));
      return absl::OkStatus();
    }
    absl::StatusOr<bool> ok = RunHook(Hook::kOutput);
    if (!ok.ok()) return ok.status();
    if (!*ok) return absl::OkStatus();
    if (dst_ != orig_dst_) {
      oif_ = index_.Route(dst_);
      if (oif_ == nullptr) {
        Drop(absl::StrCat("no route to ", dst_.ToString()));
        return absl::OkStatus();
      }
      if (tracing()) Step("reroute: ", dst_.ToString(), " → out ", oif_->name);
    }
    if (oif_ != index_.lo()) {
      if (family_ == IpFamily::kV6 && src_.IsLoopback()) {
        Drop(absl::StrCat("IPv6 source ::1 never leaves loopback (routed out ",
                          oif_->name, ")"));
        return absl::OkStatus();
      }
      if (family_ == IpFamily::kV4 && src_.IsLoopback() &&
          !oif_->route_localnet) {
        Drop(absl::StrCat("martian source ", src_.ToString(), " routed out ",
                          oif_->name, " (route_localnet=0)"));
        return absl::OkStatus();
      }
      return Leave();
    }
    ok = RunHook(Hook::kPostrouting);
    if (!ok.ok()) return ok.status();
    if (!*ok) return absl::OkStatus();
    // Looped back: received on lo, through PREROUTING and INPUT again, where
    // only raw and filter chains act (the connection's NAT is set up).
    looped_back_ = true;
    iif_ = oif_;
    if (tracing()) Step("looped back: received on lo");
    for (Hook hook : {Hook::kPrerouting, Hook::kInput}) {
      ok = RunHook(hook);
      if (!ok.ok()) return ok.status();
      if (!*ok) return absl::OkStatus();
    }
    if (tracing())
      Step("delivered over lo to a local socket on ", dst_.WithPort(dport_));
    result_->verdict = PacketVerdict::kLocal;
    return absl::OkStatus();
  }

  // POSTROUTING and the checks on the way out of the host.
  absl::Status Leave() {
    absl::StatusOr<bool> ok = RunHook(Hook::kPostrouting);
    if (!ok.ok()) return ok.status();
    if (!*ok) return absl::OkStatus();
    if (family_ == IpFamily::kV4 && src_.IsLoopback()) {
      Drop(absl::StrCat("source ", src_.ToString(), " left ", oif_->name,
                        " unmasqueraded: the receiver's reply to it stays in "
                        "its own loopback"));
      return absl::OkStatus();
    }
    if (origin_ == PacketOrigin::Kind::kPod && dnat_) {
      if (IsOwnPodAddress(dst_)) {
        if (port_ != nullptr && !port_->hairpin_mode) {
          Drop(absl::StrCat("hairpin: bridge port ", port_->name, " of ",
                            bridge_->name,
                            " has hairpin_mode off, so the bridge does not "
                            "send the packet back out the port it came in"));
          return absl::OkStatus();
        }
        if (IsOwnPodAddress(src_)) {
          Drop(absl::StrCat(
              "hairpin without masquerade: the pod sees its own address ",
              src_.ToString(),
              " as source and its reply bypasses the host's conntrack"));
          return absl::OkStatus();
        }
      } else if (bridge_ != nullptr && !bridge_->br_netfilter && !snat_ &&
                 oif_->name == bridge_->name) {
        Drop(absl::StrCat("reply from ", dst_.ToString(),
                          " is bridged straight back on ", bridge_->name,
                          " (br_netfilter off), bypassing conntrack's reverse "
                          "NAT"));
        return absl::OkStatus();
      }
    }
    if (tracing())
      Step("delivered to ", dst_.WithPort(dport_), " via ", oif_->name,
           " from ", src_.WithPort(sport_));
    result_->verdict = PacketVerdict::kDelivered;
    return absl::OkStatus();
  }

  // Runs every NAT base chain of `hook` in priority order until one binds.
  // Returns false when the packet was dropped.
  absl::StatusOr<bool> RunHook(Hook hook) {
    hook_ = hook;
    bool dst_manip = hook == Hook::kPrerouting || hook == Hook::kOutput;
    for (const BaseChain& bc :
         sim_.hooks_[FamilyIndex(family_)][static_cast<int>(hook)]) {
      // NAT chains see only a connection's first packet, until one binds
      // (and none on a looped-back packet, whose connection is set up).
      if (bc.nat &&
          (looped_back_ || untracked_ || (dst_manip ? dnat_ : snat_))) {
        continue;
      }
      if (!bc.table->unsupported.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            HookName(hook), " enters ", MessageLabel(*bc.table), " chain ",
            bc.chain->name, ", which holds what the simulator does not model (",
            bc.table->unsupported.message(), "): its verdict is unknown"));
      }
      if (tracing())
        Step(HookName(hook), ": ", TraceLabel(*bc.table, *bc.chain),
             " (priority ", bc.chain->priority, ")");
      absl::StatusOr<bool> ok = RunChain(bc);
      if (!ok.ok() || !*ok) return ok;
    }
    return true;
  }

  Frame MakeFrame(const Chain* chain) const {
    Frame f{chain, nullptr, 0,
            0,     0,       !chain->indexed || !options_.use_rule_index};
    if (!f.scan) {
      auto it = chain->keyed_rules.find(IndexKey(proto_, dport_));
      if (it != chain->keyed_rules.end()) f.keyed = &it->second;
    }
    return f;
  }

  static int64_t NextRule(Frame* f) {
    const Chain* c = f->chain;
    if (f->scan) {
      if (f->all < c->rules.size()) return static_cast<int64_t>(f->all++);
      return -1;
    }
    constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
    uint32_t a = f->keyed != nullptr && f->ki < f->keyed->size()
                     ? (*f->keyed)[f->ki]
                     : kNone;
    uint32_t b =
        f->ui < c->unkeyed_rules.size() ? c->unkeyed_rules[f->ui] : kNone;
    if (a == kNone && b == kNone) return -1;
    if (a < b) {
      ++f->ki;
      return a;
    }
    ++f->ui;
    return b;
  }

  absl::StatusOr<bool> RunChain(const BaseChain& base) {
    table_ = base.table;
    priority_ = base.chain->priority;
    absl::InlinedVector<Frame, 8> stack;
    stack.push_back(MakeFrame(base.chain));
    while (!stack.empty()) {
      Frame& frame = stack.back();
      int64_t index = NextRule(&frame);
      if (index < 0) {
        if (stack.size() == 1) break;
        if (tracing())
          Step(TraceLabel(*table_, *frame.chain), ": end of chain, return");
        stack.pop_back();
        continue;
      }
      const Rule& rule = frame.chain->rules[index];
      at_chain_ = frame.chain;
      at_index_ = static_cast<size_t>(index);
      // An unmodelled rule keeps no matches, or those nft showed of it.
      bool matched = Matches(rule);
      if (!unknown_.empty()) return Refusal(unknown_);
      if (!matched) continue;
      if (!rule.unsupported.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            MessageLabel(*table_), " chain ", frame.chain->name, " rule ",
            index + 1, " (", rule.text, ") is reached but not modelled (",
            rule.unsupported, "): its verdict is unknown"));
      }
      std::string label;
      rule_label_.clear();
      if (tracing()) {
        rule_label_ = absl::StrCat(TraceLabel(*table_, *frame.chain), " rule ",
                                   index + 1);
        label = absl::StrCat(rule_label_, ": ", rule.text, " → ");
      }
      Flow flow = Flow::kNextAction;
      for (const Action& a : rule.actions) {
        std::string outcome;
        absl::StatusOr<Flow> f = Apply(a, &stack, &outcome);
        if (!f.ok()) return f.status();
        flow = *f;
        if (options_.record_trace && !outcome.empty()) {
          if (tracing()) Step(label, outcome);
        }
        if (flow != Flow::kNextAction) break;
      }
      if (!unknown_.empty()) return Refusal(unknown_);
      if (flow == Flow::kAccept) return true;
      if (flow == Flow::kDrop) return false;
      if (static_cast<int>(stack.size()) > kMaxJumpDepth) {
        Drop("jump depth exceeds 64: the ruleset loops");
        return false;
      }
    }
    const Chain& bc = *base.chain;
    if (tracing())
      Step(TraceLabel(*table_, bc), ": policy ",
           bc.policy_drop ? "drop" : "accept");
    if (bc.policy_drop) {
      Drop(absl::StrCat("policy drop of ", TraceLabel(*table_, bc)));
      return false;
    }
    return true;
  }

  // Writes the bytes of `field` into `out`; false when the packet has no
  // such field (an IPv6 packet has no `ip daddr`).
  bool Extract(Field field, char* out, int* len) const {
    auto put_addr = [&](const IpAddress& a, IpFamily want) {
      if (family_ != want) return false;
      std::memcpy(out, a.bytes(), a.size());
      *len = a.size();
      return true;
    };
    auto put_num = [&](ValueType t, uint32_t v) {
      return PutNumber(t, v, out, len);
    };
    auto put_iface = [&](const HostInterface* i) {
      // Without a device the kernel's meta iifname/oifname store "" (nft)
      // and iptables compares "": `iifname != "x"` matches.
      std::memset(out, 0, 16);
      if (i != nullptr)
        std::memcpy(out, i->name.data(), std::min<size_t>(15, i->name.size()));
      *len = 16;
      return true;
    };
    switch (field) {
      case Field::kSrcAddr4:
        return put_addr(src_, IpFamily::kV4);
      case Field::kDstAddr4:
        return put_addr(dst_, IpFamily::kV4);
      case Field::kSrcAddr6:
        return put_addr(src_, IpFamily::kV6);
      case Field::kDstAddr6:
        return put_addr(dst_, IpFamily::kV6);
      case Field::kCtOrigDstAddr4:
        return HasConntrack() && put_addr(orig_dst_, IpFamily::kV4);
      case Field::kCtOrigDstAddr6:
        return HasConntrack() && put_addr(orig_dst_, IpFamily::kV6);
      case Field::kL4Proto:
        return put_num(ValueType::kInetProto, proto_);
      case Field::kSrcPort:
        return put_num(ValueType::kInetService, sport_);
      case Field::kDstPort:
        return put_num(ValueType::kInetService, dport_);
      case Field::kCtOrigDstPort:
        return HasConntrack() && put_num(ValueType::kInetService, orig_dport_);
      case Field::kInIface:
        // A local packet has no input interface until it is looped back.
        return put_iface(
            hook_ == Hook::kOutput ||
                    (origin_ == PacketOrigin::Kind::kLocal && !looped_back_)
                ? nullptr
                : iif_);
      case Field::kOutIface:
        return put_iface(hook_ == Hook::kPrerouting || hook_ == Hook::kInput
                             ? nullptr
                             : oif_);
      case Field::kMark:
        return put_num(ValueType::kMark, mark_);
      case Field::kCtState:
        return put_num(ValueType::kCtState, CtState());
      case Field::kCtStatus:
        return HasConntrack() &&
               put_num(ValueType::kCtStatus, (dnat_ ? kCtStatusDnat : 0) |
                                                 (snat_ ? kCtStatusSnat : 0));
      case Field::kDstAddrType:
        return put_num(ValueType::kAddrType, AddrType(dst_));
      case Field::kSrcAddrType:
        return put_num(ValueType::kAddrType, AddrType(src_));
      case Field::kNfProto:
        return put_num(ValueType::kNfProto, family_ == IpFamily::kV4 ? 2 : 10);
      case Field::kNumgen:
        return false;  // Key draws it: it is a branch, not packet state.
      default:         // the long tail (issue 12)
        return ExtractTail(field, out, len);
    }
    return false;
  }

  bool ExtractTail(Field field, char* out, int* len) const {
    switch (field) {
      case Field::kPhysIn:
      case Field::kPhysOut:
      case Field::kPhysFlags:
        return ExtractPhysdev(field, out, len);
      case Field::kDstAddrTypeIif:
      case Field::kSrcAddrTypeIif:
      case Field::kDstAddrTypeOif:
      case Field::kSrcAddrTypeOif:
        return ExtractIfaceAddrType(field, out, len);
      default:
        return ExtractPacketFact(field, out, len);
    }
  }

  // Conntrack attaches an entry at priority -200 of PREROUTING and OUTPUT;
  // chains before it (raw) see none, unless the packet was looped back with
  // its entry. NOTRACK leaves the packet without one for good.
  bool HasConntrack() const {
    if (untracked_) return false;
    bool first_hook = hook_ == Hook::kPrerouting || hook_ == Hook::kOutput;
    return looped_back_ || !first_hook || priority_ >= kConntrackPriority;
  }

  uint32_t CtState() const {
    if (untracked_) return kCtStateUntracked;
    if (!HasConntrack()) return kCtStateInvalid;
    return kCtStateNew | (dnat_ ? kCtStateDnat : 0) |
           (snat_ ? kCtStateSnat : 0);
  }

  // The packet's fate is refused, naming the rule being evaluated.
  absl::Status Refusal(absl::string_view why) const {
    return absl::FailedPreconditionError(absl::StrCat(
        MessageLabel(*table_), " chain ", at_chain_->name, " rule ",
        at_index_ + 1, " (", at_chain_->rules[at_index_].text, "): ", why));
  }

  // EncodeNumber, written in place.
  static bool PutNumber(ValueType t, uint32_t v, char* out, int* len) {
    int width = ValueWidth(t);
    for (int i = width - 1; i >= 0; --i) {
      out[i] = static_cast<char>(v & 0xff);
      v >>= 8;
    }
    *len = width;
    return true;
  }

  // ct mark, tcp flags, pkttype, socket owner. Sets unknown_ for what a
  // trace cannot know.
  bool ExtractPacketFact(Field field, char* out, int* len) const {
    ValueType t = FieldValueType(field);
    switch (field) {
      case Field::kCtMark:
        return HasConntrack() && PutNumber(t, ctmark_, out, len);
      case Field::kTcpFlags:
        return proto_ == static_cast<uint8_t>(Protocol::kTcp) &&
               PutNumber(t, kTcpFlagSyn, out, len);
      case Field::kPktType:
        if (dst_.IsMulticast() || IsBroadcast(dst_)) {
          unknown_ =
              "the packet type of a multicast or broadcast packet is "
              "not modelled";
          return false;
        }
        return PutNumber(t, kPacketHost, out, len);
      case Field::kSkUid:
      case Field::kSkGid:
        return ExtractOwner(out, len);
      default:
        return false;
    }
  }

  // The socket owner: unknown for a packet a local process sends; a packet
  // without a socket has none (-m owner then compares kNoOwner; nft's
  // expression breaks). -m owner is valid only in OUTPUT and POSTROUTING.
  bool ExtractOwner(char* out, int* len) const {
    bool nft = table_->syntax == Syntax::kNft;
    bool has_socket = origin_ == PacketOrigin::Kind::kLocal && !looped_back_;
    if (!nft && hook_ != Hook::kOutput && hook_ != Hook::kPostrouting) {
      unknown_ =
          absl::StrCat("-m owner is invalid in the ", HookName(hook_), " hook");
      return false;
    }
    if (has_socket) {
      unknown_ = "the owner of a locally generated packet is unknown to trace";
      return false;
    }
    return !nft && PutNumber(ValueType::kUid, kNoOwner, out, len);
  }

  // 255.255.255.255, or the directed broadcast of an interface's IPv4
  // prefix.
  bool IsBroadcast(const IpAddress& a) const {
    if (!a.is_v4()) return false;
    if (a.ToString() == "255.255.255.255") return true;
    for (const HostInterface& i : host_.interfaces()) {
      for (const IpPrefix& p : i.addresses) {
        if (!p.address().is_v4() || p.length() >= 31 || !p.Contains(a)) {
          continue;
        }
        bool all_ones = true;
        for (int bit = p.length(); bit < 32; ++bit) {
          all_ones = all_ones && (a.bytes()[bit / 8] >> (7 - bit % 8) & 1);
        }
        if (all_ones) return true;
      }
    }
    return false;
  }

  // -m physdev: a packet that neither arrived on nor leaves by a bridge
  // whose br_netfilter is on carries no bridge information; one that does
  // is not modelled (which port it used is a layer-2 fact).
  bool ExtractPhysdev(Field field, char* out, int* len) const {
    for (const HostInterface* i : {iif_, oif_}) {
      if (i == nullptr) continue;
      for (const Bridge& b : host_.bridges()) {
        if (b.name == i->name && b.br_netfilter) {
          unknown_ = absl::StrCat("-m physdev on a packet through bridge ",
                                  b.name, " is not modelled");
          return false;
        }
      }
    }
    if (field == Field::kPhysFlags) {
      return PutNumber(ValueType::kMark, 0, out, len);
    }
    std::memset(out, 0, 16);
    *len = 16;
    return true;
  }

  // -m addrtype --limit-iface-in/out (IPv4): local only when the address
  // is one of that interface's own (the kernel's local route names it).
  bool ExtractIfaceAddrType(Field field, char* out, int* len) const {
    bool in =
        field == Field::kDstAddrTypeIif || field == Field::kSrcAddrTypeIif;
    bool dst =
        field == Field::kDstAddrTypeIif || field == Field::kDstAddrTypeOif;
    const HostInterface* dev = in ? iif_ : oif_;
    bool local_origin = origin_ == PacketOrigin::Kind::kLocal && !looped_back_;
    // The kernel refuses --limit-iface-in in OUTPUT and POSTROUTING and
    // --limit-iface-out in PREROUTING and INPUT.
    bool src_nat_hook = hook_ == Hook::kOutput || hook_ == Hook::kPostrouting;
    if ((in && (src_nat_hook || local_origin)) ||
        (!in && (hook_ == Hook::kPrerouting || hook_ == Hook::kInput)) ||
        dev == nullptr) {
      unknown_ = absl::StrCat("--limit-iface-", in ? "in" : "out",
                              " is invalid in the ", HookName(hook_), " hook");
      return false;
    }
    const IpAddress& a = dst ? dst_ : src_;
    uint8_t type = AddrType(a);
    if (type == kRtnLocal && !InterfaceHolds(*dev, a)) type = kRtnUnicast;
    return PutNumber(ValueType::kAddrType, type, out, len);
  }

  static bool InterfaceHolds(const HostInterface& dev, const IpAddress& a) {
    if (dev.name == "lo" && a.IsLoopback()) return true;
    for (const IpPrefix& p : dev.addresses) {
      if (p.address() == a) return true;
    }
    return false;
  }

  uint8_t AddrType(const IpAddress& a) const {
    if (index_.IsLocal(a)) return kRtnLocal;
    if (a.IsMulticast()) return kRtnMulticast;
    return kRtnUnicast;
  }

  bool Key(const std::vector<Field>& fields, const Numgen& numgen, char* buf,
           int* len) {
    int total = 0;
    for (Field f : fields) {
      int n = 0;
      if (f == Field::kNumgen) {
        PutNumber(ValueType::kMark, DrawNumgen(numgen), buf + total, &n);
      } else if (!Extract(f, buf + total, &n)) {
        return false;
      }
      total += n;
    }
    *len = total;
    return true;
  }

  // "iptables nat (file) chain X rule 3 (-m statistic ...)": the rule being
  // matched.
  std::string CurrentRule() const {
    return absl::StrCat(MessageLabel(*table_), " chain ", at_chain_->name,
                        " rule ", at_index_ + 1, " (",
                        at_chain_->rules[at_index_].text, ")");
  }

  // Takes the next probabilistic point of `ways` branches (see
  // BranchChoice) and returns the branch this walk follows.
  uint32_t Branch(uint32_t ways) {
    if (next_choice_ == choices_->size()) choices_->push_back({ways, 0});
    const BranchChoice& c = (*choices_)[next_choice_++];
    last_branch_rule_ = CurrentRule();
    if (first_branch_rule_.empty()) first_branch_rule_ = last_branch_rule_;
    return c.taken;
  }

  // Multiplies the outcome's probability by `p` (negative: unknown).
  void Weigh(double p) {
    if (p < 0) {
      probability_known_ = false;
    } else {
      probability_ *= p;
    }
  }

  std::string ProbabilityText(double p) const {
    return p < 0 ? "probability unknown" : "probability " + Percent(p);
  }

  uint32_t DrawNumgen(const Numgen& g) {
    if (g.modulus <= 1) return g.offset;
    uint32_t taken = Branch(g.modulus);
    Weigh(1.0 / g.modulus);
    if (tracing()) {
      Step(TraceLabel(*table_, *at_chain_), " rule ", at_index_ + 1,
           ": numgen ", g.random ? "random" : "inc", " mod ", g.modulus, " → ",
           g.offset + taken, " (", ProbabilityText(1.0 / g.modulus), ")");
    }
    return g.offset + taken;
  }

  // Whether a kChance match matches on this walk's branch.
  bool ChanceHit(const Match& m) {
    bool known = m.chance >= 0;
    if (known && m.chance >= 1) return true;
    if (known && m.chance <= 0) return false;
    bool hit = Branch(2) == 0;
    double p = !known ? -1 : hit ? m.chance : 1 - m.chance;
    Weigh(p);
    if (tracing()) {
      Step(TraceLabel(*table_, *at_chain_), " rule ", at_index_ + 1, ": ",
           m.chance_what, hit ? " matches" : " does not match", " (",
           ProbabilityText(p), ")");
    }
    return hit;
  }

  // A lookup in a set that traffic fills (kube-proxy's session affinity):
  // either way, with unknown probability.
  bool DynamicSetHit(const Match& m) {
    bool hit = Branch(2) == 0;
    Weigh(-1);
    if (tracing()) {
      Step(TraceLabel(*table_, *at_chain_), " rule ", at_index_ + 1,
           ": dynamic set @", m.set_name, hit ? " holds" : " does not hold",
           " the key (probability unknown: traffic fills it)");
    }
    return hit;
  }

  // A test the walk cannot evaluate: the walk goes on as if it failed, and
  // Run reports the first such test instead of an answer.
  bool Unknown(const Match& m) {
    if (refusal_.empty())
      refusal_ = absl::StrCat(CurrentRule(), ": ", m.chance_what);
    return false;
  }

  // Whether one of an ipset list:set's members holds the packet's key.
  bool AnyOfHit(const Match& m) {
    char buf[kMaxKeyWidth];
    for (const Match& sub : m.any_of) {
      int len = 0;
      if (!Key(sub.fields, sub.numgen, buf, &len)) continue;
      if (sub.set->Lookup(absl::string_view(buf, len)) != nullptr) return true;
    }
    return false;
  }

  bool Matches(const Rule& rule) {
    char buf[kMaxKeyWidth];
    for (const Match& m : rule.matches) {
      int len = 0;
      // kChance, kAnyOf, kUnknown (after kBitwise): one comparison on the
      // hot path.
      if (m.kind > Match::Kind::kBitwise) {
        bool special = m.kind == Match::Kind::kChance  ? ChanceHit(m)
                       : m.kind == Match::Kind::kAnyOf ? AnyOfHit(m)
                                                       : Unknown(m);
        if (special == m.negate) return false;
        continue;
      }
      if (!Key(m.fields, m.numgen, buf, &len)) return false;
      bool hit;
      if (m.kind == Match::Kind::kBitwise) {
        uint32_t v = DecodeNumber(absl::string_view(buf, len));
        hit = ((v & m.mask) ^ m.xor_value) == m.value;
      } else if (m.single) {
        hit = m.single_pattern.Matches(absl::string_view(buf, len));
      } else if (m.set->dynamic()) {
        hit = DynamicSetHit(m);
      } else {
        hit = m.set->Lookup(absl::string_view(buf, len)) != nullptr;
      }
      if (hit == m.negate) return false;
    }
    return true;
  }

  Flow Verdict(VerdictSpec::Kind kind, const Chain* target,
               absl::InlinedVector<Frame, 8>* stack, std::string* outcome) {
    switch (kind) {
      case VerdictSpec::Kind::kAccept:
        Say(outcome, "accept");
        return Flow::kAccept;
      case VerdictSpec::Kind::kDrop:
        Say(outcome, "drop");
        Drop(absl::StrCat("dropped by a rule of ",
                          TraceLabel(*table_, *stack->back().chain)));
        return Flow::kDrop;
      case VerdictSpec::Kind::kReturn:
        Say(outcome, "return");
        if (stack->size() == 1) {
          // Return from a base chain: its policy decides.
          stack->back().all = std::numeric_limits<size_t>::max() / 2;
          stack->back().keyed = nullptr;
          stack->back().ui = std::numeric_limits<size_t>::max() / 2;
        } else {
          stack->pop_back();
        }
        return Flow::kChanged;
      case VerdictSpec::Kind::kContinue:
        Say(outcome, "continue");
        return Flow::kNextRule;
      case VerdictSpec::Kind::kJump:
        if (tracing()) *outcome = absl::StrCat("jump ", target->name);
        stack->push_back(MakeFrame(target));
        return Flow::kChanged;
      case VerdictSpec::Kind::kGoto:
        if (tracing()) *outcome = absl::StrCat("goto ", target->name);
        if (stack->size() == 1) {
          // A goto from the base chain: when the target ends, the base
          // chain's policy applies, so keep the base frame exhausted below.
          Verdict(VerdictSpec::Kind::kReturn, nullptr, stack, outcome);
          if (tracing()) *outcome = absl::StrCat("goto ", target->name);
          stack->push_back(MakeFrame(target));
        } else {
          stack->back() = MakeFrame(target);
        }
        return Flow::kChanged;
    }
    return Flow::kNextRule;
  }

  absl::StatusOr<Flow> Apply(const Action& a,
                             absl::InlinedVector<Frame, 8>* stack,
                             std::string* outcome) {
    switch (a.kind) {
      case Action::Kind::kAccept:
        return Verdict(VerdictSpec::Kind::kAccept, nullptr, stack, outcome);
      case Action::Kind::kDrop:
        return Verdict(VerdictSpec::Kind::kDrop, nullptr, stack, outcome);
      case Action::Kind::kReturn:
        return Verdict(VerdictSpec::Kind::kReturn, nullptr, stack, outcome);
      case Action::Kind::kContinue:
        return Verdict(VerdictSpec::Kind::kContinue, nullptr, stack, outcome);
      case Action::Kind::kJump:
        return Verdict(VerdictSpec::Kind::kJump, a.target, stack, outcome);
      case Action::Kind::kGoto:
        return Verdict(VerdictSpec::Kind::kGoto, a.target, stack, outcome);
      case Action::Kind::kSetMark: {
        uint32_t before = mark_;
        mark_ = (mark_ & ~a.mark_mask) ^ a.mark_xor;
        if (tracing()) {
          *outcome = absl::StrCat("mark ", Hex(before), " → ", Hex(mark_));
        }
        return Flow::kNextAction;
      }
      case Action::Kind::kVerdictMap: {
        char buf[kMaxKeyWidth];
        int len = 0;
        const SetElement* e = nullptr;
        if (Key(a.map_key, a.numgen, buf, &len)) {
          e = a.map->Lookup(absl::string_view(buf, len));
        }
        if (e == nullptr) {
          Say(outcome, "verdict map: no element, next rule");
          return Flow::kNextRule;
        }
        const Chain* target = nullptr;
        if (!e->verdict.chain.empty()) {
          target = &table_->chains.at(e->verdict.chain);
        }
        Flow f = Verdict(e->verdict.kind, target, stack, outcome);
        if (tracing()) {
          *outcome = absl::StrCat("verdict map {", e->text, "} → ", *outcome);
        }
        return f;
      }
      case Action::Kind::kDnat:
      case Action::Kind::kSnat:
      case Action::Kind::kMasquerade:
      case Action::Kind::kRedirect:
        return Nat(a, outcome);
      case Action::Kind::kReject:
      case Action::Kind::kSetCtMark:
      case Action::Kind::kCopyMark:
      case Action::Kind::kNotrack:
        return ApplyStatement(a, outcome);
    }
    return Flow::kNextAction;
  }

  // reject, ct mark statements, notrack.
  absl::StatusOr<Flow> ApplyStatement(const Action& a, std::string* outcome) {
    switch (a.kind) {
      case Action::Kind::kReject: {
        if (hook_ == Hook::kPostrouting) {
          return Refusal("reject is invalid in the postrouting hook");
        }
        Say(outcome, "reject");
        Drop(absl::StrCat("rejected by ", TraceLabel(*table_, *at_chain_),
                          " rule ", at_index_ + 1));
        return Flow::kDrop;
      }
      case Action::Kind::kSetCtMark:
        if (HasConntrack()) ctmark_ = (ctmark_ & ~a.mark_mask) ^ a.mark_xor;
        if (tracing()) *outcome = absl::StrCat("ct mark ", Hex(ctmark_));
        return Flow::kNextAction;
      case Action::Kind::kCopyMark: {
        if (!HasConntrack()) return Flow::kNextAction;
        uint32_t& to = a.copy_to_conn ? ctmark_ : mark_;
        uint32_t from = a.copy_to_conn ? mark_ : ctmark_;
        to = (to & ~a.mark_mask) ^ (from & a.copy_mask) ^ a.mark_xor;
        if (tracing()) {
          *outcome =
              absl::StrCat("mark ", Hex(mark_), ", ct mark ", Hex(ctmark_));
        }
        return Flow::kNextAction;
      }
      default:  // kNotrack: only before conntrack has attached an entry.
        if (!HasConntrack() && !untracked_) {
          untracked_ = true;
          Say(outcome, "notrack: no conntrack entry, no NAT");
        }
        return Flow::kNextAction;
    }
  }

  // The port a NAT range gives: the fixed one, or the packet's own when it
  // is in the range (the kernel keeps an unclashing port); otherwise the
  // kernel picks one, which a trace cannot know.
  absl::StatusOr<uint16_t> NatPort(const Action& a, uint16_t keep) const {
    if (a.nat_port == 0) return keep;
    if (a.nat_port_hi == 0 || a.nat_port_hi == a.nat_port) return a.nat_port;
    if (keep >= a.nat_port && keep <= a.nat_port_hi) return keep;
    return Refusal(absl::StrCat("port ", keep, " is outside the range ",
                                a.nat_port, "-", a.nat_port_hi,
                                ": the kernel picks one, unknown to trace"));
  }

  // REDIRECT: the first address of the input interface of the packet's
  // family, or loopback for a locally generated packet (nf_nat_redirect).
  // The host model keeps `ip addr` order, which is the kernel's list order
  // (verified: IPv4 takes the primary, IPv6 the newest global address).
  std::optional<IpAddress> RedirectAddress() const {
    if (hook_ == Hook::kOutput) return Loopback(family_);
    if (iif_ == nullptr) return std::nullopt;
    for (const IpPrefix& p : iif_->addresses) {
      if (p.address().family() == family_) return p.address();
    }
    return std::nullopt;
  }

  // The address and port a masquerade, redirect or fixed DNAT/SNAT gives;
  // kDrop when the interface has no address of the family.
  absl::StatusOr<Flow> NatEndpoint(const Action& a, uint16_t keep,
                                   IpAddress* addr, uint16_t* port) {
    std::optional<IpAddress> to = a.nat_address;
    if (a.kind == Action::Kind::kMasquerade ||
        a.kind == Action::Kind::kRedirect) {
      bool masq = a.kind == Action::Kind::kMasquerade;
      const HostInterface* dev = masq ? oif_ : iif_;
      to = !masq            ? RedirectAddress()
           : dev != nullptr ? host_.SourceAddress(*dev, dst_)
                            : std::nullopt;
      if (!to) {
        Drop(absl::StrCat(masq ? "masquerade" : "redirect", ": no IPv",
                          FamilyName(family_), " address on ",
                          dev != nullptr ? dev->name : "?"));
        return Flow::kDrop;
      }
    } else if (a.nat_address_hi && *a.nat_address_hi != *a.nat_address) {
      return Refusal(absl::StrCat(
          "the kernel picks one address of ", a.nat_address->ToString(), "-",
          a.nat_address_hi->ToString(), ", unknown to trace"));
    }
    absl::StatusOr<uint16_t> p = NatPort(a, keep);
    if (!p.ok()) return p.status();
    *addr = *to;
    *port = *p;
    return Flow::kNextAction;
  }

  absl::StatusOr<Flow> Nat(const Action& a, std::string* outcome) {
    bool dst_hook = hook_ == Hook::kPrerouting || hook_ == Hook::kOutput;
    bool dnat_kind =
        a.kind == Action::Kind::kDnat || a.kind == Action::Kind::kRedirect;
    if (dnat_kind != dst_hook) {
      return absl::FailedPreconditionError(
          absl::StrCat(dnat_kind ? "DNAT/REDIRECT" : "SNAT/MASQUERADE",
                       " reached in the ", HookName(hook_), " hook of ",
                       MessageLabel(*table_), ", where it is invalid"));
    }
    if (a.kind != Action::Kind::kRedirect && !a.nat_either_family &&
        a.nat_family != family_) {
      Say(outcome, "NAT for the other family, next rule");
      return Flow::kNextRule;
    }
    NatBinding::Kind kind =
        a.kind == Action::Kind::kMasquerade ? NatBinding::Kind::kMasquerade
        : a.kind == Action::Kind::kSnat     ? NatBinding::Kind::kSnat
                                            : NatBinding::Kind::kDnat;
    uint16_t keep = kind == NatBinding::Kind::kDnat ? dport_ : sport_;
    IpAddress addr;
    uint16_t port = 0;
    if (a.kind == Action::Kind::kMasquerade ||
        a.kind == Action::Kind::kRedirect || a.nat_address) {
      absl::StatusOr<Flow> f = NatEndpoint(a, keep, &addr, &port);
      if (!f.ok() || *f != Flow::kNextAction) return f;
    } else if (!NatFromMap(a, keep, &addr, &port)) {
      Say(outcome, "map: no element, next rule");
      return Flow::kNextRule;
    }
    Bind(kind, addr, port, outcome);
    return Flow::kAccept;
  }

  // The address and port a `dnat/snat to ... map` gives; false when the map
  // has no element for the packet.
  bool NatFromMap(const Action& a, uint16_t keep, IpAddress* addr,
                  uint16_t* port) {
    char buf[kMaxKeyWidth];
    int len = 0;
    const SetElement* e = nullptr;
    if (Key(a.map_key, a.numgen, buf, &len)) {
      e = a.map->Lookup(absl::string_view(buf, len));
    }
    if (e == nullptr) return false;
    int asize = family_ == IpFamily::kV4 ? 4 : 16;
    *addr = IpAddress::FromBytes(
        family_, reinterpret_cast<const uint8_t*>(e->data.data()));
    *port = e->data.size() >= static_cast<size_t>(asize + 2)
                ? static_cast<uint16_t>(
                      DecodeNumber(absl::string_view(e->data).substr(asize, 2)))
                : keep;
    if (*port == 0) *port = keep;
    return true;
  }

  // Rewrites the destination (DNAT) or source to `addr`:`port` and records
  // the binding in the result.
  void Bind(NatBinding::Kind kind, const IpAddress& addr, uint16_t port,
            std::string* outcome) {
    bool dnat = kind == NatBinding::Kind::kDnat;
    IpAddress& rewritten = dnat ? dst_ : src_;
    uint16_t& rewritten_port = dnat ? dport_ : sport_;
    NatBinding& b = result_->bindings.emplace_back();
    b.kind = kind;
    b.hook = hook_;
    b.before = rewritten.WithPort(rewritten_port);
    rewritten = addr;
    rewritten_port = port;
    (dnat ? dnat_ : snat_) = true;
    b.after = rewritten.WithPort(rewritten_port);
    b.rule = rule_label_;
    if (tracing()) {
      *outcome = absl::StrCat(dnat                              ? "DNAT "
                              : kind == NatBinding::Kind::kSnat ? "SNAT "
                                                                : "MASQUERADE ",
                              b.before, " → ", b.after);
    }
  }

  const Simulator& sim_;
  const HostModel& host_;
  const HostIndex& index_;
  const TraceOptions& options_;
  TraceResult* result_;

  IpFamily family_ = IpFamily::kV4;
  uint8_t proto_ = 6;
  IpAddress src_, dst_, orig_dst_;
  uint16_t sport_ = 0, dport_ = 0, orig_dport_ = 0;
  PacketOrigin::Kind origin_ = PacketOrigin::Kind::kExternal;
  IpAddress pod_;
  const BridgePort* port_ = nullptr;
  const Bridge* bridge_ = nullptr;
  const HostInterface* iif_ = nullptr;
  const HostInterface* oif_ = nullptr;
  uint32_t mark_ = 0;
  uint32_t ctmark_ = 0;     // a new connection's mark is 0
  bool untracked_ = false;  // NOTRACK: no conntrack entry, no NAT
  int priority_ = 0;        // of the base chain being run
  const Chain* at_chain_ = nullptr;
  size_t at_index_ = 0;
  // Why the field being extracted is unknown to trace; a walk refuses.
  mutable std::string unknown_;
  bool dnat_ = false;
  bool snat_ = false;
  bool looped_back_ = false;  // received again on lo: its NAT is set up
  Hook hook_ = Hook::kPrerouting;
  const Table* table_ = nullptr;
  std::string rule_label_;  // "nat/X rule 3" while tracing

  std::vector<BranchChoice>* choices_;
  size_t next_choice_ = 0;
  double probability_ = 1.0;
  bool probability_known_ = true;
  std::string first_branch_rule_;
  std::string last_branch_rule_;
  std::string refusal_;  // the first kUnknown test reached
};

absl::StatusOr<TraceResult> Simulator::Trace(
    const Packet& packet, const TraceOptions& options) const {
  // Built in place and returned as is: no TraceResult is moved.
  absl::StatusOr<TraceResult> result(absl::in_place);
  std::vector<BranchChoice> choices;
  Walk walk(*this, options, &*result, &choices);
  absl::Status s = walk.Run(packet);
  if (!s.ok()) {
    result = s;
  } else if (!choices.empty()) {
    result = OneOutcome(packet, options, walk.first_branch_rule());
  }
  return result;
}

absl::StatusOr<TraceResult> Simulator::OneOutcome(
    const Packet& packet, const TraceOptions& options,
    absl::string_view first_branch_rule) const {
  // Branches that all end alike are still one answer.
  absl::StatusOr<std::vector<TraceResult>> all = TraceAll(packet, options);
  if (!all.ok()) return all.status();
  if (all->size() == 1) return std::move(all->front());
  return absl::FailedPreconditionError(absl::StrCat(
      first_branch_rule,
      " is probabilistic: the packet has more than one possible outcome; "
      "use TraceAll (hostportctl trace prints each with its probability)"));
}

namespace {

// Adds `r` to `outcomes`, or its probability to an equal outcome's.
void MergeOutcome(TraceResult r, std::vector<TraceResult>* outcomes) {
  for (TraceResult& o : *outcomes) {
    if (o.verdict == r.verdict && o.to == r.to && o.to_port == r.to_port &&
        o.source == r.source && o.reason == r.reason) {
      o.probability += r.probability;
      o.probability_known = o.probability_known && r.probability_known;
      return;
    }
  }
  outcomes->push_back(std::move(r));
}

}  // namespace

absl::StatusOr<std::vector<TraceResult>> Simulator::TraceAll(
    const Packet& packet, const TraceOptions& options) const {
  std::vector<TraceResult> outcomes;
  std::vector<BranchChoice> choices;
  for (int walks = 1;; ++walks) {
    TraceResult result;
    Walk walk(*this, options, &result, &choices);
    absl::Status s = walk.Run(packet);
    if (!s.ok()) return s;
    MergeOutcome(std::move(result), &outcomes);
    // Next combination: the deepest choice with a branch left, advanced.
    while (!choices.empty() &&
           choices.back().taken + 1 >= choices.back().ways) {
      choices.pop_back();
    }
    if (choices.empty()) break;
    ++choices.back().taken;
    if (walks == kMaxTraceBranches) {
      return absl::FailedPreconditionError(absl::StrCat(
          "more than ", kMaxTraceBranches,
          " combinations of probabilistic branches (the last at ",
          walk.last_branch_rule(), "): too many outcomes to enumerate"));
    }
  }
  if (outcomes.size() == 1) {
    // However the walk branched, this is where the packet goes.
    outcomes[0].probability = 1.0;
    outcomes[0].probability_known = true;
  }
  for (TraceResult& o : outcomes) {
    if (!o.probability_known) o.probability = 0;
  }
  return outcomes;
}

}  // namespace sim
