#include "hostport/testing/fake_nft.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "hostport/model/ip_address.h"

namespace hostport::testing {
namespace {

using Element = FakeNft::Element;
using Set = FakeNft::Set;
using Chain = FakeNft::Chain;
using BaseChain = FakeNft::BaseChain;
using Table = FakeNft::Table;
using Ruleset = FakeNft::Ruleset;

constexpr char kNoEntry[] = "No such file or directory";
constexpr char kExists[] = "File exists";
constexpr char kBusy[] = "Device or resource busy";

// The status LibNftRunner gives for nft's error text.
absl::Status NftError(absl::string_view message, absl::string_view command) {
  const std::string text = absl::StrCat("nft: Error: ", message, "\n", command);
  if (absl::StrContains(message, kNoEntry)) return absl::NotFoundError(text);
  return absl::FailedPreconditionError(text);
}

// The kernel refused a command (errno text).
absl::Status Refused(absl::string_view errno_text, absl::string_view command) {
  return NftError(absl::StrCat("Could not process rule: ", errno_text),
                  command);
}

absl::Status SyntaxError(absl::string_view what, absl::string_view command) {
  return NftError(absl::StrCat("syntax error, ", what), command);
}

// Splits a script into commands at newlines and ';' outside braces and quotes;
// '#' starts a comment.
std::vector<std::string> Commands(absl::string_view script) {
  std::vector<std::string> commands;
  std::string current;
  int depth = 0;
  bool quoted = false;
  bool comment = false;
  auto finish = [&] {
    absl::string_view c = absl::StripAsciiWhitespace(current);
    if (!c.empty()) commands.emplace_back(c);
    current.clear();
  };
  for (char c : script) {
    if (comment) {
      if (c == '\n') {
        comment = false;
        if (depth == 0) finish();
      }
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted) {
      if (c == '#') {
        comment = true;
        continue;
      }
      if (c == '{') ++depth;
      if (c == '}') --depth;
      if (depth == 0 && (c == '\n' || c == ';')) {
        finish();
        continue;
      }
    }
    current.push_back(c == '\n' ? ' ' : c);
  }
  finish();
  return commands;
}

struct Token {
  std::string text;
  size_t begin;
};

// Words separated by blanks; a {...} block and a "quoted string" are one word.
std::vector<Token> Tokens(absl::string_view command) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < command.size()) {
    if (command[i] == ' ' || command[i] == '\t') {
      ++i;
      continue;
    }
    const size_t begin = i;
    int depth = 0;
    bool quoted = false;
    for (; i < command.size(); ++i) {
      const char c = command[i];
      if (c == '"') quoted = !quoted;
      if (quoted) continue;
      if (c == '{') ++depth;
      if (c == '}') --depth;
      if (depth == 0 && (c == ' ' || c == '\t')) break;
    }
    tokens.push_back(
        Token{std::string(command.substr(begin, i - begin)), begin});
  }
  return tokens;
}

// The inside of a {...} block, trimmed; nullopt when `text` is not a block.
std::optional<std::string> BlockBody(absl::string_view text) {
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
    return std::nullopt;
  }
  return std::string(
      absl::StripAsciiWhitespace(text.substr(1, text.size() - 2)));
}

std::string CollapseSpaces(absl::string_view text) {
  return absl::StrJoin(absl::StrSplit(text, ' ', absl::SkipWhitespace()), " ");
}

bool IsFamily(absl::string_view f) {
  return f == "ip" || f == "ip6" || f == "inet" || f == "arp" ||
         f == "bridge" || f == "netdev";
}

// One concatenation component in canonical text and as the kernel stores it.
struct Datum {
  std::string text;
  std::string bytes;
};

const std::vector<std::pair<std::string, int>>& Protocols() {
  static const auto* const kProtocols =
      new std::vector<std::pair<std::string, int>>{
          {"icmp", 1},    {"igmp", 2},   {"tcp", 6},      {"udp", 17},
          {"dccp", 33},   {"gre", 47},   {"esp", 50},     {"ah", 51},
          {"icmpv6", 58}, {"sctp", 132}, {"udplite", 136}};
  return *kProtocols;
}

