#include "sim/iptables_parser.h"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sim/iptables_chance_modules.h"

namespace sim {
namespace {

constexpr const char* kBuiltinChains[] = {"PREROUTING", "INPUT", "FORWARD",
                                          "OUTPUT", "POSTROUTING"};

// Targets iptables has that the simulator does not model: named so the error
// says "unsupported target" instead of "no such chain".
const std::set<std::string>& UnsupportedTargets() {
  static const auto* targets = new std::set<std::string>{
      "TPROXY",   "NFLOG",     "TRACE", "NETMAP",   "CLASSIFY", "TCPMSS",
      "SET",      "NFQUEUE",   "AUDIT", "CHECKSUM", "TTL",      "HL",
      "TEE",      "DSCP",      "TOS",   "ULOG",     "SECMARK",  "CONNSECMARK",
      "SYNPROXY", "IDLETIMER", "LED",   "RATEEST",  "HMARK",    "CLUSTERIP",
      "MIRROR",   "SAME",      "ECN",   "NPT",      "DNPT",     "SNPT",
      "QUEUE"};
  return *targets;
}

bool IsBuiltinChain(absl::string_view name) {
  for (const char* b : kBuiltinChains) {
    if (name == b) return true;
  }
  return false;
}

Hook BuiltinHook(absl::string_view name) {
  if (name == "PREROUTING") return Hook::kPrerouting;
  if (name == "INPUT") return Hook::kInput;
  if (name == "FORWARD") return Hook::kForward;
  if (name == "OUTPUT") return Hook::kOutput;
  return Hook::kPostrouting;
}

// A fresh iptables table: nat (built-ins at the NAT priorities), raw
// (PREROUTING and OUTPUT at NF_IP_PRI_RAW, before conntrack and NAT) or
// filter (INPUT, FORWARD and OUTPUT at NF_IP_PRI_FILTER).
Table NewTable(absl::string_view name, IpFamily family,
               absl::string_view source) {
  Table t;
  t.syntax = Syntax::kIptables;
  t.family = family == IpFamily::kV4 ? TableFamily::kIp : TableFamily::kIp6;
  t.name = std::string(name);
  t.source = std::string(source);
  const bool raw = name == "raw";
  const bool filter = name == "filter";
  for (const char* chain_name : kBuiltinChains) {
    Chain c;
    c.name = chain_name;
    c.is_base = true;
    c.hook = BuiltinHook(chain_name);
    const bool dst = c.hook == Hook::kPrerouting || c.hook == Hook::kOutput;
    if (filter) {
      if (c.hook == Hook::kPrerouting || c.hook == Hook::kPostrouting) {
        continue;
      }
      c.type = "filter";
      c.priority = kFilterPriority;
      t.chains.emplace(chain_name, std::move(c));
      continue;
    }
    if (c.hook == Hook::kForward || (raw && !dst)) continue;
    c.type = raw ? "raw" : "nat";
    c.priority = raw ? kRawPriority : dst ? kDstNatPriority : kSrcNatPriority;
    t.chains.emplace(chain_name, std::move(c));
  }
  return t;
}

std::shared_ptr<const ElementSet> LiteralSet(ValueType type,
                                             std::vector<ValuePattern> values) {
  auto set = std::make_shared<ElementSet>(std::vector<ValueType>{type},
                                          std::vector<ValueType>{}, false);
  for (ValuePattern& v : values) {
    SetElement e;
    e.key.push_back(std::move(v));
    // Duplicates (`--dports 80,80`) are harmless for a membership test.
    set->Add(std::move(e)).IgnoreError();
  }
  return set;
}

bool OneOf(absl::string_view s,
           std::initializer_list<absl::string_view> names) {
  for (absl::string_view e : names) {
    if (s == e) return true;
  }
  return false;
}

bool IsPortProtocol(absl::string_view protocol) {
  return protocol == "tcp" || protocol == "udp" || protocol == "sctp";
}

// Builds one rule from its tokens, tracking which modules are loaded so an
// option is accepted only where iptables would accept it.
class RuleBuilder {
 public:
  explicit RuleBuilder(IpFamily family) : family_(family) {}

  absl::StatusOr<Rule> Build(const std::vector<std::string>& tokens) {
    tokens_ = &tokens;
    for (pos_ = 0; pos_ < tokens.size(); ++pos_) {
      const std::string& tok = tokens[pos_];
      if (tok == "!") {
        if (negate_) return Error("\"! !\"");
        negate_ = true;
        continue;
      }
      absl::Status s = Option(tok);
      if (!s.ok()) return s;
    }
    if (negate_) return Error("trailing \"!\"");
    absl::Status chance = FinishChanceModules();
    if (!chance.ok()) return chance;
    absl::Status finished = Finish();
    if (!finished.ok()) return finished;
    std::vector<std::string> all;
    for (const std::vector<std::string>& h : header_) {
      all.insert(all.end(), h.begin(), h.end());
    }
    all.insert(all.end(), canonical_.begin(), canonical_.end());
    rule_.text = absl::StrJoin(all, " ");
    return std::move(rule_);
  }

 private:
  absl::Status Error(absl::string_view what) {
    return absl::InvalidArgumentError(std::string(what));
  }

  // The token after the option's.
  absl::StatusOr<std::string> Value(absl::string_view option) {
    if (pos_ + 1 >= tokens_->size()) {
      return Error(absl::StrCat("option ", option, " needs a value"));
    }
    return (*tokens_)[++pos_];
  }

  // Appends "[!] option value" to the canonical text.
  void Canon(absl::string_view option, absl::string_view value, bool negated) {
    // iptables-save prints the IP header part first, as -s -d -i -o -p,
    // wherever the rule wrote it; -D compares rules in that form.
    static constexpr absl::string_view kHeader[] = {"-s", "-d", "-i", "-o",
                                                    "-p"};
    std::vector<std::string>* out = &canonical_;
    for (size_t i = 0; i < 5; ++i) {
      if (option == kHeader[i]) out = &header_[i];
    }
    if (negated) out->push_back("!");
    out->push_back(std::string(option));
    if (!value.empty()) out->push_back(std::string(value));
  }

  ValueType AddrType() const {
    return family_ == IpFamily::kV4 ? ValueType::kIpv4Addr
                                    : ValueType::kIpv6Addr;
  }

  absl::Status AddSetMatch(Field field, std::vector<ValuePattern> values,
                           bool negated) {
    Match m;
    m.fields = {field};
    m.negate = negated;
    m.literal = LiteralSet(FieldValueType(field), std::move(values));
    rule_.matches.push_back(std::move(m));
    return absl::OkStatus();
  }

  absl::Status AddBitwiseMatch(Field field, uint32_t mask, uint32_t value,
                               bool negated) {
    Match m;
    m.kind = Match::Kind::kBitwise;
    m.fields = {field};
    m.mask = mask;
    m.value = value;
    m.negate = negated;
    rule_.matches.push_back(std::move(m));
    return absl::OkStatus();
  }

  bool Loaded(absl::string_view module) const {
    return std::find(modules_.begin(), modules_.end(), module) !=
           modules_.end();
  }

  // One option (with its value), `negate_` telling whether "!" came first.
  absl::Status Option(const std::string& opt) {
    bool neg = negate_;
    negate_ = false;
    if (OneOf(opt,
              {"-s", "--source", "--src", "-d", "--destination", "--dst"})) {
      return AddressOption(opt, neg);
    }
    if (OneOf(opt, {"-i", "--in-interface", "-o", "--out-interface"})) {
      return InterfaceOption(opt, neg);
    }
    if (opt == "-p" || opt == "--protocol") return ProtocolOption(opt, neg);
    if (opt == "-m" || opt == "--match") return MatchModule(opt, neg);
    if (OneOf(opt, {"-j", "--jump", "-g", "--goto"})) {
      return TargetChoice(opt, neg);
    }
    if (opt == "-c" || opt == "--set-counters") {
      if (pos_ + 2 >= tokens_->size()) return Error("-c needs two values");
      pos_ += 2;
      return absl::OkStatus();
    }
    if (OneOf(opt,
              {"--dport", "--destination-port", "--sport", "--source-port"})) {
      return PortOption(opt, neg);
    }
    if (OneOf(opt, {"--dports", "--destination-ports", "--sports",
                    "--source-ports"})) {
      return MultiportOption(opt, neg);
    }
    if (opt == "--dst-type" || opt == "--src-type") {
      return AddrTypeOption(opt, neg);
    }
    if (opt == "--comment") return CommentOption(opt, neg);
    if (opt == "--mark" && LastOf("mark", "connmark") == "connmark") {
      return ConnmarkOption(opt, neg);
    }
    if (opt == "--mark" && !(has_target_ && target_ == "MARK")) {
      return MarkMatchOption(opt, neg);
    }
    if (opt == "--ctstate" || opt == "--state") return StateOption(opt, neg);
    if (opt == "--ctorigdstport" || opt == "--ctorigdst") {
      return CtOrigOption(opt, neg);
    }
    if (LongTailMatchOption(opt)) return LongTailOption(opt, neg);
    if (opt == "--match-set" && Loaded("set")) return MatchSetOption(opt, neg);
    if (!has_target_ && !chance_.empty() && ChanceOwns(chance_.back(), opt)) {
      return ChanceOption(opt, neg);
    }
    if (has_target_) return TargetOption(opt, neg);
    return Error(absl::StrCat("unsupported option \"", opt, "\""));
  }

