#include "sim/nft_rule_parser.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace sim {
namespace nft {
namespace {

using Kind = Token::Kind;

bool IsFlagField(Field f) {
  return f == Field::kCtState || f == Field::kCtStatus;
}

std::vector<ValueType> Types(const std::vector<Field>& fields) {
  std::vector<ValueType> types;
  for (Field f : fields) types.push_back(FieldValueType(f));
  return types;
}

// The match nft adds before a selector that only exists for one protocol
// (`tcp dport` only matches TCP): the field holds `value`.
Match Dependency(Field field, ValueType type, ValuePattern value) {
  Match dep;
  dep.fields = {field};
  auto set = std::make_shared<ElementSet>(std::vector<ValueType>{type},
                                          std::vector<ValueType>{}, false);
  SetElement e;
  e.key.push_back(std::move(value));
  set->Add(std::move(e)).IgnoreError();
  dep.literal = set;
  return dep;
}

// Reads one rule, or one element block, from a cursor; the rule is built in
// rule_ as statements are read.
class RuleParser {
 public:
  RuleParser(TokenCursor* tokens, const Table& table)
      : tokens_(*tokens), table_(table) {}

  absl::StatusOr<Rule> Parse() {
    size_t begin = tokens_.position();
    while (!tokens_.AtEnd()) {
      absl::Status s = Statement();
      if (!s.ok()) return s;
    }
    rule_.text = tokens_.Text(begin, tokens_.position());
    if (!unshown_.empty()) {
      rule_.unsupported = unshown_;
      rule_.actions.clear();
    }
    return std::move(rule_);
  }

  absl::Status LiteralInto(ElementSet* set) {
    const Token& open = tokens_.Next();
    if (open.kind != Kind::kLBrace) return Unsupported(open, "expected \"{\"");
    while (true) {
      tokens_.SkipNewlines();
      if (tokens_.Peek().kind == Kind::kRBrace) {
        tokens_.Next();
        return absl::OkStatus();
      }
      absl::Status s = Element(set);
      if (!s.ok()) return s;
      tokens_.SkipNewlines();
      if (tokens_.Peek().kind == Kind::kComma) {
        tokens_.Next();
      } else if (tokens_.Peek().kind != Kind::kRBrace) {
        return Unsupported(tokens_.Peek(), "expected \",\" or \"}\"");
      }
    }
  }

 private:
  absl::Status Unsupported(const Token& t, absl::string_view what) const {
    return tokens_.Error(t, what);
  }

  bool HasV4() const { return table_.family != TableFamily::kIp6; }
  bool HasV6() const { return table_.family != TableFamily::kIp; }
  bool AtNamedSet() const {
    return tokens_.Peek().kind == Kind::kWord &&
           absl::StartsWith(tokens_.Peek().text, "@");
  }

  absl::Status AddMatch(Match m) {
    rule_.matches.push_back(std::move(m));
    return absl::OkStatus();
  }
  absl::Status AddAction(Action a) {
    rule_.actions.push_back(std::move(a));
    return absl::OkStatus();
  }

  absl::Status Statement() {
    const Token& t = tokens_.Peek();
    if (t.kind == Kind::kString) return Unsupported(t, "unexpected string");
    if (t.kind != Kind::kWord) return Unsupported(t, "unexpected token");
    const std::string& w = t.text;
    if (w == "counter") {
      tokens_.Next();
      if (tokens_.Peek().Is("name")) {  // a named counter: counts only
        tokens_.Next();
        tokens_.Next();
      }
      SkipCounterValues();
      return absl::OkStatus();
    }
    bool handled = false;
    absl::Status tail = LongTailStatement(&handled);
    if (handled || !tail.ok()) return tail;
    if (w == "comment") {
      tokens_.Next();
      if (tokens_.Next().kind != Kind::kString) {
        return Unsupported(t, "comment needs a quoted string");
      }
      return absl::OkStatus();
    }
    if (w == "accept" || w == "drop" || w == "return" || w == "continue") {
      return FinalVerdict();
    }
    if (w == "jump" || w == "goto") return JumpOrGoto();
    if (w == "xt") return XtStatement();
    if (w == "dnat" || w == "snat") return Nat();
    if (w == "masquerade") return Masquerade();
    if (w == "limit") return Limit();
    if ((w == "update" || w == "add") && tokens_.Peek(1).kind == Kind::kWord &&
        absl::StartsWith(tokens_.Peek(1).text, "@")) {
      return SetUpdate();
    }
    if ((w == "meta" && tokens_.Peek(1).Is("mark") &&
         tokens_.Peek(2).Is("set")) ||
        (w == "mark" && tokens_.Peek(1).Is("set"))) {
      if (w == "meta") tokens_.Next();
      tokens_.Next();
      tokens_.Next();
      return MarkSet();
    }
    return Relation();
  }

  // `xt match|target "NAME"`: how newer nft lists an iptables-nft match or
  // target it cannot translate. The rule keeps what nft did show and is
  // refused where that holds (see Parse).
  absl::Status XtStatement() {
    const Token& xt = tokens_.Next();
    const Token& what = tokens_.Next();
    const Token& name = tokens_.Next();
    if ((!what.Is("match") && !what.Is("target")) ||
        name.kind != Kind::kString) {
      return Unsupported(xt, "expected xt match|target \"NAME\"");
    }
    if (unshown_.empty()) {
      unshown_ = absl::StrCat(
          "line ", xt.line, ": iptables-nft xt ", what.text, " \"", name.text,
          "\" that nft could not translate: what the rule does is unknown; "
          "give the table's iptables-save text");
    }
    return absl::OkStatus();
  }

  // reject, log, notrack, redirect, ct mark set, ip|ip6 version: the
  // statements and matches of the long tail (issue 12). Sets *handled.
  absl::Status LongTailStatement(bool* handled) {
    const Token& t = tokens_.Peek();
    *handled = true;
    if (t.Is("reject")) return Reject();
    if (t.Is("log")) return Log();
    if (t.Is("notrack")) {
      tokens_.Next();
      Action a;
      a.kind = Action::Kind::kNotrack;
      return AddAction(std::move(a));
    }
    if (t.Is("redirect")) return Redirect();
    if (t.Is("ct") && tokens_.Peek(1).Is("mark") && tokens_.Peek(2).Is("set")) {
      tokens_.Next();
      tokens_.Next();
      tokens_.Next();
      return CtMarkSet();
    }
    if ((t.Is("ip") || t.Is("ip6")) && tokens_.Peek(1).Is("version")) {
      return IpVersion();
    }
    *handled = false;
    return absl::OkStatus();
  }