absl::StatusOr<Datum> ParseDatum(absl::string_view type,
                                 absl::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("Could not parse ", type, " expression: ", text));
  };
  if (type == "ipv4_addr" || type == "ipv6_addr") {
    absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
    const IPFamily family =
        type == "ipv4_addr" ? IPFamily::kIPv4 : IPFamily::kIPv6;
    if (!address.ok() || address->family() != family) return bad();
    return Datum{address->ToString(),
                 std::string(reinterpret_cast<const char*>(address->bytes()),
                             address->byte_length())};
  }
  if (type == "inet_proto") {
    int number = -1;
    for (const auto& [name, n] : Protocols()) {
      if (text == name) number = n;
    }
    if (number < 0 &&
        (!absl::SimpleAtoi(text, &number) || number < 0 || number > 255)) {
      return bad();
    }
    std::string name = absl::StrCat(number);
    for (const auto& [n, value] : Protocols()) {
      if (value == number) name = n;
    }
    return Datum{name, std::string(1, static_cast<char>(number))};
  }
  if (type == "inet_service") {
    int port = -1;
    if (!absl::SimpleAtoi(text, &port)) return bad();
    if (port < 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("Service out of range: ", text));
    }
    return Datum{absl::StrCat(port),
                 std::string{static_cast<char>(port >> 8),
                             static_cast<char>(port & 0xff)}};
  }
  if (type == "ifname") {
    absl::string_view name = text;
    if (absl::ConsumePrefix(&name, "\"") && !absl::ConsumeSuffix(&name, "\"")) {
      return bad();
    }
    if (name.empty() || name.size() > 15) return bad();
    std::string bytes(name);
    bytes.resize(16, '\0');
    return Datum{absl::StrCat("\"", name, "\""), bytes};
  }
  return Datum{std::string(text), std::string(text)};
}

// Parses "a . b . c" against `types`; sets *text and appends to *bytes (each
// component padded to 32-bit registers, as the kernel lays a concatenation).
absl::Status ParseConcat(const std::vector<std::string>& types,
                         absl::string_view text, std::string* canonical,
                         std::string* bytes) {
  std::vector<std::string> parts;
  std::string current;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (word == ".") {
      parts.push_back(std::move(current));
      current.clear();
    } else {
      absl::StrAppend(&current, current.empty() ? "" : " ", word);
    }
  }
  parts.push_back(std::move(current));
  if (parts.size() != types.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "datatype mismatch, expected ", absl::StrJoin(types, " . "),
        ", expression has ", parts.size(), " components: ", text));
  }
  std::vector<std::string> texts;
  for (size_t i = 0; i < parts.size(); ++i) {
    absl::StatusOr<Datum> datum = ParseDatum(types[i], parts[i]);
    if (!datum.ok()) return datum.status();
    texts.push_back(datum->text);
    std::string b = datum->bytes;
    if (types.size() > 1) b.resize((b.size() + 3) / 4 * 4, '\0');
    bytes->append(b);
  }
  *canonical = absl::StrJoin(texts, " . ");
  return absl::OkStatus();
}

// Position of `needle` in `text` outside "quoted strings", or npos.
size_t FindUnquoted(absl::string_view text, absl::string_view needle) {
  bool quoted = false;
  for (size_t i = 0; i + needle.size() <= text.size(); ++i) {
    if (text[i] == '"') quoted = !quoted;
    if (!quoted && text.substr(i, needle.size()) == needle) return i;
  }
  return absl::string_view::npos;
}

std::vector<std::string> SplitUnquoted(absl::string_view text, char sep) {
  std::vector<std::string> parts;
  std::string current;
  bool quoted = false;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (!quoted && c == sep) {
      parts.push_back(std::move(current));
      current.clear();
      continue;
    }
    current.push_back(c);
  }
  parts.push_back(std::move(current));
  return parts;
}