  // -s/-d: a comma-separated list of addresses or prefixes.
  absl::Status AddressOption(const std::string& opt, bool neg) {
    bool src = opt == "-s" || opt == "--source" || opt == "--src";
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    std::vector<ValuePattern> values;
    std::vector<std::string> canon;
    for (absl::string_view part : absl::StrSplit(*v, ',')) {
      absl::StatusOr<IpPrefix> p = IpPrefix::Parse(part);
      if (!p.ok() || p->family() != family_) {
        return Error(absl::StrCat("invalid IPv", FamilyName(family_),
                                  " address \"", part, "\" in ", opt));
      }
      absl::StatusOr<ValuePattern> vp =
          ParseValuePattern(AddrType(), p->ToString(), true);
      if (!vp.ok()) return vp.status();
      values.push_back(*std::move(vp));
      canon.push_back(p->ToString());
    }
    Canon(src ? "-s" : "-d", absl::StrJoin(canon, ","), neg);
    Field f = family_ == IpFamily::kV4
                  ? (src ? Field::kSrcAddr4 : Field::kDstAddr4)
                  : (src ? Field::kSrcAddr6 : Field::kDstAddr6);
    return AddSetMatch(f, std::move(values), neg);
  }

  absl::Status InterfaceOption(const std::string& opt, bool neg) {
    bool in = opt == "-i" || opt == "--in-interface";
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    absl::StatusOr<ValuePattern> vp =
        ParseValuePattern(ValueType::kIfname, *v, true);
    if (!vp.ok()) return vp.status();
    Canon(in ? "-i" : "-o", *v, neg);
    return AddSetMatch(in ? Field::kInIface : Field::kOutIface, {*vp}, neg);
  }

  absl::Status ProtocolOption(const std::string& opt, bool neg) {
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    std::string lower = absl::AsciiStrToLower(*v);
    absl::StatusOr<Protocol> known = ParseProtocol(lower);
    if (known.ok()) lower = ProtocolName(*known);
    if (lower == "all" || lower == "0") {
      if (neg) return Error("\"! -p all\" matches nothing");
      return absl::OkStatus();
    }
    absl::StatusOr<ValuePattern> vp =
        ParseValuePattern(ValueType::kInetProto, lower, false);
    if (!vp.ok()) return vp.status();
    Canon("-p", lower, neg);
    if (!neg) protocol_ = lower;
    return AddSetMatch(Field::kL4Proto, {*vp}, neg);
  }

  // -m MODULE: loads the module whose options may follow.
  absl::Status MatchModule(const std::string& opt, bool neg) {
    if (neg) return Error("\"!\" before -m");
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    static const std::set<std::string> kModules = {
        "tcp",       "udp",    "sctp",      "multiport", "addrtype",
        "comment",   "mark",   "conntrack", "state",     "connmark",
        "physdev",   "owner",  "pkttype",   "iprange",   "nfacct",
        "statistic", "recent", "limit",     "set"};
    if (!kModules.count(*v)) {
      return Error(absl::StrCat("unsupported match module \"-m ", *v, "\""));
    }
    modules_.push_back(*v);
    Canon("-m", *v, false);
    if (*v == "statistic" || *v == "recent" || *v == "limit") {
      ChanceModule m;
      m.name = *v;
      m.canon_at = canonical_.size();
      if (*v == "recent") {
        m.mask = family_ == IpFamily::kV4
                     ? "255.255.255.255"
                     : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
      }
      chance_.push_back(std::move(m));
    }
    return absl::OkStatus();
  }

  absl::Status PortOption(const std::string& opt, bool neg) {
    if (!Loaded("tcp") && !Loaded("udp") && !Loaded("sctp")) {
      if (!IsPortProtocol(protocol_)) {
        return Error(absl::StrCat(opt, " needs -p tcp, udp or sctp"));
      }
      // iptables loads the protocol's match implicitly; iptables-save
      // prints it.
      modules_.push_back(protocol_);
      Canon("-m", protocol_, false);
    }
    bool dst = opt == "--dport" || opt == "--destination-port";
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    absl::StatusOr<ValuePattern> vp =
        ParseValuePattern(ValueType::kInetService, *v, true);
    if (!vp.ok()) return vp.status();
    Canon(dst ? "--dport" : "--sport", *v, neg);
    return AddSetMatch(dst ? Field::kDstPort : Field::kSrcPort, {*vp}, neg);
  }

  absl::Status MultiportOption(const std::string& opt, bool neg) {
    if (!Loaded("multiport")) {
      return Error(absl::StrCat(opt, " needs -m multiport"));
    }
    if (!IsPortProtocol(protocol_)) {
      return Error("-m multiport needs -p tcp, udp or sctp");
    }
    bool dst = opt == "--dports" || opt == "--destination-ports";
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    std::vector<ValuePattern> values;
    for (absl::string_view part : absl::StrSplit(*v, ',')) {
      absl::StatusOr<ValuePattern> vp =
          ParseValuePattern(ValueType::kInetService, part, true);
      if (!vp.ok()) return vp.status();
      values.push_back(*std::move(vp));
    }
    Canon(dst ? "--dports" : "--sports", *v, neg);
    return AddSetMatch(dst ? Field::kDstPort : Field::kSrcPort,
                       std::move(values), neg);
  }

  absl::Status AddrTypeOption(const std::string& opt, bool neg) {
    if (!Loaded("addrtype")) {
      return Error(absl::StrCat(opt, " needs -m addrtype"));
    }
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    std::vector<ValuePattern> values;
    for (absl::string_view part : absl::StrSplit(*v, ',')) {
      absl::StatusOr<ValuePattern> vp =
          ParseValuePattern(ValueType::kAddrType, part, false);
      if (!vp.ok()) {
        return Error(absl::StrCat("unsupported address type \"", part, "\" in ",
                                  opt, " (LOCAL, UNICAST or MULTICAST)"));
      }
      values.push_back(*std::move(vp));
    }
    Canon(opt, *v, neg);
    return AddSetMatch(
        opt == "--dst-type" ? Field::kDstAddrType : Field::kSrcAddrType,
        std::move(values), neg);
  }

  absl::Status CommentOption(const std::string& opt, bool neg) {
    if (!Loaded("comment")) return Error("--comment needs -m comment");
    if (neg) return Error("\"!\" before --comment");
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    Canon(opt, IptablesQuote(*v), false);
    return absl::OkStatus();
  }

  absl::Status MarkMatchOption(const std::string& opt, bool neg) {
    if (!Loaded("mark")) return Error("--mark needs -m mark");
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    uint32_t value, mask;
    absl::Status s = ParseMarkMask(*v, &value, &mask);
    if (!s.ok()) return s;
    s = AddBitwiseMatch(Field::kMark, mask, value & mask, neg);
    Canon(opt, *v, neg);
    return s;
  }

  absl::Status StateOption(const std::string& opt, bool neg) {
    const char* module = opt == "--state" ? "state" : "conntrack";
    if (!Loaded(module)) {
      return Error(absl::StrCat(opt, " needs -m ", module));
    }
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    uint32_t bits = 0;
    for (absl::string_view part : absl::StrSplit(*v, ',')) {
      absl::StatusOr<ValuePattern> vp =
          ParseValuePattern(ValueType::kCtState, part, false);
      if (!vp.ok()) return vp.status();
      bits |= DecodeNumber(vp->lo);
    }
    // "any of these bits set"
    absl::Status s = AddBitwiseMatch(Field::kCtState, bits, 0, !neg);
    Canon(opt, *v, neg);
    return s;
  }