  // "reject [with icmp|icmpv6|icmpx [type] NAME | with tcp reset]": the
  // packet is dropped and the sender told. nft adds the protocol the reply
  // needs as a match (verified with nft --debug=netlink).
  absl::Status Reject() {
    tokens_.Next();
    if (tokens_.Peek().Is("with")) {
      tokens_.Next();
      const Token& kind = tokens_.Next();
      if (kind.Is("tcp")) {
        if (!tokens_.Next().Is("reset")) {
          return Unsupported(kind, "expected \"tcp reset\"");
        }
        rule_.matches.push_back(
            Dependency(Field::kL4Proto, ValueType::kInetProto,
                       {ValuePattern::Kind::kExact,
                        EncodeNumber(ValueType::kInetProto, 6)}));
      } else if (kind.Is("icmp") || kind.Is("icmpv6") || kind.Is("icmpx")) {
        if (tokens_.Peek().Is("type")) tokens_.Next();
        if (tokens_.Next().kind != Kind::kWord) {
          return Unsupported(kind, "expected an ICMP type name");
        }
        absl::Status s = RejectFamily(kind);
        if (!s.ok()) return s;
      } else {
        return Unsupported(kind, "unsupported reject type");
      }
    }
    Action a;
    a.kind = Action::Kind::kReject;
    return AddAction(std::move(a));
  }

  // "with icmp" answers IPv4 only, "with icmpv6" IPv6 only.
  absl::Status RejectFamily(const Token& kind) {
    if (kind.Is("icmpx")) return absl::OkStatus();
    bool v4 = kind.Is("icmp");
    if ((v4 && !HasV4()) || (!v4 && !HasV6())) {
      return Unsupported(kind, "conflicting protocols: reject with " +
                                   kind.text + " in a " +
                                   TableFamilyName(table_.family) + " table");
    }
    if (table_.family == TableFamily::kInet) {
      rule_.matches.push_back(
          Dependency(Field::kNfProto, ValueType::kNfProto,
                     {ValuePattern::Kind::kExact,
                      EncodeNumber(ValueType::kNfProto, v4 ? 2 : 10)}));
    }
    return absl::OkStatus();
  }

  // "log [prefix S] [level L] [group N] [snaplen N] [queue-threshold N]
  // [flags ...]": changes nothing on the packet's path.
  absl::Status Log() {
    tokens_.Next();
    while (true) {
      const Token& t = tokens_.Peek();
      if (t.Is("prefix") || t.Is("level") || t.Is("group") || t.Is("snaplen") ||
          t.Is("queue-threshold")) {
        tokens_.Next();
        tokens_.Next();
      } else if (t.Is("flags")) {
        tokens_.Next();
        if (tokens_.Peek().Is("tcp") || tokens_.Peek().Is("ip")) {
          tokens_.Next();
        }
        tokens_.Next();
        while (tokens_.Peek().kind == Kind::kComma) {
          tokens_.Next();
          tokens_.Next();
        }
      } else {
        return absl::OkStatus();
      }
    }
  }

  // A port mapping (":P" or ":P-Q") needs a transport protocol match
  // before it, as nft says.
  absl::Status NatPorts(const Token& stmt, Action* a) {
    if (!tokens_.Peek().Is("to")) return absl::OkStatus();
    tokens_.Next();
    const Token& t = tokens_.Next();
    absl::string_view ports = t.text;
    if (!absl::ConsumePrefix(&ports, ":") || !ParseNatPorts(ports, a).ok()) {
      return Unsupported(t, "expected \":port[-port]\"");
    }
    bool has_proto = false;
    for (const Match& m : rule_.matches) {
      has_proto = has_proto || m.fields == std::vector<Field>{Field::kL4Proto};
    }
    if (!has_proto) {
      return Unsupported(stmt,
                         "a port mapping needs a transport protocol "
                         "match before it");
    }
    return absl::OkStatus();
  }

  absl::Status Redirect() {
    const Token& stmt = tokens_.Next();
    Action a;
    a.kind = Action::Kind::kRedirect;
    absl::Status s = NatPorts(stmt, &a);
    if (!s.ok()) return s;
    SkipNatFlags();
    return AddAction(std::move(a));
  }

  // After "ct mark set": a number, "ct mark OPS" or "[meta] mark [OPS]".
  absl::Status CtMarkSet() {
    Action a;
    if (tokens_.Peek().Is("ct") && tokens_.Peek(1).Is("mark")) {
      tokens_.Next();
      tokens_.Next();
      a.kind = Action::Kind::kSetCtMark;
      absl::Status s = MarkOperations(&a.mark_mask, &a.mark_xor);
      if (!s.ok()) return s;
      return AddAction(std::move(a));
    }
    if (tokens_.Peek().Is("meta") && tokens_.Peek(1).Is("mark")) tokens_.Next();
    if (tokens_.Peek().Is("mark")) {
      tokens_.Next();
      return CopyMark(/*to_conn=*/true);
    }
    absl::StatusOr<uint32_t> v = Number();
    if (!v.ok()) return v.status();
    a.kind = Action::Kind::kSetCtMark;
    a.mark_mask = 0xffffffffu;
    a.mark_xor = *v;
    return AddAction(std::move(a));
  }

  // The other mark, through optional "& | ^" operations, replaces this one.
  absl::Status CopyMark(bool to_conn) {
    uint32_t mask = 0, x = 0;
    const Token& op = tokens_.Peek();
    if (!tokens_.AtEnd() && (op.Is("&") || op.Is("|") || op.Is("^") ||
                             op.Is("and") || op.Is("or") || op.Is("xor"))) {
      absl::Status s = MarkOperations(&mask, &x);
      if (!s.ok()) return s;
    }
    Action a;
    a.kind = Action::Kind::kCopyMark;
    a.copy_to_conn = to_conn;
    a.mark_mask = 0xffffffffu;
    a.copy_mask = ~mask;
    a.mark_xor = x;
    return AddAction(std::move(a));
  }

  // "ip version [==|!=] N": the header's version, 4 for every packet an
  // ip expression sees (and 6 for ip6).
  absl::Status IpVersion() {
    const Token& t = tokens_.Next();
    tokens_.Next();
    bool v4 = t.Is("ip");
    if ((v4 && !HasV4()) || (!v4 && !HasV6())) {
      return Unsupported(
          t, absl::StrCat(t.text, " expression in a ",
                          TableFamilyName(table_.family), " table"));
    }
    bool negate = false;
    if (tokens_.Peek().Is("==") || tokens_.Peek().Is("!=")) {
      negate = tokens_.Next().Is("!=");
    }
    const Token& value = tokens_.Next();
    uint32_t n;
    if (!absl::SimpleAtoi(value.text, &n) || n > 15) {
      return Unsupported(value, "expected a version number 0..15");
    }
    bool always = (n == (v4 ? 4u : 6u)) != negate;
    // The family's own dependency; a version that never matches compares
    // nfproto with a value no packet has.
    rule_.matches.push_back(Dependency(
        Field::kNfProto, ValueType::kNfProto,
        {ValuePattern::Kind::kExact,
         EncodeNumber(ValueType::kNfProto, always ? (v4 ? 2 : 10) : 0)}));
    return absl::OkStatus();
  }