absl::StatusOr<Element> ParseElement(const Set& set, absl::string_view text,
                                     bool need_value) {
  text = absl::StripAsciiWhitespace(text);
  Element element;
  absl::string_view key = text;
  const size_t colon = FindUnquoted(text, " : ");
  if (colon != absl::string_view::npos) {
    if (!set.is_map) {
      return absl::InvalidArgumentError(
          absl::StrCat("set is not a map: ", set.name));
    }
    key = text.substr(0, colon);
    std::string bytes;
    std::string value;
    if (absl::Status s = ParseConcat(set.value_types, text.substr(colon + 3),
                                     &value, &bytes);
        !s.ok()) {
      return s;
    }
    element.value = value;
  } else if (set.is_map && need_value) {
    return absl::InvalidArgumentError(
        absl::StrCat("map element needs a value: ", text));
  }
  const size_t comment = FindUnquoted(key, "comment \"");
  if (comment != absl::string_view::npos) {
    absl::string_view c = key.substr(comment + strlen("comment \""));
    if (!absl::ConsumeSuffix(&c, "\"")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unterminated comment: ", text));
    }
    element.comment = std::string(c);
    key = absl::StripAsciiWhitespace(key.substr(0, comment));
  }
  std::string bytes;
  if (absl::Status s = ParseConcat(set.key_types, key, &element.key, &bytes);
      !s.ok()) {
    return s;
  }
  // nft lists elements ordered by the key read as one number in host (little
  // endian) order for concatenations and strings, network order otherwise.
  const bool host_order =
      set.key_types.size() > 1 || set.key_types[0] == "ifname";
  element.sort_key =
      host_order ? std::string(bytes.rbegin(), bytes.rend()) : bytes;
  return element;
}

std::string ElementText(const Element& e) {
  std::string out = e.key;
  if (e.comment.has_value())
    absl::StrAppend(&out, " comment \"", *e.comment, "\"");
  if (e.value.has_value()) absl::StrAppend(&out, " : ", *e.value);
  return out;
}

std::vector<const Element*> SortedElements(const Set& set) {
  std::vector<const Element*> sorted;
  for (const auto& [key, e] : set.elements) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Element* a, const Element* b) {
                     return a->sort_key < b->sort_key;
                   });
  return sorted;
}

// How many elements nft prints on one line for a key type.
int ElementsPerLine(const std::vector<std::string>& key_types) {
  if (key_types.size() != 1) return 1;
  const std::string& t = key_types[0];
  if (t == "ipv4_addr" || t == "ipv6_addr" || t == "ether_addr") return 2;
  if (t == "inet_service" || t == "inet_proto" || t == "integer" ||
      t == "mark" || t == "nf_proto" || t == "ifindex" || t == "uid" ||
      t == "gid") {
    return 5;
  }
  return 1;
}

std::string PrintSet(const Set& set) {
  std::string out =
      absl::StrCat("\t", set.is_map ? "map " : "set ", set.name, " {\n",
                   "\t\ttype ", absl::StrJoin(set.key_types, " . "));
  if (set.is_map)
    absl::StrAppend(&out, " : ", absl::StrJoin(set.value_types, " . "));
  absl::StrAppend(&out, "\n");
  if (!set.flags.empty()) absl::StrAppend(&out, "\t\tflags ", set.flags, "\n");
  if (!set.elements.empty()) {
    const int per_line = ElementsPerLine(set.key_types);
    absl::StrAppend(&out, "\t\telements = { ");
    std::vector<const Element*> sorted = SortedElements(set);
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (i > 0) {
        absl::StrAppend(&out, i % per_line == 0 ? ",\n\t\t\t     " : ", ");
      }
      absl::StrAppend(&out, ElementText(*sorted[i]));
    }
    absl::StrAppend(&out, " }\n");
  }
  absl::StrAppend(&out, "\t}\n");
  return out;
}

// The standard priority names nft prints for ip, ip6 and inet base chains.
std::string PriorityText(const BaseChain& base) {
  switch (base.priority) {
    case -300:
      return "raw";
    case -150:
      return "mangle";
    case -100:
      return base.hook == "prerouting" ? "dstnat" : "-100";
    case 0:
      return "filter";
    case 50:
      return "security";
    case 100:
      return base.hook == "postrouting" ? "srcnat" : "100";
    default:
      return absl::StrCat(base.priority);
  }
}

std::optional<int> ParsePriority(absl::string_view text) {
  int n = 0;
  if (absl::SimpleAtoi(text, &n)) return n;
  static const auto* const kNames = new std::map<std::string, int, std::less<>>{
      {"raw", -300}, {"mangle", -150}, {"dstnat", -100},
      {"filter", 0}, {"security", 50}, {"srcnat", 100}};
  auto it = kNames->find(text);
  if (it == kNames->end()) return std::nullopt;
  return it->second;
}

std::string PrintChain(const Chain& chain) {
  std::string out = absl::StrCat("\tchain ", chain.name, " {\n");
  if (chain.base.has_value()) {
    absl::StrAppend(&out, "\t\ttype ", chain.base->type, " hook ",
                    chain.base->hook, " priority ", PriorityText(*chain.base),
                    "; policy ", chain.base->policy, ";\n");
  }
  for (const std::string& rule : chain.rules) {
    absl::StrAppend(&out, "\t\t", rule, "\n");
  }
  absl::StrAppend(&out, "\t}\n");
  return out;
}