  absl::Status CtOrigOption(const std::string& opt, bool neg) {
    if (!Loaded("conntrack")) {
      return Error(absl::StrCat(opt, " needs -m conntrack"));
    }
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    Canon(opt, *v, neg);
    if (opt == "--ctorigdstport") {
      absl::StatusOr<ValuePattern> vp =
          ParseValuePattern(ValueType::kInetService, *v, true);
      if (!vp.ok()) return vp.status();
      return AddSetMatch(Field::kCtOrigDstPort, {*vp}, neg);
    }
    absl::StatusOr<ValuePattern> vp = ParseValuePattern(AddrType(), *v, true);
    if (!vp.ok()) return vp.status();
    return AddSetMatch(family_ == IpFamily::kV4 ? Field::kCtOrigDstAddr4
                                                : Field::kCtOrigDstAddr6,
                       {*vp}, neg);
  }

  static absl::Status ParseMarkMask(absl::string_view text, uint32_t* value,
                                    uint32_t* mask) {
    std::vector<absl::string_view> parts = absl::StrSplit(text, '/');
    absl::StatusOr<ValuePattern> v =
        ParseValuePattern(ValueType::kMark, parts[0], false);
    if (!v.ok() || parts.size() > 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid mark \"", text, "\" (value[/mask])"));
    }
    *value = DecodeNumber(v->lo);
    *mask = 0xffffffffu;
    if (parts.size() == 2) {
      absl::StatusOr<ValuePattern> m =
          ParseValuePattern(ValueType::kMark, parts[1], false);
      if (!m.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid mark mask in \"", text, "\""));
      }
      *mask = DecodeNumber(m->lo);
    }
    return absl::OkStatus();
  }

  // Which of two modules was loaded last ("" when neither).
  std::string LastOf(absl::string_view a, absl::string_view b) const {
    for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
      if (*it == a || *it == b) return *it;
    }
    return "";
  }

  static bool LongTailMatchOption(absl::string_view opt) {
    return OneOf(
        opt,
        {"--tcp-flags", "--syn", "--pkt-type", "--src-range", "--dst-range",
         "--uid-owner", "--gid-owner", "--physdev-in", "--physdev-out",
         "--physdev-is-bridged", "--physdev-is-in", "--physdev-is-out",
         "--limit-iface-in", "--limit-iface-out", "--nfacct-name"});
  }

  // Options of the tcp flags, pkttype, iprange, owner, physdev and nfacct
  // matches, and addrtype's interface limits.
  absl::Status LongTailOption(const std::string& opt, bool neg) {
    if (opt == "--tcp-flags" || opt == "--syn") return TcpFlagsOption(opt, neg);
    if (opt == "--pkt-type") return PktTypeOption(opt, neg);
    if (opt == "--src-range" || opt == "--dst-range") {
      return RangeOption(opt, neg);
    }
    if (opt == "--uid-owner" || opt == "--gid-owner") {
      return OwnerOption(opt, neg);
    }
    if (absl::StartsWith(opt, "--physdev")) return PhysdevOption(opt, neg);
    if (absl::StartsWith(opt, "--limit-iface")) {
      return LimitIfaceOption(opt, neg);
    }
    if (!Loaded("nfacct")) return Error("--nfacct-name needs -m nfacct");
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    Canon(opt, *v, false);  // accounting only: matches every packet
    return absl::OkStatus();
  }

  // Loads the protocol's match implicitly after -p, as iptables does.
  absl::Status NeedProtocolMatch(const std::string& opt,
                                 absl::string_view proto) {
    if (Loaded(proto)) return absl::OkStatus();
    if (protocol_ != proto) {
      return Error(absl::StrCat(opt, " needs -p ", proto));
    }
    modules_.push_back(std::string(proto));
    Canon("-m", proto, false);
    return absl::OkStatus();
  }

  // "SYN,ACK" / "ALL" / "NONE" → bits; names as iptables-save prints them.
  absl::StatusOr<uint32_t> TcpFlagList(absl::string_view text,
                                       std::string* canon) {
    static constexpr const char* kNames[] = {"FIN", "SYN", "RST",
                                             "PSH", "ACK", "URG"};
    uint32_t bits = 0;
    for (absl::string_view part : absl::StrSplit(text, ',')) {
      std::string upper = absl::AsciiStrToUpper(part);
      if (upper == "ALL") {
        bits |= 0x3f;
      } else if (upper != "NONE") {
        absl::StatusOr<ValuePattern> p = ParseValuePattern(
            ValueType::kTcpFlag, absl::AsciiStrToLower(part), false);
        if (!p.ok() || DecodeNumber(p->lo) > 32 || part.empty() ||
            !absl::ascii_isalpha(part[0])) {
          return Error(absl::StrCat("invalid TCP flag \"", part, "\""));
        }
        bits |= DecodeNumber(p->lo);
      }
    }
    std::vector<std::string> names;
    for (int i = 0; i < 6; ++i) {
      if (bits & (1u << i)) names.push_back(kNames[i]);
    }
    *canon = names.empty() ? "NONE" : absl::StrJoin(names, ",");
    return bits;
  }

  // --tcp-flags MASK COMPARE, --syn (FIN,SYN,RST,ACK SYN). The traced
  // packet is a SYN.
  absl::Status TcpFlagsOption(const std::string& opt, bool neg) {
    absl::Status s = NeedProtocolMatch(opt, "tcp");
    if (!s.ok()) return s;
    std::string mask_text = "FIN,SYN,RST,ACK", compare_text = "SYN";
    if (opt == "--tcp-flags") {
      absl::StatusOr<std::string> m = Value(opt);
      if (!m.ok()) return m.status();
      absl::StatusOr<std::string> c = Value(opt);
      if (!c.ok()) return c.status();
      mask_text = *m;
      compare_text = *c;
    }
    std::string mask_canon, compare_canon;
    absl::StatusOr<uint32_t> mask = TcpFlagList(mask_text, &mask_canon);
    if (!mask.ok()) return mask.status();
    absl::StatusOr<uint32_t> compare =
        TcpFlagList(compare_text, &compare_canon);
    if (!compare.ok()) return compare.status();
    Canon("--tcp-flags", absl::StrCat(mask_canon, " ", compare_canon), neg);
    return AddBitwiseMatch(Field::kTcpFlags, *mask, *compare & *mask, neg);
  }

  absl::Status PktTypeOption(const std::string& opt, bool neg) {
    if (!Loaded("pkttype")) return Error("--pkt-type needs -m pkttype");
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    std::string lower = absl::AsciiStrToLower(*v);
    absl::StatusOr<ValuePattern> p = ParseValuePattern(
        ValueType::kPktType, lower == "otherhost" ? "other" : lower, false);
    if (!p.ok() || lower == "other") {
      return Error(absl::StrCat("invalid --pkt-type \"", *v,
                                "\" (unicast, broadcast, multicast)"));
    }
    static constexpr const char* kNames[] = {"unicast", "broadcast",
                                             "multicast", "otherhost"};
    Canon(opt, kNames[DecodeNumber(p->lo)], neg);
    return AddSetMatch(Field::kPktType, {*p}, neg);
  }

  // -m iprange --src-range/--dst-range a[-b].
  absl::Status RangeOption(const std::string& opt, bool neg) {
    if (!Loaded("iprange")) return Error(opt + " needs -m iprange");
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    absl::StatusOr<ValuePattern> p = ParseValuePattern(AddrType(), *v, true);
    if (!p.ok() || v->find('/') != std::string::npos) {
      return Error(absl::StrCat("invalid ", opt, " \"", *v, "\" (IPv",
                                FamilyName(family_), " address[-address])"));
    }
    Canon(opt, *v, neg);
    bool src = opt == "--src-range";
    Field f = family_ == IpFamily::kV4
                  ? (src ? Field::kSrcAddr4 : Field::kDstAddr4)
                  : (src ? Field::kSrcAddr6 : Field::kDstAddr6);
    return AddSetMatch(f, {*p}, neg);
  }

  // -m owner --uid-owner/--gid-owner N[-M] (numeric ids only).
  absl::Status OwnerOption(const std::string& opt, bool neg) {
    if (!Loaded("owner")) return Error(opt + " needs -m owner");
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    absl::StatusOr<ValuePattern> p =
        ParseValuePattern(ValueType::kUid, *v, true);
    if (!p.ok()) {
      return Error(absl::StrCat("unsupported ", opt, " \"", *v,
                                "\" (a numeric id or range)"));
    }
    Canon(opt, *v, neg);
    return AddSetMatch(opt == "--uid-owner" ? Field::kSkUid : Field::kSkGid,
                       {*p}, neg);
  }

  absl::Status PhysdevOption(const std::string& opt, bool neg) {
    if (!Loaded("physdev")) return Error(opt + " needs -m physdev");
    if (opt == "--physdev-in" || opt == "--physdev-out") {
      absl::StatusOr<std::string> v = Value(opt);
      if (!v.ok()) return v.status();
      absl::StatusOr<ValuePattern> p =
          ParseValuePattern(ValueType::kIfname, *v, true);
      if (!p.ok()) return p.status();
      Canon(opt, *v, neg);
      return AddSetMatch(
          opt == "--physdev-in" ? Field::kPhysIn : Field::kPhysOut, {*p}, neg);
    }
    uint32_t bit = opt == "--physdev-is-bridged" ? kPhysIsBridged
                   : opt == "--physdev-is-in"    ? kPhysIsIn
                                                 : kPhysIsOut;
    Canon(opt, "", neg);
    return AddBitwiseMatch(Field::kPhysFlags, bit, bit, neg);
  }

  // Applied to the rule's address types in Finish, wherever it was written.
  absl::Status LimitIfaceOption(const std::string& opt, bool neg) {
    if (!Loaded("addrtype")) return Error(opt + " needs -m addrtype");
    if (neg) return Error(absl::StrCat("\"!\" before ", opt));
    if (family_ != IpFamily::kV4) {
      return Error(absl::StrCat("unsupported ", opt, " for IPv6"));
    }
    if (!limit_iface_.empty()) {
      return Error("--limit-iface-in and --limit-iface-out together");
    }
    limit_iface_ = opt;
    Canon(opt, "", false);
    return absl::OkStatus();
  }

  // -m connmark --mark v[/m].
  absl::Status ConnmarkOption(const std::string& opt, bool neg) {
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    uint32_t value, mask;
    absl::Status s = ParseMarkMask(*v, &value, &mask);
    if (!s.ok()) return s;
    Canon(opt, *v, neg);
    return AddBitwiseMatch(Field::kCtMark, mask, value & mask, neg);
  }

  // -j TARGET / -g CHAIN: only one per rule.
  absl::Status TargetChoice(const std::string& opt, bool neg) {
    if (neg) return Error(absl::StrCat("\"!\" before ", opt));
    if (has_target_) return Error("more than one -j/-g");
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    has_target_ = true;
    target_ = *v;
    bool go = opt == "-g" || opt == "--goto";
    Canon(go ? "-g" : "-j", *v, false);
    return StartTarget(*v, go);
  }

  absl::Status StartTarget(const std::string& target, bool go) {
    Action a;
    if (go) {
      a.kind = Action::Kind::kGoto;
      a.chain = target;
    } else if (target == "ACCEPT") {
      a.kind = Action::Kind::kAccept;
    } else if (target == "DROP") {
      a.kind = Action::Kind::kDrop;
    } else if (target == "RETURN") {
      a.kind = Action::Kind::kReturn;
    } else if (target == "DNAT" || target == "SNAT") {
      a.kind = target == "DNAT" ? Action::Kind::kDnat : Action::Kind::kSnat;
      a.nat_family = family_;
    } else if (target == "MASQUERADE") {
      a.kind = Action::Kind::kMasquerade;
      a.nat_family = family_;
    } else if (target == "MARK") {
      a.kind = Action::Kind::kSetMark;
    } else if (target == "LOG") {
      return absl::OkStatus();  // changes nothing: the next rule follows
    } else if (target == "REJECT") {
      a.kind = Action::Kind::kReject;
    } else if (target == "REDIRECT") {
      a.kind = Action::Kind::kRedirect;
    } else if (target == "NOTRACK" || target == "CT") {
      // CT does nothing modelled without --notrack (Finish checks).
      a.kind = target == "NOTRACK" ? Action::Kind::kNotrack
                                   : Action::Kind::kContinue;
    } else if (target == "CONNMARK") {
      a.kind = Action::Kind::kSetCtMark;
    } else if (UnsupportedTargets().count(target)) {
      return Error(absl::StrCat("unsupported target \"-j ", target, "\""));
    } else {
      a.kind = Action::Kind::kJump;
      a.chain = target;
    }
    rule_.actions.push_back(std::move(a));
    return absl::OkStatus();
  }

  // An option of the rule's target (after -j).
  absl::Status TargetOption(const std::string& opt, bool neg) {
    if (OneOf(target_, {"LOG", "REJECT", "REDIRECT", "CONNMARK", "CT"}) ||
        (target_ == "MASQUERADE" && opt == "--to-ports")) {
      return LongTailTargetOption(opt, neg);
    }
    Action& a = rule_.actions.back();
    if (neg) return Error(absl::StrCat("\"!\" before ", opt));
    bool nat = a.kind == Action::Kind::kDnat || a.kind == Action::Kind::kSnat;
    if ((a.kind == Action::Kind::kDnat &&
         (opt == "--to-destination" || opt == "--to")) ||
        (a.kind == Action::Kind::kSnat &&
         (opt == "--to-source" || opt == "--to"))) {
      return NatAddressOption(opt, &a);
    }
    if ((nat || a.kind == Action::Kind::kMasquerade) &&
        OneOf(opt, {"--random", "--random-fully", "--persistent"})) {
      // These change only which port is picked on a clash; the first
      // connection keeps its port.
      Canon(opt, "", false);
      return absl::OkStatus();
    }
    if (a.kind == Action::Kind::kSetMark) return MarkTargetOption(opt, &a);
    return Error(
        absl::StrCat("unsupported option \"", opt, "\" for -j ", target_));
  }

  // REJECT, LOG, REDIRECT, CONNMARK, NOTRACK and CT's options.
  absl::Status LongTailTargetOption(const std::string& opt, bool neg) {
    if (neg) return Error(absl::StrCat("\"!\" before ", opt));
    if (target_ == "LOG") return LogOption(opt);
    Action& a = rule_.actions.back();
    if (target_ == "REJECT" && opt == "--reject-with") return RejectWith(opt);
    if ((a.kind == Action::Kind::kRedirect ||
         a.kind == Action::Kind::kMasquerade) &&
        opt == "--to-ports") {
      absl::StatusOr<std::string> v = Value(opt);
      if (!v.ok()) return v.status();
      absl::Status s = ParseNatPorts(*v, &a);
      if (!s.ok()) return s;
      Canon(opt, *v, false);
      return absl::OkStatus();
    }
    if (a.kind == Action::Kind::kRedirect && opt == "--random") {
      Canon(opt, "", false);
      return absl::OkStatus();
    }
    if (target_ == "CONNMARK") return ConnmarkTargetOption(opt, &a);
    if (target_ == "CT" && opt == "--notrack") {
      a.kind = Action::Kind::kNotrack;
      Canon(opt, "", false);
      return absl::OkStatus();
    }
    return Error(
        absl::StrCat("unsupported option \"", opt, "\" for -j ", target_));
  }

  // -j LOG changes nothing on the packet's path; its options are only read.
  absl::Status LogOption(const std::string& opt) {
    if (opt == "--log-prefix") {
      absl::StatusOr<std::string> v = Value(opt);
      if (!v.ok()) return v.status();
      Canon(opt, IptablesQuote(*v), false);
      return absl::OkStatus();
    }
    if (opt == "--log-level") return LogLevel(opt);
    if (OneOf(opt, {"--log-tcp-sequence", "--log-tcp-options",
                    "--log-ip-options", "--log-uid", "--log-macdecode"})) {
      Canon(opt, "", false);
      return absl::OkStatus();
    }
    return Error(absl::StrCat("unsupported option \"", opt, "\" for -j LOG"));
  }

  // iptables-save prints the level as a number, and not the default 4.
  absl::Status LogLevel(const std::string& opt) {
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    static constexpr const char* kLevels[] = {"emerg", "alert",   "crit",
                                              "error", "warning", "notice",
                                              "info",  "debug"};
    std::string lower = absl::AsciiStrToLower(*v);
    int level = -1;
    for (int i = 0; i < 8; ++i) {
      if (lower == kLevels[i] || lower == std::to_string(i)) level = i;
    }
    if (lower == "err") level = 3;
    if (lower == "warn") level = 4;
    if (level < 0) {
      return Error(absl::StrCat("invalid --log-level \"", *v, "\""));
    }
    if (level != 4) Canon(opt, std::to_string(level), false);
    return absl::OkStatus();
  }

  // --reject-with TYPE: the ICMP error (or TCP reset) the sender gets; the
  // packet is dropped either way.
  absl::Status RejectWith(const std::string& opt) {
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    static const auto* v4 = new std::map<std::string, std::string>{
        {"icmp-net-unreachable", "icmp-net-unreachable"},
        {"net-unreach", "icmp-net-unreachable"},
        {"icmp-host-unreachable", "icmp-host-unreachable"},
        {"host-unreach", "icmp-host-unreachable"},
        {"icmp-port-unreachable", "icmp-port-unreachable"},
        {"port-unreach", "icmp-port-unreachable"},
        {"icmp-proto-unreachable", "icmp-proto-unreachable"},
        {"proto-unreach", "icmp-proto-unreachable"},
        {"icmp-net-prohibited", "icmp-net-prohibited"},
        {"net-prohib", "icmp-net-prohibited"},
        {"icmp-host-prohibited", "icmp-host-prohibited"},
        {"host-prohib", "icmp-host-prohibited"},
        {"icmp-admin-prohibited", "icmp-admin-prohibited"},
        {"admin-prohib", "icmp-admin-prohibited"},
        {"tcp-reset", "tcp-reset"},
        {"tcp-rst", "tcp-reset"}};
    static const auto* v6 = new std::map<std::string, std::string>{
        {"icmp6-no-route", "icmp6-no-route"},
        {"no-route", "icmp6-no-route"},
        {"icmp6-adm-prohibited", "icmp6-adm-prohibited"},
        {"adm-prohibited", "icmp6-adm-prohibited"},
        {"icmp6-addr-unreachable", "icmp6-addr-unreachable"},
        {"addr-unreach", "icmp6-addr-unreachable"},
        {"icmp6-port-unreachable", "icmp6-port-unreachable"},
        {"port-unreach", "icmp6-port-unreachable"},
        {"icmp6-policy-fail", "icmp6-policy-fail"},
        {"policy-fail", "icmp6-policy-fail"},
        {"icmp6-reject-route", "icmp6-reject-route"},
        {"reject-route", "icmp6-reject-route"},
        {"tcp-reset", "tcp-reset"}};
    const auto& names = family_ == IpFamily::kV4 ? *v4 : *v6;
    auto it = names.find(*v);
    if (it == names.end()) {
      return Error(absl::StrCat("invalid --reject-with \"", *v, "\""));
    }
    reject_with_ = it->second;
    return absl::OkStatus();
  }

  // -j CONNMARK: --set-xmark/--set-mark/--and-mark/--or-mark/--xor-mark set
  // the connection's mark; --save-mark and --restore-mark copy it with
  // --nfmask/--ctmask (or --mask for both).
  absl::Status ConnmarkTargetOption(const std::string& opt, Action* a) {
    if (opt == "--save-mark" || opt == "--restore-mark") {
      a->kind = Action::Kind::kCopyMark;
      a->copy_to_conn = opt == "--save-mark";
      a->mark_mask = a->copy_mask = 0xffffffffu;
      connmark_set_ = true;
      return absl::OkStatus();
    }
    if (OneOf(opt, {"--nfmask", "--ctmask", "--mask"})) {
      if (a->kind != Action::Kind::kCopyMark) {
        return Error(opt + " needs --save-mark or --restore-mark before it");
      }
      absl::StatusOr<std::string> v = Value(opt);
      if (!v.ok()) return v.status();
      uint32_t m, unused;
      absl::Status s = ParseMarkMask(*v, &m, &unused);
      if (!s.ok()) return s;
      // save: ct = (ct & ~ctmask) ^ (mark & nfmask); restore the other way.
      bool to_mask = opt == "--mask" || (opt == "--ctmask") == a->copy_to_conn;
      bool from_mask =
          opt == "--mask" || (opt == "--nfmask") == a->copy_to_conn;
      if (to_mask) a->mark_mask = m;
      if (from_mask) a->copy_mask = m;
      return absl::OkStatus();
    }
    size_t canon_size = canonical_.size();
    absl::Status s = MarkTargetOption(opt, a);
    if (!s.ok()) return s;
    canonical_.resize(canon_size);  // printed as --set-xmark in Finish
    a->kind = Action::Kind::kSetCtMark;
    connmark_set_ = true;
    return absl::OkStatus();
  }

  // DNAT --to-destination / SNAT --to-source: one address, optional port.
  absl::Status NatAddressOption(const std::string& opt, Action* a) {
    if (a->nat_address) return Error(absl::StrCat("more than one ", opt));
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    absl::Status s = ParseNatRange(*v, family_, a);
    if (!s.ok()) {
      return Error(absl::StrCat("unsupported ", opt, " \"", *v, "\" (IPv",
                                FamilyName(family_),
                                " address[-address][:port[-port]])"));
    }
    bool dnat = a->kind == Action::Kind::kDnat;
    Canon(opt == "--to" ? (dnat ? "--to-destination" : "--to-source") : opt, *v,
          false);
    return absl::OkStatus();
  }

  // -j MARK: every option composes into mark = (mark & ~mask) ^ xor.
  absl::Status MarkTargetOption(const std::string& opt, Action* a) {
    absl::StatusOr<std::string> v = Value(opt);
    if (!v.ok()) return v.status();
    uint32_t value, mask;
    if (opt == "--set-xmark" || opt == "--set-mark") {
      absl::Status s = ParseMarkMask(*v, &value, &mask);
      if (!s.ok()) return s;
      // --set-mark zeroes the mask bits, then ORs the value: as xmark,
      // mask|value.
      a->mark_mask = opt == "--set-mark" ? mask | value : mask;
      a->mark_xor = value;
    } else if (OneOf(opt, {"--or-mark", "--and-mark", "--xor-mark"})) {
      absl::Status s = ParseMarkMask(*v, &value, &mask);
      if (!s.ok() || mask != 0xffffffffu) {
        return Error(absl::StrCat("invalid ", opt, " \"", *v, "\""));
      }
      a->mark_mask = opt == "--or-mark"    ? value
                     : opt == "--and-mark" ? ~value
                                           : 0;
      a->mark_xor = opt == "--and-mark" ? 0 : value;
    } else {
      return Error(
          absl::StrCat("unsupported option \"", opt, "\" for -j MARK"));
    }
    Canon(opt, *v, false);
    mark_set_ = true;
    return absl::OkStatus();
  }

  // The end-of-rule checks and defaults of the long-tail targets and of
  // --limit-iface-in/out.
  absl::Status FinishLongTail() {
    if (!limit_iface_.empty()) {
      bool in = limit_iface_ == "--limit-iface-in";
      for (Match& m : rule_.matches) {
        for (Field& f : m.fields) {
          if (f == Field::kDstAddrType) {
            f = in ? Field::kDstAddrTypeIif : Field::kDstAddrTypeOif;
          } else if (f == Field::kSrcAddrType) {
            f = in ? Field::kSrcAddrTypeIif : Field::kSrcAddrTypeOif;
          }
        }
      }
    }
    if (target_ == "REJECT") {
      if (reject_with_.empty()) {
        reject_with_ = family_ == IpFamily::kV4 ? "icmp-port-unreachable"
                                                : "icmp6-port-unreachable";
      }
      if (reject_with_ == "tcp-reset" && protocol_ != "tcp") {
        return Error("--reject-with tcp-reset needs -p tcp");
      }
      Canon("--reject-with", reject_with_, false);
    }
    if (target_ == "CT" &&
        rule_.actions.back().kind != Action::Kind::kNotrack) {
      return Error("-j CT is modelled only with --notrack");
    }
    if (target_ == "CONNMARK" && !connmark_set_) {
      return Error(
          "-j CONNMARK needs --set-xmark, --set-mark, --save-mark or "
          "--restore-mark");
    }
    if (target_ == "CONNMARK") CanonConnmark(rule_.actions.back());
    const Action* a = rule_.actions.empty() ? nullptr : &rule_.actions.back();
    if (a != nullptr && a->nat_port != 0 && !IsPortProtocol(protocol_) &&
        (a->kind == Action::Kind::kRedirect ||
         a->kind == Action::Kind::kMasquerade)) {
      return Error(absl::StrCat("-j ", target_,
                                " --to-ports needs -p tcp, udp or sctp"));
    }
    return absl::OkStatus();
  }

  // -m set [!] --match-set NAME src|dst[,...]: resolved against the ipsets
  // by the Simulator, which knows them.
  absl::Status MatchSetOption(const std::string& opt, bool neg) {
    absl::StatusOr<std::string> name = Value(opt);
    if (!name.ok()) return name.status();
    absl::StatusOr<std::string> flags = Value(opt);
    if (!flags.ok()) return flags.status();
    Match m;
    m.set_name = *name;
    for (absl::string_view f : absl::StrSplit(*flags, ',')) {
      if (f != "src" && f != "dst") {
        return Error(absl::StrCat("--match-set ", *name, " \"", *flags,
                                  "\": each dimension is src or dst"));
      }
      m.ipset_src.push_back(f == "src");
    }
    if (m.ipset_src.size() > 6) {
      return Error(absl::StrCat("--match-set ", *name, " \"", *flags,
                                "\": at most 6 dimensions"));
    }
    m.negate = neg;
    rule_.matches.push_back(std::move(m));
    Canon(opt, absl::StrCat(*name, " ", *flags), neg);
    return absl::OkStatus();
  }

  absl::Status ChanceOption(const std::string& opt, bool neg) {
    std::string value;
    if (ChanceOptionTakesValue(opt)) {
      absl::StatusOr<std::string> v = Value(opt);
      if (!v.ok()) return v.status();
      value = *v;
    }
    return sim::ChanceOption(&chance_.back(), opt, value, neg);
  }

  // Renders the chance modules' options where each was loaded, and adds
  // their matches last: the kernel tests them only when everything else
  // matched, and a walk branches the least that way.
  absl::Status FinishChanceModules() {
    if (Loaded("set") &&
        std::none_of(rule_.matches.begin(), rule_.matches.end(),
                     [](const Match& m) { return !m.ipset_src.empty(); })) {
      return Error("-m set needs --match-set NAME src|dst[,...]");
    }
    std::vector<std::vector<std::string>> canon(chance_.size());
    for (size_t i = 0; i < chance_.size(); ++i) {
      absl::StatusOr<Match> m = FinishChanceModule(chance_[i], &canon[i]);
      if (!m.ok()) return m.status();
      rule_.matches.push_back(*std::move(m));
    }
    for (size_t i = chance_.size(); i-- > 0;) {
      canonical_.insert(canonical_.begin() + chance_[i].canon_at,
                        canon[i].begin(), canon[i].end());
    }
    return absl::OkStatus();
  }

  // -j CONNMARK's options as iptables-save prints them.
  void CanonConnmark(const Action& a) {
    auto hex = [](uint32_t v) { return absl::StrCat("0x", absl::Hex(v)); };
    if (a.kind == Action::Kind::kSetCtMark) {
      Canon("--set-xmark", absl::StrCat(hex(a.mark_xor), "/", hex(a.mark_mask)),
            false);
      return;
    }
    bool save = a.copy_to_conn;
    Canon(save ? "--save-mark" : "--restore-mark", "", false);
    Canon("--nfmask", hex(save ? a.copy_mask : a.mark_mask), false);
    Canon("--ctmask", hex(save ? a.mark_mask : a.copy_mask), false);
  }

  // Checks what only the end of the rule can tell.
  absl::Status Finish() {
    absl::Status tail = FinishLongTail();
    if (!tail.ok()) return tail;
    // iptables-restore checks a protocol's match against -p once the rule
    // is complete, so "-m tcp -p tcp" (kube-proxy's order) is valid.
    for (const std::string& m : modules_) {
      if (IsPortProtocol(m) && protocol_ != m) {
        return Error(absl::StrCat("-m ", m, " needs -p ", m));
      }
    }
    if (rule_.actions.empty()) return absl::OkStatus();
    const Action& a = rule_.actions.back();
    if (a.kind == Action::Kind::kDnat && !a.nat_address) {
      return Error("-j DNAT needs --to-destination");
    }
    if (a.kind == Action::Kind::kSnat && !a.nat_address) {
      return Error("-j SNAT needs --to-source");
    }
    if (a.kind == Action::Kind::kSetMark && !mark_set_) {
      return Error("-j MARK needs --set-xmark or --set-mark");
    }
    if ((a.kind == Action::Kind::kDnat || a.kind == Action::Kind::kSnat) &&
        a.nat_port != 0 && !IsPortProtocol(protocol_)) {
      return Error(absl::StrCat("-j ", target_,
                                " with a port needs -p tcp, udp or sctp"));
    }
    return absl::OkStatus();
  }

  IpFamily family_;
  const std::vector<std::string>* tokens_ = nullptr;
  Rule rule_;
  size_t pos_ = 0;
  bool negate_ = false;
  bool has_target_ = false;
  bool mark_set_ = false;
  std::string target_;
  std::string protocol_;
  std::vector<std::string> modules_;
  std::string limit_iface_;  // "--limit-iface-in|out" or ""
  std::string reject_with_;  // -j REJECT --reject-with, canonical
  bool connmark_set_ = false;
  std::vector<std::string> header_[5];
  std::vector<std::string> canonical_;
  std::vector<ChanceModule> chance_;
};

