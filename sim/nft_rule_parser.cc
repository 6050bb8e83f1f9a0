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
      SkipCounterValues();
      return absl::OkStatus();
    }
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
    tokens_.Next();
    Action a;
    a.kind = Action::Kind::kMasquerade;
    a.nat_family =
        table_.family == TableFamily::kIp6 ? IpFamily::kV6 : IpFamily::kV4;
    SkipNatFlags();
    if (tokens_.Peek().Is("to")) {
      return Unsupported(tokens_.Peek(), "masquerade to a port");
    }
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
    if (f == "state") {
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
    if (!s.ok()) return Unsupported(tokens_.Peek(), s.message());
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
    if (tokens_.Peek().Is("&")) return BitwiseMatch(start, std::move(m));
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

  // "meta mark & m [==|!= v]", "ct status & dnat [== dnat]".
  absl::Status BitwiseMatch(const Token& start, Match m) {
    tokens_.Next();
    const std::vector<Field>& fields = m.fields;
    if (fields.size() != 1 ||
        (fields[0] != Field::kMark && !IsFlagField(fields[0]))) {
      return Unsupported(start, "bitwise \"&\" on this expression");
    }
    absl::StatusOr<uint32_t> mask = FlagsOrNumber(fields[0]);
    if (!mask.ok()) return mask.status();
    m.kind = Match::Kind::kBitwise;
    m.mask = *mask;
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
  // the bits.
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
    if (m.fields.size() == 1 && m.fields[0] == Field::kMark) {
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
    if (!tokens_.Peek().Is("to")) {
      return Unsupported(tokens_.Peek(), "expected \"to\"");
    }
    tokens_.Next();
    if (AtNatAddress()) {
      s = NatAddress(family, &a);
    } else if (!family) {
      return Unsupported(stmt,
                         "inet NAT needs \"ip\" or \"ip6\" before \"to\"");
    } else {
      a.nat_family = *family;
      s = NatMap(*family, &a);
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
      return Unsupported(first, "unsupported NAT target (address[:port])");
    }
    if (family && *family != addr.family()) {
      return Unsupported(first, "NAT address of the wrong family");
    }
    a->nat_family = addr.family();
    a->nat_address = addr;
    a->nat_port = port;
    return absl::OkStatus();
  }

  // "KEY map @m" or "KEY map { k : address[ . port], ... }".
  absl::Status NatMap(IpFamily family, Action* a) {
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
    ValueType addr_type =
        family == IpFamily::kV4 ? ValueType::kIpv4Addr : ValueType::kIpv6Addr;
    if (AtNamedSet()) return NatNamedMap(Types(fields), addr_type, a);
    // Whether the data carries a port shows in the first element.
    size_t save = tokens_.position();
    std::vector<ValueType> data = {addr_type, ValueType::kInetService};
    absl::StatusOr<std::shared_ptr<ElementSet>> lit =
        Literal(Types(fields), data, false);
    if (!lit.ok()) {
      tokens_.Rewind(save);
      data = {addr_type};
      lit = Literal(Types(fields), data, false);
    }
    if (!lit.ok()) return lit.status();
    a->literal_map = *std::move(lit);
    return absl::OkStatus();
  }

  absl::Status NatNamedMap(const std::vector<ValueType>& key_types,
                           ValueType addr_type, Action* a) {
    const Token& t = tokens_.Next();
    absl::StatusOr<const ElementSet*> set = NamedSet(t);
    if (!set.ok()) return set.status();
    const std::vector<ValueType>& data = (*set)->data_types();
    bool ok_data = (data.size() == 1 && data[0] == addr_type) ||
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
  Numgen numgen_;
};

}  // namespace

absl::StatusOr<Rule> ParseRule(TokenCursor* tokens, const Table& table) {
  return RuleParser(tokens, table).Parse();
}

absl::Status ParseElements(TokenCursor* tokens, const Table& table,
                           ElementSet* set) {
  return RuleParser(tokens, table).LiteralInto(set);
}

}  // namespace nft
}  // namespace sim