std::string PrintTable(const std::string& family, const std::string& name,
                       const Table& table) {
  std::vector<std::string> blocks;
  for (const Set& set : table.sets) blocks.push_back(PrintSet(set));
  for (const Chain& chain : table.chains) blocks.push_back(PrintChain(chain));
  return absl::StrCat("table ", family, " ", name, " {\n",
                      absl::StrJoin(blocks, "\n"), "}\n");
}

Set* FindSet(Table& table, absl::string_view name) {
  for (Set& s : table.sets) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Chain* FindChain(Table& table, absl::string_view name) {
  for (Chain& c : table.chains) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

bool RuleUsesSet(absl::string_view rule, absl::string_view set) {
  for (absl::string_view word : absl::StrSplit(rule, ' ')) {
    if (word == absl::StrCat("@", set)) return true;
  }
  return false;
}

bool RuleJumpsTo(absl::string_view rule, absl::string_view chain) {
  std::vector<absl::string_view> words =
      absl::StrSplit(rule, ' ', absl::SkipEmpty());
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    if ((words[i] == "goto" || words[i] == "jump") && words[i + 1] == chain) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<BaseChain> ParseBaseChain(absl::string_view body,
                                         absl::string_view command) {
  BaseChain base;
  base.policy = "accept";
  bool has_hook = false;
  for (absl::string_view part :
       absl::StrSplit(body, ';', absl::SkipWhitespace())) {
    std::vector<absl::string_view> words =
        absl::StrSplit(part, ' ', absl::SkipEmpty());
    if (words.size() >= 6 && words[0] == "type" && words[2] == "hook" &&
        words[4] == "priority") {
      base.type = std::string(words[1]);
      base.hook = std::string(words[3]);
      std::optional<int> priority = ParsePriority(words[5]);
      if (!priority.has_value()) {
        return SyntaxError(absl::StrCat("unknown priority ", words[5]),
                           command);
      }
      base.priority = *priority;
      has_hook = true;
    } else if (words.size() == 2 && words[0] == "policy" &&
               (words[1] == "accept" || words[1] == "drop")) {
      base.policy = std::string(words[1]);
    } else {
      return SyntaxError(absl::StrCat("unexpected ", part), command);
    }
  }
  if (!has_hook)
    return SyntaxError("chain needs type, hook and priority", command);
  return base;
}

bool SameBase(const BaseChain& a, const BaseChain& b) {
  return a.type == b.type && a.hook == b.hook && a.priority == b.priority &&
         a.policy == b.policy;
}

// The words of one command: "VERB OBJECT FAMILY TABLE [NAME [BODY...]]".
using Words = std::vector<Token>;

// add|create|delete|destroy table F T.
absl::Status ExecuteTable(const Words& t, const std::string& command,
                          Ruleset* ruleset) {
  const std::string& verb = t[0].text;
  if (t.size() != 4)
    return SyntaxError("unexpected words after table", command);
  auto table_it = ruleset->find({t[2].text, t[3].text});
  if (verb == "add" || verb == "create") {
    if (table_it != ruleset->end()) {
      return verb == "create" ? Refused(kExists, command) : absl::OkStatus();
    }
    (*ruleset)[{t[2].text, t[3].text}];
    return absl::OkStatus();
  }
  if (verb == "delete" || verb == "destroy") {
    if (table_it == ruleset->end()) {
      return verb == "destroy" ? absl::OkStatus() : Refused(kNoEntry, command);
    }
    ruleset->erase(table_it);
    return absl::OkStatus();
  }
  return SyntaxError(absl::StrCat("unexpected ", verb), command);
}

// The set or map `add|create set|map F T S { type K [: V]; ... }` declares.
absl::StatusOr<Set> ParseSetDeclaration(const Words& t,
                                        const std::string& command) {
  const std::string& object = t[1].text;
  std::optional<std::string> body =
      t.size() == 6 ? BlockBody(t[5].text) : std::nullopt;
  if (!body.has_value()) return SyntaxError("expected { type ...; }", command);
  Set set;
  set.name = t[4].text;
  set.is_map = object == "map";
  for (absl::string_view part :
       absl::StrSplit(*body, ';', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, "flags ")) {
      set.flags = absl::StrJoin(
          absl::StrSplit(part, ',', absl::SkipWhitespace()), ",",
          [](std::string* out, absl::string_view flag) {
            absl::StrAppend(out, absl::StripAsciiWhitespace(flag));
          });
      continue;
    }
    if (!absl::ConsumePrefix(&part, "type ")) continue;  // size, ...
    std::vector<std::string> sides = absl::StrSplit(part, " : ");
    if (sides.size() != (set.is_map ? 2u : 1u)) {
      return SyntaxError(absl::StrCat("bad type for ", object, ": ", part),
                         command);
    }
    set.key_types = absl::StrSplit(CollapseSpaces(sides[0]), " . ");
    if (set.is_map) {
      set.value_types = absl::StrSplit(CollapseSpaces(sides[1]), " . ");
    }
  }
  if (set.key_types.empty()) return SyntaxError("set needs a type", command);
  return set;
}

// add|create|flush|delete set|map F T S.
absl::Status ExecuteSet(const Words& t, const std::string& command,
                        Table* table) {
  const std::string& verb = t[0].text;
  const bool is_map = t[1].text == "map";
  const std::string& name = t[4].text;
  Set* existing = FindSet(*table, name);
  if (verb == "flush" || verb == "delete") {
    if (existing == nullptr || existing->is_map != is_map) {
      return Refused(kNoEntry, command);
    }
    if (verb == "flush") {
      existing->elements.clear();
      return absl::OkStatus();
    }
    for (const Chain& c : table->chains) {
      for (const std::string& r : c.rules) {
        if (RuleUsesSet(r, name)) return Refused(kBusy, command);
      }
    }
    table->sets.erase(table->sets.begin() + (existing - table->sets.data()));
    return absl::OkStatus();
  }
  if (verb != "add" && verb != "create") {
    return SyntaxError(absl::StrCat("unexpected ", verb), command);
  }
  absl::StatusOr<Set> set = ParseSetDeclaration(t, command);
  if (!set.ok()) return set.status();
  if (existing != nullptr) {
    const bool same = existing->is_map == is_map &&
                      existing->key_types == set->key_types &&
                      existing->value_types == set->value_types &&
                      existing->flags == set->flags;
    if (!same || verb == "create") return Refused(kExists, command);
    return absl::OkStatus();
  }
  table->sets.push_back(*std::move(set));
  return absl::OkStatus();
}

// add|create|flush|delete chain F T C [{ type X hook H priority P; ... }].
absl::Status ExecuteChain(const Words& t, const std::string& command,
                          Table* table) {
  const std::string& verb = t[0].text;
  const std::string& name = t[4].text;
  Chain* existing = FindChain(*table, name);
  if (verb == "flush" || verb == "delete") {
    if (existing == nullptr) return Refused(kNoEntry, command);
    if (verb == "flush") {
      existing->rules.clear();
      return absl::OkStatus();
    }
    if (!existing->rules.empty()) return Refused(kBusy, command);
    for (const Chain& c : table->chains) {
      for (const std::string& r : c.rules) {
        if (RuleJumpsTo(r, name)) return Refused(kBusy, command);
      }
    }
    table->chains.erase(table->chains.begin() +
                        (existing - table->chains.data()));
    return absl::OkStatus();
  }
  if (verb != "add" && verb != "create") {
    return SyntaxError(absl::StrCat("unexpected ", verb), command);
  }
  std::optional<BaseChain> base;
  if (t.size() == 6) {
    std::optional<std::string> body = BlockBody(t[5].text);
    if (!body.has_value()) return SyntaxError("expected { ... }", command);
    absl::StatusOr<BaseChain> parsed = ParseBaseChain(*body, command);
    if (!parsed.ok()) return parsed.status();
    base = *parsed;
  } else if (t.size() > 6) {
    return SyntaxError("unexpected words after chain", command);
  }
  if (existing != nullptr) {
    if (verb == "create") return Refused(kExists, command);
    if (!base.has_value()) return absl::OkStatus();
    if (existing->base.has_value() && SameBase(*existing->base, *base)) {
      return absl::OkStatus();
    }
    return Refused("Operation not supported", command);
  }
  table->chains.push_back(Chain{name, base, {}});
  return absl::OkStatus();
}

// add|insert rule F T C STATEMENTS: every @set and goto/jump target exists.
absl::Status ExecuteRule(const Words& t, const std::string& command,
                         Table* table) {
  const std::string& verb = t[0].text;
  if (verb != "add" && verb != "insert") {
    return SyntaxError(absl::StrCat("unexpected ", verb), command);
  }
  Chain* chain = FindChain(*table, t[4].text);
  if (chain == nullptr) return Refused(kNoEntry, command);
  if (t.size() < 6) return SyntaxError("rule needs statements", command);
  const std::string rule =
      CollapseSpaces(absl::string_view(command).substr(t[5].begin));
  std::vector<absl::string_view> words = absl::StrSplit(rule, ' ');
  for (size_t i = 0; i < words.size(); ++i) {
    absl::string_view w = words[i];
    if (absl::ConsumePrefix(&w, "@") && FindSet(*table, w) == nullptr) {
      return NftError(kNoEntry, command);
    }
    if ((w == "goto" || w == "jump") && i + 1 < words.size() &&
        FindChain(*table, words[i + 1]) == nullptr) {
      return Refused(kNoEntry, command);
    }
  }
  if (verb == "insert") {
    chain->rules.insert(chain->rules.begin(), rule);
  } else {
    chain->rules.push_back(rule);
  }
  return absl::OkStatus();
}

// add|create|delete element F T S { E[, E...] }.
absl::Status ExecuteElement(const Words& t, const std::string& command,
                            Table* table) {
  const std::string& verb = t[0].text;
  if (verb != "add" && verb != "create" && verb != "delete") {
    return SyntaxError(absl::StrCat("unexpected ", verb), command);
  }
  Set* set = FindSet(*table, t[4].text);
  if (set == nullptr) return Refused(kNoEntry, command);
  std::optional<std::string> body =
      t.size() == 6 ? BlockBody(t[5].text) : std::nullopt;
  if (!body.has_value()) return SyntaxError("expected { elements }", command);
  for (const std::string& text : SplitUnquoted(*body, ',')) {
    absl::StatusOr<Element> element =
        ParseElement(*set, text, /*need_value=*/verb != "delete");
    if (!element.ok()) return NftError(element.status().message(), command);
    auto it = set->elements.find(element->key);
    if (verb == "delete") {
      if (it == set->elements.end()) return Refused(kNoEntry, command);
      set->elements.erase(it);
      continue;
    }
    if (it != set->elements.end()) {
      // The kernel keeps the existing element; only another value (or
      // "create") is an error.
      if (verb == "create" || it->second.value != element->value) {
        return Refused(kExists, command);
      }
      continue;
    }
    std::string key = element->key;
    set->elements.emplace(std::move(key), *std::move(element));
  }
  return absl::OkStatus();
}

// Applies one command to `ruleset`.
absl::Status Execute(const std::string& command, Ruleset* ruleset) {
  const Words t = Tokens(command);
  if (t.size() < 2) return SyntaxError("incomplete command", command);
  const std::string& verb = t[0].text;
  const std::string& object = t[1].text;
  if (t.size() < 4 || !IsFamily(t[2].text)) {
    return SyntaxError(
        absl::StrCat("expected family and table after ", verb, " ", object),
        command);
  }
  if (object == "table") return ExecuteTable(t, command, ruleset);
  if (t.size() < 5) return SyntaxError("expected a name", command);
  auto table_it = ruleset->find({t[2].text, t[3].text});
  if (table_it == ruleset->end()) return Refused(kNoEntry, command);
  Table* table = &table_it->second;
  if (object == "set" || object == "map") {
    return ExecuteSet(t, command, table);
  }
  if (object == "chain") return ExecuteChain(t, command, table);
  if (object == "rule") return ExecuteRule(t, command, table);
  if (object == "element") return ExecuteElement(t, command, table);
  return SyntaxError(absl::StrCat("unexpected ", object), command);
}

// Applies every command of `script` to a copy of `*ruleset`, replacing it
// only when all succeed.
absl::Status ApplyScript(absl::string_view script, Ruleset* ruleset) {
  Ruleset work = *ruleset;
  for (const std::string& command : Commands(script)) {
    if (absl::Status s = Execute(command, &work); !s.ok()) return s;
  }
  *ruleset = std::move(work);
  return absl::OkStatus();
}

}  // namespace

absl::Status FakeNft::Run(const std::string& script) {
  std::lock_guard<std::mutex> lock(mu_);
  scripts_.push_back(script);
  if (!run_failures_.empty()) {
    absl::Status injected = std::move(run_failures_.front());
    run_failures_.pop_front();
    return injected;
  }
  return ApplyScript(script, &ruleset_);
}

absl::StatusOr<std::string> FakeNft::List(const std::string& command) {
  std::lock_guard<std::mutex> lock(mu_);
  list_commands_.push_back(command);
  if (!list_failures_.empty()) {
    absl::Status injected = std::move(list_failures_.front());
    list_failures_.pop_front();
    return injected;
  }
  std::vector<std::string> w =
      absl::StrSplit(command, ' ', absl::SkipWhitespace());
  if (w.size() == 2 && w[0] == "list" && w[1] == "chains") {
    // Every chain of every table, base chains with their hook line, no rules.
    std::string out;
    for (const auto& [key, table] : ruleset_) {
      absl::StrAppend(&out, "table ", key.first, " ", key.second, " {\n");
      for (const Chain& chain : table.chains) {
        Chain bare = chain;
        bare.rules.clear();
        absl::StrAppend(&out, PrintChain(bare));
      }
      absl::StrAppend(&out, "}\n");
    }
    return out;
  }
  if (w.size() < 4 || w[0] != "list" || !IsFamily(w[2]) ||
      !(w[1] == "table" ? w.size() == 4
                        : (w[1] == "set" || w[1] == "map" || w[1] == "chain") &&
                              w.size() == 5)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FakeNft lists only \"list chains\" and \"list table|set|map|chain "
        "FAMILY TABLE [NAME]\", "
        "not: ",
        command));
  }
  auto it = ruleset_.find({w[2], w[3]});
  if (it == ruleset_.end()) return NftError(kNoEntry, command);
  if (w[1] == "table") return PrintTable(w[2], w[3], it->second);
  std::string body;
  if (w[1] == "chain") {
    Chain* chain = FindChain(it->second, w[4]);
    if (chain == nullptr) return NftError(kNoEntry, command);
    body = PrintChain(*chain);
  } else {
    Set* set = FindSet(it->second, w[4]);
    if (set == nullptr || set->is_map != (w[1] == "map")) {
      return NftError(kNoEntry, command);
    }
    body = PrintSet(*set);
  }
  return absl::StrCat("table ", w[2], " ", w[3], " {\n", body, "}\n");
}

