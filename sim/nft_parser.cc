#include "sim/nft_parser.h"

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

namespace sim {
namespace {

struct Token {
  enum class Kind : uint8_t {
    kWord,
    kString,
    kLBrace,
    kRBrace,
    kSemicolon,
    kNewline,
    kComma,
    kEnd
  };
  Kind kind;
  std::string text;
  int line;

  bool Is(absl::string_view word) const {
    return kind == Kind::kWord && text == word;
  }
};

using Kind = Token::Kind;

absl::StatusOr<std::vector<Token>> Lex(absl::string_view text,
                                       absl::string_view source) {
  std::vector<Token> out;
  int line = 1;
  size_t i = 0;
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", line, ": ", what));
  };
  while (i < text.size()) {
    char c = text[i];
    if (c == '\n') {
      out.push_back({Kind::kNewline, "\n", line});
      ++line;
      ++i;
    } else if (absl::ascii_isspace(c)) {
      ++i;
    } else if (c == '\\' && i + 1 < text.size() && text[i + 1] == '\n') {
      i += 2;
      ++line;
    } else if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '{') {
      out.push_back({Kind::kLBrace, "{", line});
      ++i;
    } else if (c == '}') {
      out.push_back({Kind::kRBrace, "}", line});
      ++i;
    } else if (c == ';') {
      out.push_back({Kind::kSemicolon, ";", line});
      ++i;
    } else if (c == ',') {
      out.push_back({Kind::kComma, ",", line});
      ++i;
    } else if (c == '"') {
      std::string s;
      ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\n') return error("unterminated string");
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        s.push_back(text[i]);
        ++i;
      }
      if (i >= text.size()) return error("unterminated string");
      ++i;
      out.push_back({Kind::kString, std::move(s), line});
    } else if (c == '&' || c == '|' || c == '^') {
      out.push_back({Kind::kWord, std::string(1, c), line});
      ++i;
    } else if ((c == '!' || c == '=') && i + 1 < text.size() &&
               text[i + 1] == '=') {
      out.push_back({Kind::kWord, std::string(text.substr(i, 2)), line});
      i += 2;
    } else {
      size_t start = i++;
      while (i < text.size()) {
        char d = text[i];
        if (absl::ascii_isspace(d) || d == '{' || d == '}' || d == ';' ||
            d == ',' || d == '"' || d == '#' || d == '&' || d == '|' ||
            d == '^') {
          break;
        }
        if ((d == '!' || d == '=') && i + 1 < text.size() &&
            text[i + 1] == '=' && i > start) {
          break;
        }
        ++i;
      }
      out.push_back(
          {Kind::kWord, std::string(text.substr(start, i - start)), line});
    }
  }
  out.push_back({Kind::kEnd, "", line});
  return out;
}

std::string TokenText(const Token& t) {
  if (t.kind == Kind::kString) return absl::StrCat("\"", t.text, "\"");
  return t.text;
}

std::string JoinTokens(const std::vector<Token>& tokens) {
  std::string out;
  for (const Token& t : tokens) {
    if (t.kind == Kind::kNewline) continue;
    if (!out.empty() && t.kind != Kind::kComma) out.push_back(' ');
    out += TokenText(t);
  }
  return out;
}

absl::Status Unsupported(const Token& t, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("line ", t.line, ": ", what, " at \"", TokenText(t), "\""));
}

// A rule is parsed from its own token list; errors are kept by the caller.
class RuleParser {
 public:
  RuleParser(std::vector<Token> tokens, const Table& table)
      : tokens_(std::move(tokens)), table_(table) {
    tokens_.push_back(
        {Kind::kEnd, "", tokens_.empty() ? 0 : tokens_.back().line});
  }