absl::StatusOr<Rule> BuildRule(const std::vector<std::string>& tokens,
                               IpFamily family) {
  return RuleBuilder(family).Build(tokens);
}

// One iptables-restore session over a copy of the ruleset.
class Restore {
 public:
  Restore(const IptablesParseOptions& options, Ruleset* ruleset)
      : options_(options), family_(options.family), ruleset_(ruleset) {}

  absl::Status Run(absl::string_view text) {
    int line_no = 0;
    for (absl::string_view raw : absl::StrSplit(text, '\n')) {
      ++line_no;
      line_ = line_no;
      absl::string_view line = absl::StripAsciiWhitespace(raw);
      absl::Status s = Line(line);
      if (!s.ok()) {
        return absl::Status(s.code(),
                            absl::StrCat(options_.source, ":", line_no, ": ",
                                         s.message(), " in \"", line, "\""));
      }
    }
    if (in_table_) {
      return absl::InvalidArgumentError(
          absl::StrCat(options_.source, ":", line_no, ": table \"", table_name_,
                       "\" has no COMMIT"));
    }
    return absl::OkStatus();
  }

 private:
  struct PendingJump {
    std::string chain;
    std::string target;
    int line;
    std::string text;
  };

  absl::Status Line(absl::string_view line) {
    if (line.empty()) return absl::OkStatus();
    if (line.front() == '#') {
      FamilyComment(line);
      return absl::OkStatus();
    }
    if (line.front() == '*') return StartTable(line.substr(1));
    if (!in_table_) {
      return absl::InvalidArgumentError("command outside a *table block");
    }
    if (line == "COMMIT") {
      in_table_ = false;
      if (skipping_) {
        skipping_ = false;
        return absl::OkStatus();
      }
      return Commit();
    }
    if (skipping_) return absl::OkStatus();
    if (line.front() == ':') return Declare(line.substr(1));
    absl::StatusOr<std::vector<std::string>> tokens = SplitIptablesLine(line);
    if (!tokens.ok()) return tokens.status();
    std::vector<std::string>& t = *tokens;
    // iptables-save -c prints "[pkts:bytes]" before the command.
    if (!t.empty() && t[0].size() > 1 && t[0].front() == '[') {
      t.erase(t.begin());
    }
    if (t.empty()) return absl::OkStatus();
    return Command(t);
  }