void FakeNft::FailNext(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  run_failures_.push_back(std::move(status));
}

void FakeNft::FailNextList(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  list_failures_.push_back(std::move(status));
}

std::vector<std::string> FakeNft::scripts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return scripts_;
}

std::vector<std::string> FakeNft::list_commands() const {
  std::lock_guard<std::mutex> lock(mu_);
  return list_commands_;
}

absl::Status FakeNft::Apply(absl::string_view script) {
  std::lock_guard<std::mutex> lock(mu_);
  return ApplyScript(script, &ruleset_);
}

absl::Status FakeNft::DeleteTable(absl::string_view family,
                                  absl::string_view table) {
  return Apply(absl::StrCat("delete table ", family, " ", table));
}

absl::Status FakeNft::DeleteElement(absl::string_view family,
                                    absl::string_view table,
                                    absl::string_view set,
                                    absl::string_view key) {
  return Apply(absl::StrCat("delete element ", family, " ", table, " ", set,
                            " { ", key, " }"));
}

std::vector<std::string> FakeNft::Elements(absl::string_view family,
                                           absl::string_view table,
                                           absl::string_view set) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ruleset_.find({std::string(family), std::string(table)});
  if (it == ruleset_.end()) return {};
  for (const Set& s : it->second.sets) {
    if (s.name != set) continue;
    std::vector<std::string> out;
    for (const Element* e : SortedElements(s)) out.push_back(ElementText(*e));
    return out;
  }
  return {};
}

bool FakeNft::HasTable(absl::string_view family,
                       absl::string_view table) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ruleset_.count({std::string(family), std::string(table)}) > 0;
}

std::vector<std::string> FakeNft::Rules(absl::string_view family,
                                        absl::string_view table,
                                        absl::string_view chain) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ruleset_.find({std::string(family), std::string(table)});
  if (it == ruleset_.end()) return {};
  for (const Chain& c : it->second.chains) {
    if (c.name == chain) return c.rules;
  }
  return {};
}

}  // namespace hostport::testing