  // One flag list: "syn", "syn,ack", "syn|ack", "(fin|syn)".
  absl::StatusOr<uint32_t> TcpFlagBits() {
    // The lexer makes "(" and ")" tokens of their own: "(fin|syn)".
    const bool group = tokens_.Peek().Is("(");
    if (group) tokens_.Next();
    uint32_t bits = 0;
    while (true) {
      const Token& t = tokens_.Next();
      absl::StatusOr<ValuePattern> p =
          ParseValuePattern(ValueType::kTcpFlag, t.text, false);
      if (t.kind != Kind::kWord || !p.ok()) {
        return Unsupported(t, "expected a TCP flag");
      }
      bits |= DecodeNumber(p->lo);
      const Token& sep = tokens_.Peek();
      if (group && sep.Is(")")) {
        tokens_.Next();
        return bits;
      }
      if (sep.kind != Kind::kComma && !sep.Is("|")) {
        if (group) return Unsupported(sep, "expected \")\" after TCP flags");
        return bits;
      }
      tokens_.Next();
    }
  }

  // "tcp flags F" (any of F), "== F", "!= F", "F / M" and "& M ==|!= F".
  absl::Status TcpFlagsMatch(Match m) {
    m.kind = Match::Kind::kBitwise;
    m.mask = 0xff;
    bool any = true;
    if (tokens_.Peek().Is("&")) {
      tokens_.Next();
      absl::StatusOr<uint32_t> mask = TcpFlagBits();
      if (!mask.ok()) return mask.status();
      m.mask = *mask;
      any = false;
    }
    if (tokens_.Peek().Is("==") || tokens_.Peek().Is("!=")) {
      m.negate = tokens_.Next().Is("!=");
      any = false;
    }
    absl::StatusOr<uint32_t> value = TcpFlagBits();
    if (!value.ok()) return value.status();
    if (tokens_.Peek().Is("/")) {
      tokens_.Next();
      absl::StatusOr<uint32_t> mask = TcpFlagBits();
      if (!mask.ok()) return mask.status();
      m.mask = *mask;
      any = false;
    }
    m.value = *value & m.mask;
    if (any) {  // implicit: any of these bits
      m.mask = *value;
      m.value = 0;
      m.negate = true;
    }
    return AddMatch(std::move(m));
  }

  // After "counter": the "packets N bytes N" that `nft list` prints.
  void SkipCounterValues() {
    if (!tokens_.Peek().Is("packets")) return;
    tokens_.Next();
    tokens_.Next();
    if (tokens_.Peek().Is("bytes")) {
      tokens_.Next();
      tokens_.Next();
    }
  }

  // accept, drop, return or continue.
  absl::Status FinalVerdict() {
    const std::string& w = tokens_.Next().text;
    Action a;
    a.kind = w == "accept"   ? Action::Kind::kAccept
             : w == "drop"   ? Action::Kind::kDrop
             : w == "return" ? Action::Kind::kReturn
                             : Action::Kind::kContinue;
    return AddAction(std::move(a));
  }

  absl::Status JumpOrGoto() {
    bool jump = tokens_.Next().Is("jump");
    absl::StatusOr<std::string> chain = tokens_.ExpectWord("a chain name");
    if (!chain.ok()) return chain.status();
    Action a;
    a.kind = jump ? Action::Kind::kJump : Action::Kind::kGoto;
    a.chain = *chain;
    return AddAction(std::move(a));
  }

  // The flags only change which port is picked on a clash.
  void SkipNatFlags() {
    while (tokens_.Peek().Is("persistent") || tokens_.Peek().Is("random") ||
           tokens_.Peek().Is("fully-random")) {
      tokens_.Next();
      if (tokens_.Peek().kind == Kind::kComma) tokens_.Next();
    }
  }

  absl::Status Masquerade() {
    const Token& stmt = tokens_.Next();
    Action a;
    a.kind = Action::Kind::kMasquerade;
    a.nat_family =
        table_.family == TableFamily::kIp6 ? IpFamily::kV6 : IpFamily::kV4;
    a.nat_either_family = table_.family == TableFamily::kInet;
    SkipNatFlags();
    absl::Status s = NatPorts(stmt, &a);
    if (!s.ok()) return s;
    SkipNatFlags();
    return AddAction(std::move(a));
  }

  // A selector the rule can test: one field, plus the dependency nft adds
  // implicitly (`tcp dport` only matches TCP).
  absl::Status Selector(std::vector<Field>* fields,
                        std::vector<Match>* dependencies) {
    const Token& t = tokens_.Next();
    std::string w = t.kind == Kind::kWord ? t.text : "";
    if (w == "ip" || w == "ip6") return IpSelector(t, fields, dependencies);
    if (w == "meta") return MetaSelector(t, fields);
    if (w == "iifname") {
      fields->push_back(Field::kInIface);
      return absl::OkStatus();
    }
    if (w == "oifname") {
      fields->push_back(Field::kOutIface);
      return absl::OkStatus();
    }
    if ((w == "iif" || w == "oif") && AtInterfaceIndex()) {
      return Unsupported(t, "iif/oif by interface index");
    }
    if (w == "iif" || w == "oif" || w == "pkttype") {
      fields->push_back(w == "iif"   ? Field::kInIface
                        : w == "oif" ? Field::kOutIface
                                     : Field::kPktType);
      return absl::OkStatus();
    }
    if (w == "mark") {
      fields->push_back(Field::kMark);
      return absl::OkStatus();
    }
    if (w == "tcp" || w == "udp" || w == "sctp" || w == "th") {
      return TransportSelector(t, fields, dependencies);
    }
    if (w == "fib") return FibSelector(t, fields);
    if (w == "ct") return CtSelector(t, fields);
    if (w == "numgen") return NumgenSelector(t, fields);
    return Unsupported(t, "unsupported expression or statement");
  }

  // Whether the value after iif/oif is a number: an interface index, which
  // the host model does not know (nft lists existing ones by name).
  bool AtInterfaceIndex() const {
    const Token& v = tokens_.Peek().Is("==") || tokens_.Peek().Is("!=")
                         ? tokens_.Peek(1)
                         : tokens_.Peek();
    uint32_t n;
    return v.kind == Kind::kWord && absl::SimpleAtoi(v.text, &n);
  }

  // "numgen random|inc mod N [offset O]": one per expression, kept in
  // numgen_ until the match or statement that uses it takes it.
  absl::Status NumgenSelector(const Token& t, std::vector<Field>* fields) {
    std::string mode = SelectorField();
    if ((mode != "random" && mode != "inc") || !tokens_.Peek().Is("mod")) {
      return Unsupported(t, "unsupported numgen (numgen random|inc mod N)");
    }
    if (numgen_.modulus != 0) {
      return Unsupported(t, "two numgen expressions in one key");
    }
    tokens_.Next();
    uint32_t modulus = 0, offset = 0;
    const Token& n = tokens_.Next();
    if (!absl::SimpleAtoi(n.text, &modulus) || modulus == 0) {
      return Unsupported(n, "numgen mod needs a number 1..2^32-1");
    }
    if (tokens_.Peek().Is("offset")) {
      tokens_.Next();
      const Token& o = tokens_.Next();
      if (!absl::SimpleAtoi(o.text, &offset)) {
        return Unsupported(o, "numgen offset needs a 32-bit number");
      }
    }
    numgen_.random = mode == "random";
    numgen_.modulus = modulus;
    numgen_.offset = offset;
    fields->push_back(Field::kNumgen);
    return absl::OkStatus();
  }