  absl::StatusOr<Rule> Parse() {
    while (!AtEnd()) {
      absl::Status s = Statement();
      if (!s.ok()) return s;
    }
    rule_.text =
        JoinTokens(std::vector<Token>(tokens_.begin(), tokens_.end() - 1));
    return std::move(rule_);
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool AtEnd() const { return Peek().kind == Kind::kEnd; }

  absl::StatusOr<std::string> Word(absl::string_view what) {
    const Token& t = Next();
    if (t.kind != Kind::kWord) {
      return Unsupported(t, absl::StrCat("expected ", what));
    }
    return t.text;
  }

  bool HasV4() const { return table_.family != TableFamily::kIp6; }
  bool HasV6() const { return table_.family != TableFamily::kIp; }

  absl::Status Statement() {
    const Token& t = Peek();
    if (t.kind == Kind::kString) {
      return Unsupported(t, "unexpected string");
    }
    if (t.kind != Kind::kWord) return Unsupported(t, "unexpected token");
    const std::string& w = t.text;
    if (w == "counter") {
      Next();
      if (Peek().Is("packets")) {
        Next();
        Next();
        if (Peek().Is("bytes")) {
          Next();
          Next();
        }
      }
      return absl::OkStatus();
    }
    if (w == "comment") {
      Next();
      if (Next().kind != Kind::kString) {
        return Unsupported(t, "comment needs a quoted string");
      }
      return absl::OkStatus();
    }
    if (w == "accept" || w == "drop" || w == "return" || w == "continue") {
      Next();
      Action a;
      a.kind = w == "accept"   ? Action::Kind::kAccept
               : w == "drop"   ? Action::Kind::kDrop
               : w == "return" ? Action::Kind::kReturn
                               : Action::Kind::kContinue;
      rule_.actions.push_back(std::move(a));
      return absl::OkStatus();
    }
    if (w == "jump" || w == "goto") {
      Next();
      absl::StatusOr<std::string> chain = Word("a chain name");
      if (!chain.ok()) return chain.status();
      Action a;
      a.kind = w == "jump" ? Action::Kind::kJump : Action::Kind::kGoto;
      a.chain = *chain;
      rule_.actions.push_back(std::move(a));
      return absl::OkStatus();
    }
    if (w == "dnat" || w == "snat") return Nat();
    if (w == "masquerade") {
      Next();
      Action a;
      a.kind = Action::Kind::kMasquerade;
      a.nat_family =
          table_.family == TableFamily::kIp6 ? IpFamily::kV6 : IpFamily::kV4;
      while (Peek().Is("random") || Peek().Is("fully-random") ||
             Peek().Is("persistent")) {
        Next();
        if (Peek().kind == Kind::kComma) Next();
      }
      if (Peek().Is("to")) return Unsupported(Peek(), "masquerade to a port");
      rule_.actions.push_back(std::move(a));
      return absl::OkStatus();
    }
    if ((w == "meta" && Peek(1).Is("mark") && Peek(2).Is("set")) ||
        (w == "mark" && Peek(1).Is("set"))) {
      if (w == "meta") Next();
      Next();
      Next();
      return MarkSet();
    }
    return Relation();
  }

  // A selector the rule can test: one field, plus the dependency nft adds
  // implicitly (`tcp dport` only matches TCP).
  absl::Status Selector(std::vector<Field>* fields,
                        std::vector<Match>* dependencies) {
    const Token& t = Next();
    std::string w = t.kind == Kind::kWord ? t.text : "";
    auto second = [&]() {
      return Peek().kind == Kind::kWord ? Next().text : "";
    };
    if (w == "ip" || w == "ip6") {
      bool v4 = w == "ip";
      if ((v4 && !HasV4()) || (!v4 && !HasV6())) {
        return Unsupported(
            t, absl::StrCat(w, " expression in a ",
                            TableFamilyName(table_.family), " table"));
      }
      std::string f = second();
      if (f == "saddr") {
        fields->push_back(v4 ? Field::kSrcAddr4 : Field::kSrcAddr6);
      } else if (f == "daddr") {
        fields->push_back(v4 ? Field::kDstAddr4 : Field::kDstAddr6);
      } else if ((v4 && f == "protocol") || (!v4 && f == "nexthdr")) {
        fields->push_back(Field::kL4Proto);
        Match dep;
        dep.fields = {Field::kNfProto};
        auto set = std::make_shared<ElementSet>(
            std::vector<ValueType>{ValueType::kNfProto},
            std::vector<ValueType>{}, false);
        SetElement e;
        e.key.push_back({ValuePattern::Kind::kExact,
                         EncodeNumber(ValueType::kNfProto, v4 ? 2 : 10)});
        set->Add(std::move(e)).IgnoreError();
        dep.literal = set;
        dependencies->push_back(std::move(dep));
      } else {
        return Unsupported(
            t, absl::StrCat("unsupported expression \"", w, " ", f, "\""));
      }
      return absl::OkStatus();
    }
    if (w == "meta") {
      std::string f = second();
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
      std::string f = second();
      if (f != "dport" && f != "sport") {
        return Unsupported(
            t, absl::StrCat("unsupported expression \"", w, " ", f, "\""));
      }
      fields->push_back(f == "dport" ? Field::kDstPort : Field::kSrcPort);
      if (w != "th") {
        Match dep;
        dep.fields = {Field::kL4Proto};
        absl::StatusOr<ValuePattern> p =
            ParseValuePattern(ValueType::kInetProto, w, false);
        auto set = std::make_shared<ElementSet>(
            std::vector<ValueType>{ValueType::kInetProto},
            std::vector<ValueType>{}, false);
        SetElement e;
        e.key.push_back(*p);
        set->Add(std::move(e)).IgnoreError();
        dep.literal = set;
        dependencies->push_back(std::move(dep));
      }
      return absl::OkStatus();
    }
    if (w == "fib") {
      std::string f = second();
      if ((f != "daddr" && f != "saddr") || !Peek().Is("type")) {
        return Unsupported(t,
                           "unsupported fib expression (fib daddr|saddr type)");
      }
      Next();
      fields->push_back(f == "daddr" ? Field::kDstAddrType
                                     : Field::kSrcAddrType);
      return absl::OkStatus();
    }
    if (w == "ct") {
      std::string f = second();
      if (f == "state") {
        fields->push_back(Field::kCtState);
      } else if (f == "status") {
        fields->push_back(Field::kCtStatus);
      } else {
        return Unsupported(
            t, absl::StrCat("unsupported expression \"ct ", f, "\""));
      }
      return absl::OkStatus();
    }
    return Unsupported(t, "unsupported expression or statement");
  }

  absl::Status Concat(std::vector<Field>* fields,
                      std::vector<Match>* dependencies) {
    absl::Status s = Selector(fields, dependencies);
    if (!s.ok()) return s;
    while (Peek().Is(".")) {
      Next();
      s = Selector(fields, dependencies);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  static bool IsFlagField(Field f) {
    return f == Field::kCtState || f == Field::kCtStatus;
  }

  // One element key "a . b . c" of the given types.
  absl::StatusOr<std::vector<ValuePattern>> Key(
      const std::vector<ValueType>& types) {
    std::vector<ValuePattern> key;
    for (size_t i = 0; i < types.size(); ++i) {
      if (i > 0) {
        if (!Peek().Is(".")) {
          return Unsupported(Peek(), "expected \" . \" in a concatenation");
        }
        Next();
      }
      const Token& t = Next();
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

  absl::StatusOr<VerdictSpec> Verdict() {
    const Token& t = Next();
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
      absl::StatusOr<std::string> chain = Word("a chain name");
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
        return Unsupported(Peek(), "ranges in map data");
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

 public:
  // Reads a "{ ... }" element block into `set`, with its types.
  absl::Status LiteralInto(ElementSet* set) {
    const Token& open = Next();
    if (open.kind != Kind::kLBrace) return Unsupported(open, "expected \"{\"");
    while (true) {
      while (Peek().kind == Kind::kNewline) Next();
      if (Peek().kind == Kind::kRBrace) {
        Next();
        break;
      }
      size_t start = pos_;
      absl::StatusOr<std::vector<ValuePattern>> key = Key(set->key_types());
      if (!key.ok()) return key.status();
      SetElement e;
      e.key = *std::move(key);
      size_t key_end = pos_;
      while (true) {
        if (Peek().Is("comment") && Peek(1).kind == Kind::kString) {
          Next();
          e.comment = Next().text;
        } else if (Peek().Is("timeout") || Peek().Is("expires")) {
          Next();
          Next();
        } else if (Peek().Is("counter")) {
          Next();
          if (Peek().Is("packets")) {
            Next();
            Next();
            if (Peek().Is("bytes")) {
              Next();
              Next();
            }
          }
        } else {
          break;
        }
      }
      if (set->is_map()) {
        if (!Peek().Is(":")) return Unsupported(Peek(), "expected \" : \"");
        Next();
        if (set->is_verdict_map()) {
          absl::StatusOr<VerdictSpec> v = Verdict();
          if (!v.ok()) return v.status();
          e.verdict = *v;
        } else {
          absl::StatusOr<std::string> d = NatData(set->data_types());
          if (!d.ok()) return d.status();
          e.data = *d;
        }
      }
      e.text = JoinTokens(std::vector<Token>(tokens_.begin() + start,
                                             tokens_.begin() + key_end));
      absl::Status s = set->Add(std::move(e));
      if (!s.ok()) return Unsupported(Peek(), s.message());
      while (Peek().kind == Kind::kNewline) Next();
      if (Peek().kind == Kind::kComma) {
        Next();
      } else if (Peek().kind != Kind::kRBrace) {
        return Unsupported(Peek(), "expected \",\" or \"}\"");
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<const ElementSet*> NamedSet(const Token& t) {
    std::string name = t.text.substr(1);
    auto it = table_.sets.find(name);
    if (it == table_.sets.end()) {
      return Unsupported(t, absl::StrCat("no set or map \"", name,
                                         "\" in table ", table_.Label()));
    }
    return &it->second;
  }

  static std::vector<ValueType> Types(const std::vector<Field>& fields) {
    std::vector<ValueType> types;
    for (Field f : fields) types.push_back(FieldValueType(f));
    return types;
  }

  static bool SameTypes(const std::vector<ValueType>& a,
                        const std::vector<ValueType>& b) {
    return a == b;
  }

  absl::Status Relation() {
    const Token& start = Peek();
    std::vector<Field> fields;
    std::vector<Match> deps;
    absl::Status s = Concat(&fields, &deps);
    if (!s.ok()) return s;
    for (Match& d : deps) rule_.matches.push_back(std::move(d));
    std::vector<ValueType> types = Types(fields);

    if (Peek().Is("vmap")) {
      Next();
      Action a;
      a.kind = Action::Kind::kVerdictMap;
      a.map_key = fields;
      if (Peek().kind == Kind::kWord && absl::StartsWith(Peek().text, "@")) {
        const Token& t = Next();
        absl::StatusOr<const ElementSet*> set = NamedSet(t);
        if (!set.ok()) return set.status();
        if (!(*set)->is_verdict_map() ||
            !SameTypes((*set)->key_types(), types)) {
          return Unsupported(t, "not a verdict map of the selector's type");
        }
        a.map_name = t.text.substr(1);
      } else {
        absl::StatusOr<std::shared_ptr<ElementSet>> lit =
            Literal(types, {}, true);
        if (!lit.ok()) return lit.status();
        a.literal_map = *std::move(lit);
      }
      rule_.actions.push_back(std::move(a));
      return absl::OkStatus();
    }

    Match m;
    m.fields = fields;
    if (Peek().Is("&")) {
      Next();
      if (fields.size() != 1 ||
          (fields[0] != Field::kMark && !IsFlagField(fields[0]))) {
        return Unsupported(start, "bitwise \"&\" on this expression");
      }
      absl::StatusOr<uint32_t> mask = FlagsOrNumber(fields[0]);
      if (!mask.ok()) return mask.status();
      m.kind = Match::Kind::kBitwise;
      m.mask = *mask;
      if (Peek().Is("==") || Peek().Is("!=")) {
        m.negate = Next().Is("!=");
        absl::StatusOr<uint32_t> value = FlagsOrNumber(fields[0]);
        if (!value.ok()) return value.status();
        m.value = *value;
      } else {
        // "ct status & dnat" alone means "any of these bits".
        m.value = 0;
        m.negate = true;
      }
      rule_.matches.push_back(std::move(m));
      return absl::OkStatus();
    }
    if (Peek().Is("==") || Peek().Is("!=")) {
      m.negate = Next().Is("!=");
    } else if (Peek().Is("<") || Peek().Is(">") || Peek().Is("<=") ||
               Peek().Is(">=")) {
      return Unsupported(Peek(), "unsupported comparison operator");
    }
    if (Peek().kind == Kind::kWord && absl::StartsWith(Peek().text, "@")) {
      const Token& t = Next();
      absl::StatusOr<const ElementSet*> set = NamedSet(t);
      if (!set.ok()) return set.status();
      if ((*set)->is_map() || !SameTypes((*set)->key_types(), types)) {
        return Unsupported(t, absl::StrCat("set \"", t.text.substr(1),
                                           "\" is not a set of the selector's "
                                           "type"));
      }
      m.set_name = t.text.substr(1);
      rule_.matches.push_back(std::move(m));
      return absl::OkStatus();
    }
    if (fields.size() == 1 && IsFlagField(fields[0])) {
      // Flags: "ct state established,related", "{ a, b }" or one name:
      // any of the bits.
      uint32_t bits = 0;
      bool braces = Peek().kind == Kind::kLBrace;
      if (braces) Next();
      while (true) {
        while (braces && Peek().kind == Kind::kNewline) Next();
        const Token& t = Next();
        absl::StatusOr<ValuePattern> p =
            ParseValuePattern(FieldValueType(fields[0]), t.text, false);
        if (!p.ok()) return Unsupported(t, p.status().message());
        bits |= DecodeNumber(p->lo);
        while (braces && Peek().kind == Kind::kNewline) Next();
        if (Peek().kind != Kind::kComma) break;
        Next();
      }
      if (braces) {
        if (Peek().kind != Kind::kRBrace)
          return Unsupported(Peek(), "expected \"}\"");
        Next();
      }
      m.kind = Match::Kind::kBitwise;
      m.mask = bits;
      m.value = 0;
      m.negate = !m.negate;
      rule_.matches.push_back(std::move(m));
      return absl::OkStatus();
    }
    if (Peek().kind == Kind::kLBrace) {
      absl::StatusOr<std::shared_ptr<ElementSet>> lit =
          Literal(types, {}, false);
      if (!lit.ok()) return lit.status();
      m.literal = *std::move(lit);
      rule_.matches.push_back(std::move(m));
      return absl::OkStatus();
    }
    if (fields.size() == 1 && fields[0] == Field::kMark) {
      absl::StatusOr<uint32_t> v = FlagsOrNumber(fields[0]);
      if (!v.ok()) return v.status();
      m.kind = Match::Kind::kBitwise;
      m.mask = 0xffffffffu;
      m.value = *v;
      rule_.matches.push_back(std::move(m));
      return absl::OkStatus();
    }
    absl::StatusOr<std::vector<ValuePattern>> key = Key(types);
    if (!key.ok()) return key.status();
    auto set =
        std::make_shared<ElementSet>(types, std::vector<ValueType>{}, false);
    SetElement e;
    e.key = *std::move(key);
    set->Add(std::move(e)).IgnoreError();
    m.literal = set;
    rule_.matches.push_back(std::move(m));
    return absl::OkStatus();
  }

  // A mark number or a list of flag names joined by ",".
  absl::StatusOr<uint32_t> FlagsOrNumber(Field field) {
    uint32_t bits = 0;
    while (true) {
      const Token& t = Next();
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
      if (!IsFlagField(field) || Peek().kind != Kind::kComma) break;
      Next();
    }
    return bits;
  }

  absl::StatusOr<uint32_t> Number() {
    const Token& t = Next();
    absl::StatusOr<ValuePattern> p =
        ParseValuePattern(ValueType::kMark, t.text, false);
    if (!p.ok()) return Unsupported(t, p.status().message());
    return DecodeNumber(p->lo);
  }

  // After "mark set": a constant, or "[meta] mark" combined with & | ^
  // (or and/or/xor). Composes into mark = (mark & ~mask) ^ xor.
  absl::Status MarkSet() {
    Action a;
    a.kind = Action::Kind::kSetMark;
    uint32_t mask = 0, x = 0;
    if (Peek().Is("meta") && Peek(1).Is("mark")) Next();
    if (Peek().Is("mark")) {
      Next();
      bool any = false;
      while (true) {
        const Token& op = Peek();
        if (op.Is("&") || op.Is("and")) {
          Next();
          absl::StatusOr<uint32_t> v = Number();
          if (!v.ok()) return v.status();
          mask |= ~*v;
          x &= *v;
        } else if (op.Is("|") || op.Is("or")) {
          Next();
          absl::StatusOr<uint32_t> v = Number();
          if (!v.ok()) return v.status();
          mask |= *v;
          x |= *v;
        } else if (op.Is("^") || op.Is("xor")) {
          Next();
          absl::StatusOr<uint32_t> v = Number();
          if (!v.ok()) return v.status();
          x ^= *v;
        } else {
          break;
        }
        any = true;
      }
      if (!any) return Unsupported(Peek(), "mark set mark with no operator");
    } else {
      absl::StatusOr<uint32_t> v = Number();
      if (!v.ok()) return v.status();
      mask = 0xffffffffu;
      x = *v;
    }
    a.mark_mask = mask;
    a.mark_xor = x;
    rule_.actions.push_back(std::move(a));
    return absl::OkStatus();
  }

  absl::Status Nat() {
    const Token& stmt = Next();
    Action a;
    a.kind = stmt.Is("dnat") ? Action::Kind::kDnat : Action::Kind::kSnat;
    std::optional<IpFamily> family;
    if (table_.family == TableFamily::kIp) family = IpFamily::kV4;
    if (table_.family == TableFamily::kIp6) family = IpFamily::kV6;
    if (Peek().Is("ip") || Peek().Is("ip6")) {
      IpFamily f = Peek().Is("ip") ? IpFamily::kV4 : IpFamily::kV6;
      if (family && *family != f) {
        return Unsupported(Peek(), "NAT family does not match the table");
      }
      family = f;
      Next();
    }
    if (!Peek().Is("to")) return Unsupported(Peek(), "expected \"to\"");
    Next();
    const Token& first = Peek();
    bool is_literal =
        first.kind == Kind::kWord &&
        (absl::ascii_isdigit(first.text[0]) || first.text[0] == '[' ||
         (first.text.find(':') != std::string::npos && first.text != ":"));
    if (is_literal && !Peek(1).Is(".") && !Peek(1).Is("map")) {
      Next();
      IpAddress addr;
      uint16_t port = 0;
      absl::Status s = ParseEndpoint(first.text, true, &addr, &port);
      if (!s.ok()) {
        return Unsupported(first, "unsupported NAT target (address[:port])");
      }
      if (family && *family != addr.family()) {
        return Unsupported(first, "NAT address of the wrong family");
      }
      a.nat_family = addr.family();
      a.nat_address = addr;
      a.nat_port = port;
    } else {
      if (!family) {
        return Unsupported(stmt,
                           "inet NAT needs \"ip\" or \"ip6\" before \"to\"");
      }
      a.nat_family = *family;
      std::vector<Field> fields;
      std::vector<Match> deps;
      absl::Status s = Concat(&fields, &deps);
      if (!s.ok()) return s;
      for (Match& d : deps) rule_.matches.push_back(std::move(d));
      if (!Peek().Is("map")) return Unsupported(Peek(), "expected \"map\"");
      Next();
      a.map_key = fields;
      ValueType addr_type = *family == IpFamily::kV4 ? ValueType::kIpv4Addr
                                                     : ValueType::kIpv6Addr;
      if (Peek().kind == Kind::kWord && absl::StartsWith(Peek().text, "@")) {
        const Token& t = Next();
        absl::StatusOr<const ElementSet*> set = NamedSet(t);
        if (!set.ok()) return set.status();
        const std::vector<ValueType>& data = (*set)->data_types();
        bool ok_data = (data.size() == 1 && data[0] == addr_type) ||
                       (data.size() == 2 && data[0] == addr_type &&
                        data[1] == ValueType::kInetService);
        if (!SameTypes((*set)->key_types(), Types(fields)) || !ok_data) {
          return Unsupported(t, absl::StrCat("map \"", t.text.substr(1),
                                             "\" does not fit this NAT "
                                             "statement"));
        }
        a.map_name = t.text.substr(1);
      } else {
        // Whether the data carries a port shows in the first element.
        size_t save = pos_;
        std::vector<ValueType> data = {addr_type, ValueType::kInetService};
        absl::StatusOr<std::shared_ptr<ElementSet>> lit =
            Literal(Types(fields), data, false);
        if (!lit.ok()) {
          pos_ = save;
          data = {addr_type};
          lit = Literal(Types(fields), data, false);
        }
        if (!lit.ok()) return lit.status();
        a.literal_map = *std::move(lit);
      }
    }
    while (Peek().Is("persistent") || Peek().Is("random") ||
           Peek().Is("fully-random")) {
      Next();
      if (Peek().kind == Kind::kComma) Next();
    }
    rule_.actions.push_back(std::move(a));
    return absl::OkStatus();
  }

  std::vector<Token> tokens_;
  const Table& table_;
  size_t pos_ = 0;
  Rule rule_;
};

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

class ScriptParser {
 public:
  ScriptParser(std::vector<Token> tokens, absl::string_view source,
               Ruleset* ruleset)
      : tokens_(std::move(tokens)), source_(source), ruleset_(ruleset) {}

  absl::Status Run() {
    while (true) {
      SkipSeparators();
      if (Peek().kind == Kind::kEnd) return absl::OkStatus();
      absl::Status s = Command();
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat(source_, ":", s.message()));
      }
    }
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  void SkipSeparators() {
    while (Peek().kind == Kind::kNewline || Peek().kind == Kind::kSemicolon) {
      Next();
    }
  }
  absl::Status Error(const Token& t, absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(t.line, ": ", what, " at \"", TokenText(t), "\""));
  }
  absl::StatusOr<std::string> Name(absl::string_view what) {
    const Token& t = Next();
    if (t.kind != Kind::kWord && t.kind != Kind::kString) {
      return Error(t, absl::StrCat("expected ", what));
    }
    return t.text;
  }
  absl::Status Expect(Kind kind, absl::string_view what) {
    const Token& t = Next();
    if (t.kind != kind) return Error(t, absl::StrCat("expected ", what));
    return absl::OkStatus();
  }
  // End of a command: newline, ';', '}' (not consumed) or end of input.
  absl::Status EndOfCommand() {
    const Token& t = Peek();
    if (t.kind == Kind::kNewline || t.kind == Kind::kSemicolon) {
      Next();
      return absl::OkStatus();
    }
    if (t.kind == Kind::kEnd || t.kind == Kind::kRBrace)
      return absl::OkStatus();
    return Error(t, "unexpected token");
  }

  // "[family] name": families this simulator does not model are reported
  // through `skip`.
  absl::Status TableRef(TableFamily* family, std::string* name, bool* skip) {
    *skip = false;
    *family = TableFamily::kIp;
    const Token& t = Peek();
    if (t.Is("ip") || t.Is("ip6") || t.Is("inet")) {
      *family = t.Is("ip")    ? TableFamily::kIp
                : t.Is("ip6") ? TableFamily::kIp6
                              : TableFamily::kInet;
      Next();
    } else if (t.Is("arp") || t.Is("bridge") || t.Is("netdev")) {
      *skip = true;
      skipped_family_ = t.text;
      Next();
    }
    absl::StatusOr<std::string> n = Name("a table name");
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

  void SkipBlock() {
    int depth = 0;
    do {
      const Token& t = Next();
      if (t.kind == Kind::kLBrace) ++depth;
      if (t.kind == Kind::kRBrace) --depth;
      if (t.kind == Kind::kEnd) return;
    } while (depth > 0);
  }

  void NoteUnsupported(Table* table, const absl::Status& status) {
    if (table->unsupported.ok()) table->unsupported = status;
  }

  absl::Status Command() {
    const Token& verb = Next();
    if (verb.Is("table")) return TableBlock(verb);
    if (verb.Is("add") || verb.Is("create") || verb.Is("insert") ||
        verb.Is("delete") || verb.Is("destroy") || verb.Is("flush")) {
      const Token& what = Next();
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
      return Error(what, "unsupported object");
    }
    return Error(verb, "unsupported command");
  }

  absl::Status TableBlock(const Token& verb) {
    TableFamily family;
    std::string name;
    bool skip;
    absl::Status s = TableRef(&family, &name, &skip);
    if (!s.ok()) return s;
    if (Peek().kind != Kind::kLBrace) return Error(Peek(), "expected \"{\"");
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
      if (Peek().kind == Kind::kLBrace) return TableBody(t);
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
    absl::Status s = Expect(Kind::kLBrace, "\"{\"");
    if (!s.ok()) return s;
    while (true) {
      SkipSeparators();
      const Token& t = Next();
      if (t.kind == Kind::kRBrace) return absl::OkStatus();
      if (t.Is("chain")) {
        absl::StatusOr<std::string> name = Name("a chain name");
        if (!name.ok()) return name.status();
        Chain* chain = GetOrCreateChain(table, *name);
        s = ChainBody(table, chain);
      } else if (t.Is("set") || t.Is("map")) {
        absl::StatusOr<std::string> name = Name("a set name");
        if (!name.ok()) return name.status();
        s = SetBody(table, *name, t.Is("map"));
      } else if (t.Is("comment") && Peek().kind == Kind::kString) {
        Next();
      } else if (t.Is("flags")) {
        // A dormant table is not evaluated by the kernel.
        NoteUnsupported(table, absl::InvalidArgumentError(absl::StrCat(
                                   "line ", t.line, ": table flags")));
        while (Peek().kind != Kind::kNewline &&
               Peek().kind != Kind::kSemicolon && Peek().kind != Kind::kEnd &&
               Peek().kind != Kind::kRBrace) {
          Next();
        }
      } else if (t.kind == Kind::kWord) {
        // counter, quota, ct helper, flowtable, ...: objects with no part in
        // NAT; the table can still be ignored as a whole.
        NoteUnsupported(table, absl::InvalidArgumentError(absl::StrCat(
                                   "line ", t.line, ": unsupported object \"",
                                   t.text, "\" in table ", table->Label())));
        while (Peek().kind != Kind::kLBrace && Peek().kind != Kind::kEnd &&
               Peek().kind != Kind::kNewline) {
          Next();
        }
        if (Peek().kind == Kind::kLBrace) SkipBlock();
      } else {
        return Error(t, "unexpected token in table");
      }
      if (!s.ok()) return s;
    }
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
    absl::Status s = Expect(Kind::kLBrace, "\"{\"");
    if (!s.ok()) return s;
    while (true) {
      SkipSeparators();
      const Token& t = Peek();
      if (t.kind == Kind::kRBrace) {
        Next();
        return absl::OkStatus();
      }
      if (t.kind == Kind::kEnd) return Error(t, "unterminated chain");
      if (t.Is("type")) {
        s = BaseChainSpec(table, chain);
      } else if (t.Is("policy")) {
        s = Policy(chain);
      } else if (t.Is("comment") && Peek(1).kind == Kind::kString) {
        Next();
        Next();
      } else {
        s = AddRule(table, chain, nullptr, false);
      }
      if (!s.ok()) return s;
    }
  }

  absl::Status BaseChainSpec(Table* table, Chain* chain) {
    const Token& type_tok = Next();
    absl::StatusOr<std::string> type = Name("a chain type");
    if (!type.ok()) return type.status();
    if (!Peek().Is("hook")) return Error(Peek(), "expected \"hook\"");
    Next();
    const Token& hook_tok = Next();
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
    if (Peek().Is("device")) {
      Next();
      Next();
    }
    if (!Peek().Is("priority")) return Error(Peek(), "expected \"priority\"");
    Next();
    const Token& prio = Next();
    bool ok;
    int priority = NamedPriority(prio.text, &ok);
    if (!ok) return Error(prio, "invalid priority");
    if (Peek().Is("+") || Peek().Is("-")) {
      bool plus = Next().Is("+");
      int delta;
      const Token& d = Next();
      if (!absl::SimpleAtoi(d.text, &delta))
        return Error(d, "invalid priority");
      priority += plus ? delta : -delta;
    }
    chain->is_base = known;
    chain->type = *type;
    chain->priority = priority;
    if (*type != "nat" && *type != "filter" && *type != "route") {
      return Error(type_tok,
                   absl::StrCat("unknown chain type \"", *type, "\""));
    }
    return EndOfCommand();
  }

  absl::Status Policy(Chain* chain) {
    Next();
    const Token& p = Next();
    if (p.Is("accept")) {
      chain->policy_drop = false;
    } else if (p.Is("drop")) {
      chain->policy_drop = true;
    } else {
      return Error(p, "invalid policy (accept or drop)");
    }
    return EndOfCommand();
  }

  // Collects the rule's tokens up to the end of the line (braces may span
  // lines) and parses them; a rule the simulator cannot model is recorded on
  // the table instead of failing the parse.
  absl::Status AddRule(Table* table, Chain* chain, const Rule* anchor,
                       bool before) {
    std::vector<Token> rule_tokens;
    int depth = 0;
    while (true) {
      const Token& t = Peek();
      if (t.kind == Kind::kEnd) break;
      if (depth == 0 &&
          (t.kind == Kind::kNewline || t.kind == Kind::kSemicolon ||
           t.kind == Kind::kRBrace)) {
        break;
      }
      if (t.kind == Kind::kLBrace) ++depth;
      if (t.kind == Kind::kRBrace) --depth;
      rule_tokens.push_back(Next());
    }
    if (depth != 0) return Error(Peek(), "unbalanced braces in rule");
    if (rule_tokens.empty()) return EndOfCommand();
    absl::StatusOr<Rule> rule = RuleParser(rule_tokens, *table).Parse();
    if (!rule.ok()) {
      NoteUnsupported(table, rule.status());
      return EndOfCommand();
    }
    rule->handle = table->next_handle++;
    std::vector<Rule>& rules = chain->rules;
    if (anchor == nullptr) {
      if (before) {
        rules.insert(rules.begin(), *std::move(rule));
      } else {
        rules.push_back(*std::move(rule));
      }
    } else {
      size_t i = anchor - rules.data();
      rules.insert(rules.begin() + i + (before ? 0 : 1), *std::move(rule));
    }
    return EndOfCommand();
  }

  absl::Status ChainCommand(const Token& verb, TableFamily family,
                            const std::string& table_name) {
    absl::StatusOr<Table*> table = ExistingTable(verb, family, table_name);
    if (!table.ok()) return table.status();
    absl::StatusOr<std::string> name = Name("a chain name");
    if (!name.ok()) return name.status();
    auto it = (*table)->chains.find(*name);
    if (verb.Is("add") || verb.Is("create")) {
      if (verb.Is("create") && it != (*table)->chains.end()) {
        return Error(verb, absl::StrCat("chain ", *name, " already exists"));
      }
      Chain* chain = GetOrCreateChain(*table, *name);
      if (Peek().kind == Kind::kLBrace) return ChainBody(*table, chain);
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
      if (!it->second.rules.empty()) {
        return Error(verb, absl::StrCat("chain ", *name, " is not empty"));
      }
      for (const auto& [n, c] : (*table)->chains) {
        for (const Rule& r : c.rules) {
          for (const Action& a : r.actions) {
            if (a.chain == *name) {
              return Error(verb, absl::StrCat("chain ", *name,
                                              " is still referenced from ", n));
            }
          }
        }
      }
      (*table)->chains.erase(it);
      return EndOfCommand();
    }
    return Error(verb, "unsupported chain command");
  }

  absl::Status RuleCommand(const Token& verb, TableFamily family,
                           const std::string& table_name) {
    absl::StatusOr<Table*> table = ExistingTable(verb, family, table_name);
    if (!table.ok()) return table.status();
    absl::StatusOr<std::string> name = Name("a chain name");
    if (!name.ok()) return name.status();
    auto it = (*table)->chains.find(*name);
    if (it == (*table)->chains.end()) {
      return Error(verb, absl::StrCat("no chain ", *name));
    }
    std::vector<Rule>& rules = it->second.rules;
    const Rule* anchor = nullptr;
    if (Peek().Is("handle") || Peek().Is("position")) {
      Next();
      const Token& h = Next();
      uint64_t handle;
      if (!absl::SimpleAtoi(h.text, &handle)) return Error(h, "invalid handle");
      for (const Rule& r : rules) {
        if (r.handle == handle) anchor = &r;
      }
      if (anchor == nullptr) {
        return Error(h, absl::StrCat("no rule with handle ", handle));
      }
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

  absl::Status SetCommand(const Token& verb, const Token& what,
                          TableFamily family, const std::string& table_name) {
    absl::StatusOr<Table*> table = ExistingTable(verb, family, table_name);
    if (!table.ok()) return table.status();
    absl::StatusOr<std::string> name = Name("a set name");
    if (!name.ok()) return name.status();
    if (verb.Is("add") || verb.Is("create")) {
      if (verb.Is("create") && (*table)->sets.count(*name)) {
        return Error(verb, absl::StrCat("set ", *name, " already exists"));
      }
      return SetBody(*table, *name, what.Is("map"));
    }
    auto it = (*table)->sets.find(*name);
    if (it == (*table)->sets.end()) {
      if (verb.Is("destroy")) return EndOfCommand();
      return Error(verb, absl::StrCat("no set ", *name));
    }
    if (verb.Is("flush")) {
      it->second.Clear();
    } else {
      (*table)->sets.erase(it);
    }
    return EndOfCommand();
  }

  static absl::StatusOr<std::vector<ValueType>> TypeList(
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
  static absl::StatusOr<ValueType> TypeofType(const std::string& expr) {
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

  absl::Status SetBody(Table* table, const std::string& name, bool is_map) {
    absl::Status s = Expect(Kind::kLBrace, "\"{\"");
    if (!s.ok()) return s;
    std::vector<ValueType> key, data;
    bool verdicts = false;
    bool declared = false;
    std::vector<Token> elements;
    int elements_line = 0;
    auto existing = table->sets.find(name);
    while (true) {
      SkipSeparators();
      const Token& t = Next();
      if (t.kind == Kind::kRBrace) break;
      if (t.Is("type") || t.Is("typeof")) {
        // Words up to the end of the line: "a . b : c . d".
        std::vector<std::string> left, right;
        std::string current;
        bool after_colon = false;
        auto flush = [&]() {
          if (!current.empty()) (after_colon ? right : left).push_back(current);
          current.clear();
        };
        while (Peek().kind == Kind::kWord) {
          const Token& w = Next();
          if (w.text == ".") {
            flush();
          } else if (w.text == ":") {
            flush();
            after_colon = true;
          } else {
            if (t.Is("typeof") && !current.empty()) current += " ";
            current += w.text;
          }
        }
        flush();
        if (t.Is("type")) {
          if (right.size() == 1 && right[0] == "verdict") {
            verdicts = true;
            right.clear();
          }
          absl::StatusOr<std::vector<ValueType>> k = TypeList(left);
          absl::StatusOr<std::vector<ValueType>> d = TypeList(right);
          if (!k.ok()) return Error(t, k.status().message());
          if (!d.ok()) return Error(t, d.status().message());
          key = *k;
          data = *d;
        } else {
          for (const std::string& e : left) {
            absl::StatusOr<ValueType> vt = TypeofType(e);
            if (!vt.ok()) return Error(t, vt.status().message());
            key.push_back(*vt);
          }
          for (const std::string& e : right) {
            if (e == "verdict") {
              verdicts = true;
              continue;
            }
            absl::StatusOr<ValueType> vt = TypeofType(e);
            if (!vt.ok()) return Error(t, vt.status().message());
            data.push_back(*vt);
          }
        }
        declared = true;
      } else if (t.Is("elements")) {
        if (!Peek().Is("=")) return Error(Peek(), "expected \"=\"");
        Next();
        if (Peek().kind != Kind::kLBrace)
          return Error(Peek(), "expected \"{\"");
        elements_line = Peek().line;
        int depth = 0;
        do {
          const Token& e = Next();
          if (e.kind == Kind::kLBrace) ++depth;
          if (e.kind == Kind::kRBrace) --depth;
          if (e.kind == Kind::kEnd) return Error(e, "unterminated elements");
          elements.push_back(e);
        } while (depth > 0);
      } else if (t.Is("flags") || t.Is("size") || t.Is("policy") ||
                 t.Is("timeout") || t.Is("gc-interval") || t.Is("counter") ||
                 t.Is("auto-merge") || t.Is("comment")) {
        // Storage hints; membership is what the simulator evaluates.
        while (Peek().kind != Kind::kNewline &&
               Peek().kind != Kind::kSemicolon &&
               Peek().kind != Kind::kRBrace && Peek().kind != Kind::kEnd) {
          Next();
        }
      } else {
        return Error(t, "unsupported set property");
      }
    }
    if (!declared) {
      if (existing == table->sets.end()) {
        return Error(Peek(), absl::StrCat("set ", name, " needs a type"));
      }
    } else if (existing == table->sets.end()) {
      if (is_map && data.empty() && !verdicts) {
        return Error(Peek(), absl::StrCat("map ", name, " needs a data type"));
      }
      table->sets.emplace(name, ElementSet(key, data, verdicts));
    }
    if (!elements.empty()) {
      absl::Status es =
          AddElements(table, &table->sets[name], elements, elements_line);
      if (!es.ok()) return es;
    }
    return EndOfCommand();
  }

  absl::Status AddElements(Table* table, ElementSet* set,
                           const std::vector<Token>& braces, int line) {
    absl::Status s = RuleParser(braces, *table).LiteralInto(set);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(line, ": ", s.message()));
    }
    return absl::OkStatus();
  }

  absl::Status ElementCommand(const Token& verb, TableFamily family,
                              const std::string& table_name) {
    absl::StatusOr<Table*> table = ExistingTable(verb, family, table_name);
    if (!table.ok()) return table.status();
    absl::StatusOr<std::string> name = Name("a set name");
    if (!name.ok()) return name.status();
    auto it = (*table)->sets.find(*name);
    if (it == (*table)->sets.end()) {
      return Error(verb, absl::StrCat("no set or map ", *name));
    }
    if (Peek().kind != Kind::kLBrace) return Error(Peek(), "expected \"{\"");
    int line = Peek().line;
    std::vector<Token> braces;
    int depth = 0;
    do {
      const Token& e = Next();
      if (e.kind == Kind::kLBrace) ++depth;
      if (e.kind == Kind::kRBrace) --depth;
      if (e.kind == Kind::kEnd) return Error(e, "unterminated elements");
      braces.push_back(e);
    } while (depth > 0);
    ElementSet& set = it->second;
    if (verb.Is("add") || verb.Is("create")) {
      absl::Status s = AddElements(*table, &set, braces, line);
      if (!s.ok()) return s;
      return EndOfCommand();
    }
    if (verb.Is("delete") || verb.Is("destroy")) {
      // Keys only: read them as a plain set of the key types.
      ElementSet keys(set.key_types(), {}, false);
      absl::Status ks = RuleParser(braces, **table).LiteralInto(&keys);
      if (!ks.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(line, ": ", ks.message()));
      }
      for (const SetElement* e : keys.elements()) {
        absl::Status s = set.Remove(e->key);
        if (!s.ok() && verb.Is("delete")) {
          return absl::InvalidArgumentError(
              absl::StrCat(line, ": no element \"", e->text, "\" in ", *name));
        }
      }
      return EndOfCommand();
    }
    return Error(verb, "unsupported element command");
  }

  std::vector<Token> tokens_;
  std::string source_;
  Ruleset* ruleset_;
  size_t pos_ = 0;
  std::string skipped_family_;
};

}  // namespace

absl::Status ApplyNftScript(absl::string_view text, absl::string_view source,
                            Ruleset* ruleset) {
  absl::StatusOr<std::vector<Token>> tokens = Lex(text, source);
  if (!tokens.ok()) return tokens.status();
  Ruleset copy = *ruleset;
  ScriptParser parser(*std::move(tokens), source, &copy);
  absl::Status s = parser.Run();
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