  // A comment that says which family the tables after it are for.
  void FamilyComment(absl::string_view line) {
    if (absl::StartsWith(line, "# Generated by ip6tables-save")) {
      family_ = IpFamily::kV6;
    } else if (absl::StartsWith(line, "# Generated by iptables-save")) {
      family_ = IpFamily::kV4;
    } else if (line == "# family 4") {
      family_ = IpFamily::kV4;
    } else if (line == "# family 6") {
      family_ = IpFamily::kV6;
    }
  }

  // "*name": a table the simulator models starts from scratch, or with
  // --noflush from what the ruleset holds; mangle and security are skipped.
  absl::Status StartTable(absl::string_view name) {
    if (in_table_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table \"", table_name_, "\" started before COMMIT of the last"));
    }
    in_table_ = true;
    table_name_ = std::string(name);
    if (table_name_ != "nat" && table_name_ != "raw" &&
        table_name_ != "filter") {
      if (table_name_ != "mangle" && table_name_ != "security") {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown table \"", table_name_, "\""));
      }
      skipping_ = true;
      ruleset_->notes.push_back(
          absl::StrCat(options_.source, ":", line_, ": iptables table ",
                       table_name_, " (family ", FamilyName(family_),
                       ") ignored: the simulator models the nat, raw and "
                       "filter tables"));
      return absl::OkStatus();
    }
    TableFamily tf =
        family_ == IpFamily::kV4 ? TableFamily::kIp : TableFamily::kIp6;
    Table* existing = ruleset_->FindTable(Syntax::kIptables, tf, table_name_);
    if (existing != nullptr && options_.noflush) {
      table_ = *existing;
    } else {
      table_ = NewTable(table_name_, family_, options_.source);
    }
    pending_.clear();
    return absl::OkStatus();
  }

  absl::Status Declare(absl::string_view decl) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(decl, ' ', absl::SkipEmpty());
    if (parts.size() < 2) {
      return absl::InvalidArgumentError("chain declaration needs a policy");
    }
    std::string name(parts[0]);
    if (IsBuiltinChain(name)) {
      Chain& c = table_.chains[name];
      if (parts[1] == "ACCEPT") {
        c.policy_drop = false;
      } else if (parts[1] == "DROP") {
        c.policy_drop = true;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid policy \"", parts[1], "\" (ACCEPT or DROP)"));
      }
      return absl::OkStatus();
    }
    if (parts[1] != "-") {
      return absl::InvalidArgumentError(
          absl::StrCat("user chain \"", name, "\" declared with policy \"",
                       parts[1], "\" (only built-in chains have one)"));
    }
    absl::Status s = CheckChainName(name);
    if (!s.ok()) return s;
    Chain& c = table_.chains[name];
    c.name = name;
    c.rules.clear();  // --noflush flushes every declared user chain
    DropPending(name);
    return absl::OkStatus();
  }

  static absl::Status CheckChainName(absl::string_view name) {
    if (name.empty() || name.size() > 28 || name.front() == '-' ||
        name.front() == '!') {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid chain name \"", name, "\" (1..28 characters)"));
    }
    return absl::OkStatus();
  }

  void DropPending(absl::string_view chain) {
    pending_.erase(
        std::remove_if(pending_.begin(), pending_.end(),
                       [&](const PendingJump& p) { return p.chain == chain; }),
        pending_.end());
  }

  absl::StatusOr<Chain*> ExistingChain(const std::string& name) {
    auto it = table_.chains.find(name);
    if (it == table_.chains.end()) {
      return absl::NotFoundError(absl::StrCat("no chain \"", name, "\""));
    }
    return &it->second;
  }

  absl::Status Command(const std::vector<std::string>& t) {
    const std::string& cmd = t[0];
    if (OneOf(cmd, {"-A", "--append", "-I", "--insert", "-D", "--delete", "-R",
                    "--replace"})) {
      return RuleCommand(t);
    }
    if (OneOf(cmd, {"-N", "--new-chain", "--new"})) return NewChain(t);
    if (cmd == "-X" || cmd == "--delete-chain") return DeleteChains(t);
    if (cmd == "-F" || cmd == "--flush") return FlushChains(t);
    if (cmd == "-P" || cmd == "--policy") return SetPolicy(t);
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported command \"", cmd, "\""));
  }

  // The chain name after the command.
  static absl::StatusOr<std::string> ChainArg(
      const std::vector<std::string>& t) {
    if (t.size() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(t[0], " needs a chain name"));
    }
    return t[1];
  }

  // -A/-I/-D/-R CHAIN [NUMBER] [RULE]: -D takes a rule or a number, -I and
  // -R a number, -A none.
  absl::Status RuleCommand(const std::vector<std::string>& t) {
    const std::string& cmd = t[0];
    absl::StatusOr<std::string> name = ChainArg(t);
    if (!name.ok()) return name.status();
    absl::StatusOr<Chain*> chain = ExistingChain(*name);
    if (!chain.ok()) return chain.status();
    long number = 0;
    bool has_number = t.size() > 2 && absl::SimpleAtoi(t[2], &number);
    std::vector<std::string> spec(t.begin() + (has_number ? 3 : 2), t.end());
    std::vector<Rule>& rules = (*chain)->rules;
    bool is_delete = cmd == "-D" || cmd == "--delete";
    if (is_delete && has_number && spec.empty()) {
      return DeleteRuleNumber(*name, number, &rules);
    }
    absl::StatusOr<Rule> rule = BuildRule(spec, family_);
    if (rule.ok()) {
      absl::Status valid = CheckValidHere(*name, *rule);
      if (!valid.ok()) return valid;
    }
    if (!rule.ok() && table_.name == "filter" && !is_delete) {
      // Filter tables of real hosts hold much the simulator does not
      // model; such a rule makes a walk refuse only when it reaches it.
      Rule placeholder;
      placeholder.text = absl::StrJoin(spec, " ");
      placeholder.unsupported = std::string(rule.status().message());
      rule = std::move(placeholder);
    }
    if (!rule.ok()) return rule.status();
    if (is_delete) return DeleteRule(*name, rule->text, &rules);
    for (const Action& a : rule->actions) {
      if (a.kind == Action::Kind::kJump || a.kind == Action::Kind::kGoto) {
        pending_.push_back({*name, a.chain, line_, rule->text});
      }
    }
    return PlaceRule(cmd, *name, has_number, number, &rules, *std::move(rule));
  }

  // What the kernel refuses to load by table or built-in chain: REJECT
  // outside filter, NOTRACK/CT outside raw, REDIRECT outside nat, -m owner
  // in PREROUTING, INPUT or FORWARD. (A user chain is checked when a walk
  // reaches it.)
  absl::Status CheckValidHere(const std::string& chain, const Rule& rule) {
    for (const Action& a : rule.actions) {
      const char* table = a.kind == Action::Kind::kReject     ? "filter"
                          : a.kind == Action::Kind::kNotrack  ? "raw"
                          : a.kind == Action::Kind::kRedirect ? "nat"
                                                              : nullptr;
      if (table != nullptr && table_.name != table) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the target of \"", rule.text, "\" is valid only in table ", table,
            " (the kernel refuses it in ", table_.name, ")"));
      }
    }
    bool owner_invalid =
        chain == "PREROUTING" || chain == "INPUT" || chain == "FORWARD";
    for (const Match& m : rule.matches) {
      // Chance and ipset matches have no fields.
      if (owner_invalid && !m.fields.empty() &&
          (m.fields[0] == Field::kSkUid || m.fields[0] == Field::kSkGid)) {
        return absl::InvalidArgumentError(
            absl::StrCat("-m owner is valid only in OUTPUT and POSTROUTING, "
                         "not ",
                         chain));
      }
    }
    return absl::OkStatus();
  }

  static absl::Status DeleteRuleNumber(const std::string& chain, long number,
                                       std::vector<Rule>* rules) {
    if (number < 1 || number > static_cast<long>(rules->size())) {
      return absl::NotFoundError(
          absl::StrCat("-D ", chain, " ", number, ": no such rule number"));
    }
    rules->erase(rules->begin() + (number - 1));
    return absl::OkStatus();
  }

  // -D CHAIN RULE: the first rule of the same canonical text.
  static absl::Status DeleteRule(const std::string& chain,
                                 const std::string& text,
                                 std::vector<Rule>* rules) {
    for (auto it = rules->begin(); it != rules->end(); ++it) {
      if (it->text == text) {
        rules->erase(it);
        return absl::OkStatus();
      }
    }
    return absl::NotFoundError(
        absl::StrCat("-D ", chain, ": no rule \"", text, "\" to delete"));
  }

  // Appends (-A), inserts at a number (-I, default 1) or replaces the rule
  // at a number (-R).
  static absl::Status PlaceRule(const std::string& cmd,
                                const std::string& chain, bool has_number,
                                long number, std::vector<Rule>* rules,
                                Rule rule) {
    long size = static_cast<long>(rules->size());
    if (cmd == "-A" || cmd == "--append") {
      if (has_number) {
        return absl::InvalidArgumentError("-A takes no rule number");
      }
      rules->push_back(std::move(rule));
    } else if (cmd == "-I" || cmd == "--insert") {
      if (!has_number) number = 1;
      if (number < 1 || number > size + 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "-I ", chain, " ", number, ": index of insertion too big"));
      }
      rules->insert(rules->begin() + (number - 1), std::move(rule));
    } else {
      if (!has_number || number < 1 || number > size) {
        return absl::InvalidArgumentError(
            absl::StrCat("-R ", chain, ": needs an existing rule number"));
      }
      (*rules)[number - 1] = std::move(rule);
    }
    return absl::OkStatus();
  }

  absl::Status NewChain(const std::vector<std::string>& t) {
    absl::StatusOr<std::string> name = ChainArg(t);
    if (!name.ok()) return name.status();
    absl::Status s = CheckChainName(*name);
    if (!s.ok()) return s;
    if (table_.chains.count(*name)) {
      return absl::AlreadyExistsError(
          absl::StrCat("-N ", *name, ": chain already exists"));
    }
    table_.chains[*name].name = *name;
    return absl::OkStatus();
  }

  // -X [CHAIN]: one user chain, or all of them.
  absl::Status DeleteChains(const std::vector<std::string>& t) {
    std::vector<std::string> names;
    if (t.size() > 1) {
      names.push_back(t[1]);
    } else {
      for (const auto& [n, c] : table_.chains) {
        if (!IsBuiltinChain(n)) names.push_back(n);
      }
    }
    for (const std::string& n : names) {
      absl::Status s = DeleteChain(n);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // As the kernel: only an empty user chain that no other chain jumps to.
  absl::Status DeleteChain(const std::string& name) {
    if (IsBuiltinChain(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("-X ", name, ": cannot delete a built-in chain"));
    }
    absl::StatusOr<Chain*> chain = ExistingChain(name);
    if (!chain.ok()) return chain.status();
    if (!(*chain)->rules.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("-X ", name, ": chain is not empty"));
    }
    for (const auto& [other_name, other] : table_.chains) {
      for (const Rule& r : other.rules) {
        for (const Action& a : r.actions) {
          if (a.chain == name && other_name != name) {
            return absl::FailedPreconditionError(absl::StrCat(
                "-X ", name, ": chain is still referenced from ", other_name));
          }
        }
      }
    }
    table_.chains.erase(name);
    return absl::OkStatus();
  }

  // -F [CHAIN]: one chain, or every chain of the table.
  absl::Status FlushChains(const std::vector<std::string>& t) {
    if (t.size() > 1) {
      absl::StatusOr<Chain*> chain = ExistingChain(t[1]);
      if (!chain.ok()) return chain.status();
      (*chain)->rules.clear();
      DropPending(t[1]);
    } else {
      for (auto& [n, c] : table_.chains) c.rules.clear();
      pending_.clear();
    }
    return absl::OkStatus();
  }

  absl::Status SetPolicy(const std::vector<std::string>& t) {
    if (t.size() != 3 || !IsBuiltinChain(t[1])) {
      return absl::InvalidArgumentError(
          "-P needs a built-in chain and a policy");
    }
    if (t[2] != "ACCEPT" && t[2] != "DROP") {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid policy \"", t[2], "\" (ACCEPT or DROP)"));
    }
    table_.chains[t[1]].policy_drop = t[2] == "DROP";
    return absl::OkStatus();
  }

  absl::Status Commit() {
    // iptables-restore resolves targets when the table is committed; a rule
    // deleted or flushed since no longer needs its target.
    for (const PendingJump& p : pending_) {
      auto it = table_.chains.find(p.target);
      if (it == table_.chains.end() || IsBuiltinChain(p.target)) {
        bool still_there = false;
        auto chain = table_.chains.find(p.chain);
        if (chain != table_.chains.end()) {
          for (const Rule& r : chain->second.rules) {
            still_there = still_there || r.text == p.text;
          }
        }
        if (!still_there) continue;
        return absl::NotFoundError(
            absl::StrCat("line ", p.line, ": \"-j ", p.target,
                         "\" is neither a user chain of table ", table_.name,
                         " nor a supported target"));
      }
    }
    TableFamily tf = table_.family;
    Table* existing = ruleset_->FindTable(Syntax::kIptables, tf, table_.name);
    if (existing != nullptr) {
      *existing = std::move(table_);
    } else {
      ruleset_->tables.push_back(std::move(table_));
    }
    table_ = Table();
    return absl::OkStatus();
  }

  const IptablesParseOptions& options_;
  IpFamily family_;
  Ruleset* ruleset_;
  bool in_table_ = false;
  bool skipping_ = false;
  int line_ = 0;
  std::string table_name_;
  Table table_;
  std::vector<PendingJump> pending_;
};

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitIptablesLine(
    absl::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && absl::ascii_isspace(line[i])) ++i;
    if (i >= line.size()) break;
    std::string tok;
    bool quoted = false;
    while (i < line.size() && (quoted || !absl::ascii_isspace(line[i]))) {
      char c = line[i];
      if (c == '"') {
        quoted = !quoted;
        ++i;
      } else if (c == '\\' && quoted && i + 1 < line.size()) {
        tok.push_back(line[i + 1]);
        i += 2;
      } else {
        tok.push_back(c);
        ++i;
      }
    }
    if (quoted) {
      return absl::InvalidArgumentError("unterminated double quote");
    }
    out.push_back(std::move(tok));
  }
  return out;
}