  // The numgen read by the last selector, handed to its user once.
  Numgen TakeNumgen() {
    Numgen g = numgen_;
    numgen_ = Numgen();
    return g;
  }

  // "limit rate [over] N/unit [burst N packets|bytes]": the token bucket is
  // state the walk cannot know, so it matches with unknown probability.
  absl::Status Limit() {
    const Token& start = tokens_.Next();
    if (!tokens_.Peek().Is("rate")) {
      return Unsupported(start, "unsupported limit (limit rate ...)");
    }
    tokens_.Next();
    size_t begin = tokens_.position();
    if (tokens_.Peek().Is("over")) tokens_.Next();
    const Token& rate = tokens_.Next();
    if (rate.kind != Kind::kWord || !absl::ascii_isdigit(rate.text[0])) {
      return Unsupported(rate, "limit rate needs N/second|minute|...");
    }
    // "N/second" or "N bytes/second": the lexer may split at "/".
    while (!tokens_.AtEnd() && tokens_.Peek().kind == Kind::kWord &&
           (tokens_.Peek().Is("/") ||
            absl::StartsWith(tokens_.Peek().text, "/") ||
            tokens_.Peek().Is("second") || tokens_.Peek().Is("minute") ||
            tokens_.Peek().Is("hour") || tokens_.Peek().Is("day") ||
            tokens_.Peek().Is("week") || tokens_.Peek().Is("bytes") ||
            tokens_.Peek().Is("kbytes") || tokens_.Peek().Is("mbytes"))) {
      tokens_.Next();
    }
    if (tokens_.Peek().Is("burst")) {
      tokens_.Next();
      tokens_.Next();
      if (tokens_.Peek().Is("packets") || tokens_.Peek().Is("bytes") ||
          tokens_.Peek().Is("kbytes") || tokens_.Peek().Is("mbytes")) {
        tokens_.Next();
      }
    }
    Match m;
    m.kind = Match::Kind::kChance;
    m.chance = -1;
    m.chance_what =
        absl::StrCat("limit rate ", tokens_.Text(begin, tokens_.position()));
    return AddMatch(std::move(m));
  }

  // "update|add @set { KEY [timeout T] }": adds to a set for later packets;
  // this packet's walk is unchanged.
  absl::Status SetUpdate() {
    tokens_.Next();
    const Token& t = tokens_.Next();
    absl::StatusOr<const ElementSet*> set = NamedSet(t);
    if (!set.ok()) return set.status();
    if (tokens_.Next().kind != Kind::kLBrace) {
      return Unsupported(t, "expected \"{\" after the set");
    }
    std::vector<Field> fields;
    std::vector<Match> deps;
    absl::Status s = Concat(&fields, &deps);
    if (!s.ok()) return s;
    if ((*set)->key_types() != Types(fields)) {
      return Unsupported(t, "key does not fit the set's type");
    }
    if (tokens_.Peek().Is("timeout")) {
      tokens_.Next();
      tokens_.Next();
    }
    if (tokens_.Next().kind != Kind::kRBrace) {
      return Unsupported(t, "expected \"}\" after the key");
    }
    return absl::OkStatus();
  }

  // The word after a selector's first ("saddr" in "ip saddr"), or "".
  std::string SelectorField() {
    return tokens_.Peek().kind == Kind::kWord ? tokens_.Next().text : "";
  }

  // ip|ip6 saddr|daddr, ip protocol, ip6 nexthdr.
  absl::Status IpSelector(const Token& t, std::vector<Field>* fields,
                          std::vector<Match>* dependencies) {
    const std::string& w = t.text;
    bool v4 = w == "ip";
    if ((v4 && !HasV4()) || (!v4 && !HasV6())) {
      return Unsupported(
          t, absl::StrCat(w, " expression in a ",
                          TableFamilyName(table_.family), " table"));
    }
    std::string f = SelectorField();
    if (f == "saddr") {
      fields->push_back(v4 ? Field::kSrcAddr4 : Field::kSrcAddr6);
    } else if (f == "daddr") {
      fields->push_back(v4 ? Field::kDstAddr4 : Field::kDstAddr6);
    } else if ((v4 && f == "protocol") || (!v4 && f == "nexthdr")) {
      fields->push_back(Field::kL4Proto);
      dependencies->push_back(
          Dependency(Field::kNfProto, ValueType::kNfProto,
                     {ValuePattern::Kind::kExact,
                      EncodeNumber(ValueType::kNfProto, v4 ? 2 : 10)}));
    } else {
      return Unsupported(
          t, absl::StrCat("unsupported expression \"", w, " ", f, "\""));
    }
    return absl::OkStatus();
  }

  absl::Status MetaSelector(const Token& t, std::vector<Field>* fields) {
    std::string f = SelectorField();
    if (f == "l4proto") {
      fields->push_back(Field::kL4Proto);
    } else if (f == "mark") {
      fields->push_back(Field::kMark);
    } else if (f == "iifname") {
      fields->push_back(Field::kInIface);
    } else if (f == "oifname") {
      fields->push_back(Field::kOutIface);
    } else if (f == "nfproto") {
      fields->push_back(Field::kNfProto);
    } else if (f == "pkttype") {
      fields->push_back(Field::kPktType);
    } else if (f == "skuid" || f == "skgid") {
      fields->push_back(f == "skuid" ? Field::kSkUid : Field::kSkGid);
    } else if (f == "iif" || f == "oif") {  // by name, resolved at load
      if (AtInterfaceIndex()) {
        return Unsupported(t, "iif/oif by interface index");
      }
      fields->push_back(f == "iif" ? Field::kInIface : Field::kOutIface);
    } else {
      return Unsupported(
          t, absl::StrCat("unsupported expression \"meta ", f, "\""));
    }
    return absl::OkStatus();
  }

  // tcp|udp|sctp|th dport|sport.
  absl::Status TransportSelector(const Token& t, std::vector<Field>* fields,
                                 std::vector<Match>* dependencies) {
    const std::string& w = t.text;
    std::string f = SelectorField();
    if (w == "tcp" && f == "flags") {
      fields->push_back(Field::kTcpFlags);
      dependencies->push_back(
          Dependency(Field::kL4Proto, ValueType::kInetProto,
                     {ValuePattern::Kind::kExact,
                      EncodeNumber(ValueType::kInetProto, 6)}));
      return absl::OkStatus();
    }
    if (f != "dport" && f != "sport") {
      return Unsupported(
          t, absl::StrCat("unsupported expression \"", w, " ", f, "\""));
    }
    fields->push_back(f == "dport" ? Field::kDstPort : Field::kSrcPort);
    if (w != "th") {
      absl::StatusOr<ValuePattern> proto =
          ParseValuePattern(ValueType::kInetProto, w, false);
      dependencies->push_back(
          Dependency(Field::kL4Proto, ValueType::kInetProto, *proto));
    }
    return absl::OkStatus();
  }