std::string IptablesQuote(absl::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    plain = plain && (absl::ascii_isalnum(c) || c == '_' || c == '-');
  }
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

absl::Status ApplyIptablesRestore(absl::string_view text,
                                  const IptablesParseOptions& options,
                                  Ruleset* ruleset) {
  Ruleset copy = *ruleset;
  Restore restore(options, &copy);
  absl::Status s = restore.Run(text);
  if (!s.ok()) return s;
  *ruleset = std::move(copy);
  return absl::OkStatus();
}

absl::StatusOr<Ruleset> ParseIptablesSave(absl::string_view text,
                                          IpFamily family) {
  Ruleset ruleset;
  IptablesParseOptions options;
  options.family = family;
  absl::Status s = ApplyIptablesRestore(text, options, &ruleset);
  if (!s.ok()) return s;
  return ruleset;
}

absl::StatusOr<Rule> ParseIptablesRule(absl::string_view spec,
                                       IpFamily family) {
  absl::StatusOr<std::vector<std::string>> tokens = SplitIptablesLine(spec);
  if (!tokens.ok()) return tokens.status();
  return BuildRule(*tokens, family);
}

std::optional<IpFamily> GuessIptablesFamily(absl::string_view text) {
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line == "# family 4") return IpFamily::kV4;
    if (line == "# family 6") return IpFamily::kV6;
    if (absl::StartsWith(line, "# Generated by ip6tables-save")) {
      return IpFamily::kV6;
    }
    if (line.empty() || line.front() != '-') continue;
    absl::StatusOr<std::vector<std::string>> tokens = SplitIptablesLine(line);
    if (!tokens.ok()) continue;
    for (size_t i = 0; i + 1 < tokens->size(); ++i) {
      const std::string& t = (*tokens)[i];
      if (t != "-s" && t != "-d" && t != "--to-destination" &&
          t != "--to-source") {
        continue;
      }
      IpAddress a;
      uint16_t port;
      std::string value = (*tokens)[i + 1];
      value = value.substr(0, value.find('/'));
      value = value.substr(0, value.find(','));
      if (ParseEndpoint(value, true, &a, &port).ok()) return a.family();
    }
  }
  return std::nullopt;
}

std::string FormatIptablesSave(const Table& table) {
  std::string out = absl::StrCat("*", table.name, "\n");
  std::vector<const Chain*> order;
  for (const char* name : kBuiltinChains) {
    auto it = table.chains.find(name);
    if (it != table.chains.end()) order.push_back(&it->second);
  }
  for (const auto& [name, chain] : table.chains) {
    if (!IsBuiltinChain(name)) order.push_back(&chain);
  }
  for (const Chain* c : order) {
    absl::StrAppend(
        &out, ":", c->name, " ",
        IsBuiltinChain(c->name) ? (c->policy_drop ? "DROP" : "ACCEPT") : "-",
        " [0:0]\n");
  }
  for (const Chain* c : order) {
    for (const Rule& r : c->rules) {
      absl::StrAppend(&out, "-A ", c->name, " ", r.text, "\n");
    }
  }
  absl::StrAppend(&out, "COMMIT\n");
  return out;
}

bool LooksLikeIptablesText(absl::string_view text) {
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line.front() == '#') continue;
    return line.front() == '*';
  }
  return false;
}

}  // namespace sim