  absl::Status FibSelector(const Token& t, std::vector<Field>* fields) {
    std::string f = SelectorField();
    if ((f != "daddr" && f != "saddr") || !tokens_.Peek().Is("type")) {
      return Unsupported(t,
                         "unsupported fib expression (fib daddr|saddr type)");
    }
    tokens_.Next();
    fields->push_back(f == "daddr" ? Field::kDstAddrType : Field::kSrcAddrType);
    return absl::OkStatus();
  }

  absl::Status CtSelector(const Token& t, std::vector<Field>* fields) {
    std::string f = SelectorField();
    if (f == "mark") {
      fields->push_back(Field::kCtMark);
    } else if (f == "state") {
      fields->push_back(Field::kCtState);
    } else if (f == "status") {
      fields->push_back(Field::kCtStatus);
    } else {
      return Unsupported(t,
                         absl::StrCat("unsupported expression \"ct ", f, "\""));
    }
    return absl::OkStatus();
  }

  // Selectors joined by " . ".
  absl::Status Concat(std::vector<Field>* fields,
                      std::vector<Match>* dependencies) {
    absl::Status s = Selector(fields, dependencies);
    if (!s.ok()) return s;
    while (tokens_.Peek().Is(".")) {
      tokens_.Next();
      s = Selector(fields, dependencies);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // One element key "a . b . c" of the given types.
  absl::StatusOr<std::vector<ValuePattern>> Key(
      const std::vector<ValueType>& types) {
    std::vector<ValuePattern> key;
    for (size_t i = 0; i < types.size(); ++i) {
      if (i > 0) {
        if (!tokens_.Peek().Is(".")) {
          return Unsupported(tokens_.Peek(),
                             "expected \" . \" in a concatenation");
        }
        tokens_.Next();
      }
      const Token& t = tokens_.Next();
      if (t.kind != Kind::kWord && t.kind != Kind::kString) {
        return Unsupported(t, "expected a value");
      }
      absl::StatusOr<ValuePattern> p =
          ParseValuePattern(types[i], t.text, true);
      if (!p.ok()) return Unsupported(t, p.status().message());
      key.push_back(*std::move(p));
    }
    return key;
  }

  // The verdict of a verdict map element.
  absl::StatusOr<VerdictSpec> Verdict() {
    const Token& t = tokens_.Next();
    VerdictSpec v;
    if (t.Is("accept")) {
      v.kind = VerdictSpec::Kind::kAccept;
    } else if (t.Is("drop")) {
      v.kind = VerdictSpec::Kind::kDrop;
    } else if (t.Is("return")) {
      v.kind = VerdictSpec::Kind::kReturn;
    } else if (t.Is("continue")) {
      v.kind = VerdictSpec::Kind::kContinue;
    } else if (t.Is("jump") || t.Is("goto")) {
      v.kind =
          t.Is("jump") ? VerdictSpec::Kind::kJump : VerdictSpec::Kind::kGoto;
      absl::StatusOr<std::string> chain = tokens_.ExpectWord("a chain name");
      if (!chain.ok()) return chain.status();
      v.chain = *chain;
    } else {
      return Unsupported(t, "expected a verdict");
    }
    return v;
  }

  // Data of a NAT map element: an address, optionally " . port".
  absl::StatusOr<std::string> NatData(const std::vector<ValueType>& types) {
    absl::StatusOr<std::vector<ValuePattern>> key = Key(types);
    if (!key.ok()) return key.status();
    std::string data;
    for (const ValuePattern& p : *key) {
      if (p.kind != ValuePattern::Kind::kExact) {
        return Unsupported(tokens_.Peek(), "ranges in map data");
      }
      data += p.lo;
    }
    return data;
  }

  // "{ k1, k2 }" or "{ k1 : v1, ... }" into an anonymous set.
  absl::StatusOr<std::shared_ptr<ElementSet>> Literal(
      const std::vector<ValueType>& key_types,
      const std::vector<ValueType>& data_types, bool verdicts) {
    auto set = std::make_shared<ElementSet>(key_types, data_types, verdicts);
    absl::Status s = LiteralInto(set.get());
    if (!s.ok()) return s;
    return set;
  }

  // One element of a "{ ... }" block: its key, what nft prints after the key
  // (comment, timeout, counter) and, in a map, " : " and its data.
  absl::Status Element(ElementSet* set) {
    size_t start = tokens_.position();
    absl::StatusOr<std::vector<ValuePattern>> key = Key(set->key_types());
    if (!key.ok()) return key.status();
    SetElement e;
    e.key = *std::move(key);
    size_t key_end = tokens_.position();
    ElementAttributes(&e);
    if (set->is_map()) {
      absl::Status s = ElementData(*set, &e);
      if (!s.ok()) return s;
    }
    e.text = tokens_.Text(start, key_end);
    absl::Status s = set->Add(std::move(e));
    if (!s.ok()) {
      // A duplicate keeps its code: the kernel rejects it too.
      return absl::Status(s.code(),
                          Unsupported(tokens_.Peek(), s.message()).message());
    }
    return absl::OkStatus();
  }

  // Keeps the comment; timeouts and counters have no part in matching.
  void ElementAttributes(SetElement* e) {
    while (true) {
      if (tokens_.Peek().Is("comment") &&
          tokens_.Peek(1).kind == Kind::kString) {
        tokens_.Next();
        e->comment = tokens_.Next().text;
      } else if (tokens_.Peek().Is("timeout") || tokens_.Peek().Is("expires")) {
        tokens_.Next();
        tokens_.Next();
      } else if (tokens_.Peek().Is("counter")) {
        tokens_.Next();
        SkipCounterValues();
      } else {
        return;
      }
    }
  }

  absl::Status ElementData(const ElementSet& set, SetElement* e) {
    if (!tokens_.Peek().Is(":")) {
      return Unsupported(tokens_.Peek(), "expected \" : \"");
    }
    tokens_.Next();
    if (set.is_verdict_map()) {
      absl::StatusOr<VerdictSpec> v = Verdict();
      if (!v.ok()) return v.status();
      e->verdict = *v;
    } else {
      absl::StatusOr<std::string> d = NatData(set.data_types());
      if (!d.ok()) return d.status();
      e->data = *d;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<const ElementSet*> NamedSet(const Token& t) {
    std::string name = t.text.substr(1);
    auto unmodelled = table_.unsupported_sets.find(name);
    if (unmodelled != table_.unsupported_sets.end()) {
      return Unsupported(t, absl::StrCat("set \"", name, "\" is not modelled (",
                                         unmodelled->second, ")"));
    }
    auto it = table_.sets.find(name);
    if (it == table_.sets.end()) {
      return Unsupported(t, absl::StrCat("no set or map \"", name,
                                         "\" in table ", table_.Label()));
    }
    return &it->second;
  }

  absl::Status Relation() {
    const Token& start = tokens_.Peek();
    std::vector<Field> fields;
    std::vector<Match> deps;
    absl::Status s = Concat(&fields, &deps);
    if (!s.ok()) return s;
    for (Match& d : deps) rule_.matches.push_back(std::move(d));
    std::vector<ValueType> types = Types(fields);
    if (tokens_.Peek().Is("vmap")) return VerdictMap(fields, types);

    Match m;
    m.fields = fields;
    m.numgen = TakeNumgen();
    if (fields == std::vector<Field>{Field::kTcpFlags}) {
      return TcpFlagsMatch(std::move(m));
    }
    if (IsBitwiseOperator(tokens_.Peek())) {
      return BitwiseMatch(start, std::move(m));
    }
    const Token& op = tokens_.Peek();
    if (op.Is("==") || op.Is("!=")) {
      m.negate = tokens_.Next().Is("!=");
    } else if (op.Is("<") || op.Is(">") || op.Is("<=") || op.Is(">=")) {
      return Unsupported(op, "unsupported comparison operator");
    }
    if (AtNamedSet()) return NamedSetMatch(types, std::move(m));
    if (fields.size() == 1 && IsFlagField(fields[0])) {
      return FlagsMatch(std::move(m));
    }
    return ValueMatch(types, std::move(m));
  }

  // "SELECTOR vmap { k : verdict, ... }" or "SELECTOR vmap @m".
  absl::Status VerdictMap(const std::vector<Field>& fields,
                          const std::vector<ValueType>& types) {
    tokens_.Next();
    Action a;
    a.kind = Action::Kind::kVerdictMap;
    a.map_key = fields;
    a.numgen = TakeNumgen();
    if (AtNamedSet()) {
      const Token& t = tokens_.Next();
      absl::StatusOr<const ElementSet*> set = NamedSet(t);
      if (!set.ok()) return set.status();
      if (!(*set)->is_verdict_map() || (*set)->key_types() != types) {
        return Unsupported(t, "not a verdict map of the selector's type");
      }
      a.map_name = t.text.substr(1);
    } else {
      absl::StatusOr<std::shared_ptr<ElementSet>> lit =
          Literal(types, {}, true);
      if (!lit.ok()) return lit.status();
      a.literal_map = *std::move(lit);
    }
    return AddAction(std::move(a));
  }

  // "meta mark & m [==|!= v]", "ct status & dnat [== dnat]", "ct status &
  // dnat|snat == dnat", "ct status & (snat | dnat) | snat == dnat": the
  // operators fold, as nft stores them, into ((field & mask) ^ xor) compared
  // with a value. nft binds & before ^ before |, so they are read left to
  // right only while their precedence does not rise.
  absl::Status BitwiseMatch(const Token& start, Match m) {
    const std::vector<Field>& fields = m.fields;
    if (fields.size() != 1 ||
        (fields[0] != Field::kMark && fields[0] != Field::kCtMark &&
         !IsFlagField(fields[0]))) {
      return Unsupported(start, "bitwise operator on this expression");
    }
    uint32_t mask = 0xffffffffu, x = 0;
    int last = 3;
    while (true) {
      const Token& op = tokens_.Peek();
      // nft also spells them "and", "xor" and "or" (kube-proxy writes
      // "mark and 0x4000 == 0").
      int precedence = op.Is("&") || op.Is("and")   ? 3
                       : op.Is("^") || op.Is("xor") ? 2
                       : op.Is("|") || op.Is("or")  ? 1
                                                    : 0;
      if (precedence == 0) break;
      if (precedence > last) {
        return Unsupported(op, "bitwise operators of rising precedence");
      }
      last = precedence;
      tokens_.Next();
      absl::StatusOr<uint32_t> v = BitwiseOperand(fields[0]);
      if (!v.ok()) return v.status();
      if (precedence == 3) {
        mask &= *v;
        x &= *v;
      } else if (precedence == 2) {
        x ^= *v;
      } else {
        mask &= ~*v;
        x |= *v;
      }
    }
    m.kind = Match::Kind::kBitwise;
    m.mask = mask;
    m.xor_value = x;
    if (tokens_.Peek().Is("==") || tokens_.Peek().Is("!=")) {
      m.negate = tokens_.Next().Is("!=");
      absl::StatusOr<uint32_t> value = FlagsOrNumber(fields[0]);
      if (!value.ok()) return value.status();
      m.value = *value;
    } else {
      // "ct status & dnat" alone means "any of these bits".
      m.value = 0;
      m.negate = true;
    }
    return AddMatch(std::move(m));
  }

  static bool IsBitwiseOperator(const Token& t) {
    return t.Is("&") || t.Is("|") || t.Is("^") || t.Is("and") || t.Is("or") ||
           t.Is("xor");
  }

  // A value, a flag list, or "( a | b ... )".
  absl::StatusOr<uint32_t> BitwiseOperand(Field field) {
    if (!tokens_.Peek().Is("(")) return FlagsOrNumber(field);
    tokens_.Next();
    uint32_t bits = 0;
    while (true) {
      absl::StatusOr<uint32_t> v = FlagsOrNumber(field);
      if (!v.ok()) return v.status();
      bits |= *v;
      const Token& t = tokens_.Next();
      if (t.Is(")")) return bits;
      if (!t.Is("|")) {
        return Unsupported(t, "expected \"|\" or \")\" in a flag group");
      }
    }
  }

  absl::Status NamedSetMatch(const std::vector<ValueType>& types, Match m) {
    const Token& t = tokens_.Next();
    absl::StatusOr<const ElementSet*> set = NamedSet(t);
    if (!set.ok()) return set.status();
    if ((*set)->is_map() || (*set)->key_types() != types) {
      return Unsupported(t, absl::StrCat("set \"", t.text.substr(1),
                                         "\" is not a set of the selector's "
                                         "type"));
    }
    m.set_name = t.text.substr(1);
    return AddMatch(std::move(m));
  }

  // Flags: "ct state established,related", "{ a, b }" or one name: any of
  // the bits; or "VALUE / MASK": exactly those bits under the mask.
  absl::Status FlagsMatch(Match m) {
    uint32_t bits = 0;
    bool braces = tokens_.Peek().kind == Kind::kLBrace;
    if (braces) tokens_.Next();
    while (true) {
      if (braces) tokens_.SkipNewlines();
      const Token& t = tokens_.Next();
      absl::StatusOr<ValuePattern> p =
          ParseValuePattern(FieldValueType(m.fields[0]), t.text, false);
      if (!p.ok()) return Unsupported(t, p.status().message());
      bits |= DecodeNumber(p->lo);
      if (braces) tokens_.SkipNewlines();
      if (tokens_.Peek().kind != Kind::kComma) break;
      tokens_.Next();
    }
    if (braces) {
      if (tokens_.Peek().kind != Kind::kRBrace) {
        return Unsupported(tokens_.Peek(), "expected \"}\"");
      }
      tokens_.Next();
    }
    m.kind = Match::Kind::kBitwise;
    if (!braces && tokens_.Peek().Is("/")) {
      // "VALUE / MASK": how nft lists `ct status & (MASK) == VALUE`.
      tokens_.Next();
      absl::StatusOr<uint32_t> mask = FlagsOrNumber(m.fields[0]);
      if (!mask.ok()) return mask.status();
      m.mask = *mask;
      m.value = bits;
      return AddMatch(std::move(m));
    }
    m.mask = bits;
    m.value = 0;
    m.negate = !m.negate;
    return AddMatch(std::move(m));
  }

  // An anonymous set "{ ... }", a mark number, or one key.
  absl::Status ValueMatch(const std::vector<ValueType>& types, Match m) {
    if (tokens_.Peek().kind == Kind::kLBrace) {
      absl::StatusOr<std::shared_ptr<ElementSet>> lit =
          Literal(types, {}, false);
      if (!lit.ok()) return lit.status();
      m.literal = *std::move(lit);
      return AddMatch(std::move(m));
    }
    if (m.fields.size() == 1 &&
        (m.fields[0] == Field::kMark || m.fields[0] == Field::kCtMark)) {
      absl::StatusOr<uint32_t> v = FlagsOrNumber(m.fields[0]);
      if (!v.ok()) return v.status();
      m.kind = Match::Kind::kBitwise;
      m.mask = 0xffffffffu;
      m.value = *v;
      return AddMatch(std::move(m));
    }
    absl::StatusOr<std::vector<ValuePattern>> key = Key(types);
    if (!key.ok()) return key.status();
    auto set =
        std::make_shared<ElementSet>(types, std::vector<ValueType>{}, false);
    SetElement e;
    e.key = *std::move(key);
    set->Add(std::move(e)).IgnoreError();
    m.literal = set;
    return AddMatch(std::move(m));
  }

  // A mark number or a list of flag names joined by ",".
  absl::StatusOr<uint32_t> FlagsOrNumber(Field field) {
    uint32_t bits = 0;
    while (true) {
      const Token& t = tokens_.Next();
      absl::StatusOr<ValuePattern> p =
          ParseValuePattern(FieldValueType(field), t.text, false);
      if (!p.ok()) {
        uint32_t n;
        if (IsFlagField(field) && absl::SimpleAtoi(t.text, &n)) {
          bits |= n;
        } else {
          return Unsupported(t, p.status().message());
        }
      } else {
        bits |= DecodeNumber(p->lo);
      }
      if (!IsFlagField(field) || tokens_.Peek().kind != Kind::kComma) break;
      tokens_.Next();
    }
    return bits;
  }

  absl::StatusOr<uint32_t> Number() {
    const Token& t = tokens_.Next();
    absl::StatusOr<ValuePattern> p =
        ParseValuePattern(ValueType::kMark, t.text, false);
    if (!p.ok()) return Unsupported(t, p.status().message());
    return DecodeNumber(p->lo);
  }

  // After "mark set": a constant, or "[meta] mark" combined with & | ^
  // (or and/or/xor). Composes into mark = (mark & ~mask) ^ xor.
  absl::Status MarkSet() {
    if (tokens_.Peek().Is("ct") && tokens_.Peek(1).Is("mark")) {
      tokens_.Next();
      tokens_.Next();
      return CopyMark(/*to_conn=*/false);
    }
    uint32_t mask = 0, x = 0;
    if (tokens_.Peek().Is("meta") && tokens_.Peek(1).Is("mark")) {
      tokens_.Next();
    }
    if (tokens_.Peek().Is("mark")) {
      tokens_.Next();
      absl::Status s = MarkOperations(&mask, &x);
      if (!s.ok()) return s;
    } else {
      absl::StatusOr<uint32_t> v = Number();
      if (!v.ok()) return v.status();
      mask = 0xffffffffu;
      x = *v;
    }
    Action a;
    a.kind = Action::Kind::kSetMark;
    a.mark_mask = mask;
    a.mark_xor = x;
    return AddAction(std::move(a));
  }

  // "& v | v ^ v ...": at least one.
  absl::Status MarkOperations(uint32_t* mask, uint32_t* x) {
    bool any = false;
    while (true) {
      const Token& op = tokens_.Peek();
      bool is_and = op.Is("&") || op.Is("and");
      bool is_or = op.Is("|") || op.Is("or");
      bool is_xor = op.Is("^") || op.Is("xor");
      if (!is_and && !is_or && !is_xor) break;
      tokens_.Next();
      absl::StatusOr<uint32_t> v = Number();
      if (!v.ok()) return v.status();
      if (is_and) {
        *mask |= ~*v;
        *x &= *v;
      } else if (is_or) {
        *mask |= *v;
        *x |= *v;
      } else {
        *x ^= *v;
      }
      any = true;
    }
    if (!any) {
      return Unsupported(tokens_.Peek(), "mark set mark with no operator");
    }
    return absl::OkStatus();
  }

  // "dnat|snat [ip|ip6] to ADDRESS[:PORT]" or "... to KEY map @m|{ }".
  absl::Status Nat() {
    const Token& stmt = tokens_.Next();
    Action a;
    a.kind = stmt.Is("dnat") ? Action::Kind::kDnat : Action::Kind::kSnat;
    std::optional<IpFamily> family;
    absl::Status s = NatFamily(&family);
    if (!s.ok()) return s;
    // "addr . port": the map's data is an address and a port (CRI-O, nft
    // lists it without); the data types say the same.
    bool addr_port = tokens_.Peek().Is("addr") && tokens_.Peek(1).Is(".") &&
                     tokens_.Peek(2).Is("port");
    if (addr_port) {
      for (int i = 0; i < 3; ++i) tokens_.Next();
    }
    if (!tokens_.Peek().Is("to")) {
      return Unsupported(
          tokens_.Peek(),
          absl::StrCat("unsupported ", stmt.text, " form (", stmt.text,
                       " [ip|ip6] [addr . port] to ADDRESS[:PORT] | KEY map "
                       "@m | KEY map { })"));
    }
    tokens_.Next();
    if (AtNatAddress()) {
      if (addr_port) {
        return Unsupported(tokens_.Peek(),
                           "\"addr . port\" with a literal NAT target");
      }
      s = NatAddress(family, &a);
    } else {
      s = NatMap(family, addr_port, &a);
    }
    if (!s.ok()) return s;
    SkipNatFlags();
    return AddAction(std::move(a));
  }

  // The table's family, or the "ip"/"ip6" a statement names (it must agree
  // with an ip or ip6 table); unset in an inet table that names none.
  absl::Status NatFamily(std::optional<IpFamily>* family) {
    if (table_.family == TableFamily::kIp) *family = IpFamily::kV4;
    if (table_.family == TableFamily::kIp6) *family = IpFamily::kV6;
    const Token& t = tokens_.Peek();
    if (t.Is("ip") || t.Is("ip6")) {
      IpFamily f = t.Is("ip") ? IpFamily::kV4 : IpFamily::kV6;
      if (*family && **family != f) {
        return Unsupported(t, "NAT family does not match the table");
      }
      *family = f;
      tokens_.Next();
    }
    return absl::OkStatus();
  }

  // A literal address (not the start of a map key such as "ip daddr").
  bool AtNatAddress() const {
    const Token& first = tokens_.Peek();
    bool is_literal =
        first.kind == Kind::kWord &&
        (absl::ascii_isdigit(first.text[0]) || first.text[0] == '[' ||
         (first.text.find(':') != std::string::npos && first.text != ":"));
    return is_literal && !tokens_.Peek(1).Is(".") && !tokens_.Peek(1).Is("map");
  }

  absl::Status NatAddress(std::optional<IpFamily> family, Action* a) {
    const Token& first = tokens_.Next();
    IpAddress addr;
    uint16_t port = 0;
    absl::Status s = ParseEndpoint(first.text, true, &addr, &port);
    if (!s.ok()) {
      // A range: "a-b", "a:p-q", "a-b:p-q" (a walk refuses what the kernel
      // would have to pick).
      IpFamily f =
          family ? *family
          : first.text.find('.') != std::string::npos && first.text[0] != '['
              ? IpFamily::kV4
              : IpFamily::kV6;
      if (!ParseNatRange(first.text, f, a).ok()) {
        return Unsupported(first,
                           "unsupported NAT target (address[-address]"
                           "[:port[-port]])");
      }
      a->nat_family = f;
      return absl::OkStatus();
    }
    if (family && *family != addr.family()) {
      return Unsupported(first, "NAT address of the wrong family");
    }
    a->nat_family = addr.family();
    a->nat_address = addr;
    a->nat_port = port;
    return absl::OkStatus();
  }

  // "KEY map @m" or "KEY map { k : address[ . port], ... }". Without a
  // family (inet, as nft 1.1 takes it) the map's data type decides.
  absl::Status NatMap(std::optional<IpFamily> family, bool addr_port,
                      Action* a) {
    std::vector<Field> fields;
    std::vector<Match> deps;
    absl::Status s = Concat(&fields, &deps);
    if (!s.ok()) return s;
    for (Match& d : deps) rule_.matches.push_back(std::move(d));
    if (!tokens_.Peek().Is("map")) {
      return Unsupported(tokens_.Peek(), "expected \"map\"");
    }
    tokens_.Next();
    a->map_key = fields;
    a->numgen = TakeNumgen();
    if (AtNamedSet()) return NatNamedMap(Types(fields), family, addr_port, a);
    std::vector<IpFamily> families = {IpFamily::kV4, IpFamily::kV6};
    if (family) families = {*family};
    // The data's family and whether it carries a port show in the elements.
    size_t save = tokens_.position();
    absl::Status first;
    for (IpFamily f : families) {
      for (bool port : {true, false}) {
        if (addr_port && !port) continue;
        std::vector<ValueType> data = {AddressType(f)};
        if (port) data.push_back(ValueType::kInetService);
        tokens_.Rewind(save);
        absl::StatusOr<std::shared_ptr<ElementSet>> lit =
            Literal(Types(fields), data, false);
        if (lit.ok()) {
          a->nat_family = f;
          a->literal_map = *std::move(lit);
          return absl::OkStatus();
        }
        if (first.ok()) first = lit.status();
      }
    }
    return first;
  }

  static ValueType AddressType(IpFamily f) {
    return f == IpFamily::kV4 ? ValueType::kIpv4Addr : ValueType::kIpv6Addr;
  }

  absl::Status NatNamedMap(const std::vector<ValueType>& key_types,
                           std::optional<IpFamily> family, bool addr_port,
                           Action* a) {
    const Token& t = tokens_.Next();
    absl::StatusOr<const ElementSet*> set = NamedSet(t);
    if (!set.ok()) return set.status();
    const std::vector<ValueType>& data = (*set)->data_types();
    if (!family && !data.empty()) {
      family = data[0] == ValueType::kIpv6Addr ? IpFamily::kV6 : IpFamily::kV4;
    }
    ValueType addr_type = AddressType(family.value_or(IpFamily::kV4));
    a->nat_family = family.value_or(IpFamily::kV4);
    bool ok_data = (!addr_port && data.size() == 1 && data[0] == addr_type) ||
                   (data.size() == 2 && data[0] == addr_type &&
                    data[1] == ValueType::kInetService);
    if ((*set)->key_types() != key_types || !ok_data) {
      return Unsupported(t, absl::StrCat("map \"", t.text.substr(1),
                                         "\" does not fit this NAT "
                                         "statement"));
    }
    a->map_name = t.text.substr(1);
    return absl::OkStatus();
  }

  TokenCursor& tokens_;
  const Table& table_;
  Rule rule_;
  std::string unshown_;  // why the rule holds what nft could not show
  Numgen numgen_;
};

}  // namespace

absl::StatusOr<Rule> ParseRule(TokenCursor* tokens, const Table& table) {
  return RuleParser(tokens, table).Parse();
}

std::string ListedWithoutStatement(TokenCursor* tokens,
                                   const Token& terminator) {
  bool listed = false;
  int gap_line = 0;
  bool line_start = true;
  while (!tokens->AtEnd()) {
    const Token& t = tokens->Next();
    if (t.kind == Kind::kNewline) {
      line_start = true;
      continue;
    }
    if (t.Is("counter") && tokens->Peek().Is("packets")) listed = true;
    bool gap = line_start ? t.tab_before_spaces && t.spaces_before > 0
                          : t.spaces_before > 1;
    if (gap && gap_line == 0) gap_line = t.line;
    line_start = false;
  }
  if (gap_line == 0 && terminator.spaces_before > 0 &&
      (terminator.kind == Kind::kNewline || terminator.kind == Kind::kEnd)) {
    gap_line = terminator.line;
  }
  if (!listed || gap_line == 0) return "";
  return absl::StrCat(
      "line ", gap_line,
      ": nft listed a statement of this rule as nothing (an iptables-nft "
      "match or target it could not show, as when it says \"XT target DNAT "
      "not found\"): what the rule does is unknown; give the table's "
      "iptables-save text");
}

absl::Status ParseElements(TokenCursor* tokens, const Table& table,
                           ElementSet* set) {
  return RuleParser(tokens, table).LiteralInto(set);
}

}  // namespace nft
}  // namespace sim
