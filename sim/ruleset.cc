#include "sim/ruleset.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sim {

absl::StatusOr<Protocol> ParseProtocol(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "tcp" || lower == "6") return Protocol::kTcp;
  if (lower == "udp" || lower == "17") return Protocol::kUdp;
  if (lower == "sctp" || lower == "132") return Protocol::kSctp;
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported protocol \"", text, "\" (tcp, udp or sctp)"));
}

std::string ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kUdp:
      return "udp";
    case Protocol::kSctp:
      return "sctp";
  }
  return "?";
}

std::string HookName(Hook hook) {
  switch (hook) {
    case Hook::kPrerouting:
      return "prerouting";
    case Hook::kInput:
      return "input";
    case Hook::kForward:
      return "forward";
    case Hook::kOutput:
      return "output";
    case Hook::kPostrouting:
      return "postrouting";
  }
  return "?";
}

int ValueWidth(ValueType type) {
  switch (type) {
    case ValueType::kIpv4Addr:
      return 4;
    case ValueType::kIpv6Addr:
      return 16;
    case ValueType::kInetProto:
    case ValueType::kAddrType:
    case ValueType::kNfProto:
    case ValueType::kTcpFlag:
    case ValueType::kPktType:
      return 1;
    case ValueType::kInetService:
      return 2;
    case ValueType::kIfname:
      return 16;
    case ValueType::kMark:
    case ValueType::kCtState:
    case ValueType::kCtStatus:
    case ValueType::kUid:
      return 4;
  }
  return 0;
}

namespace {
struct TypeNameEntry {
  ValueType type;
  const char* name;
};
constexpr TypeNameEntry kTypeNames[] = {
    {ValueType::kIpv4Addr, "ipv4_addr"},
    {ValueType::kIpv6Addr, "ipv6_addr"},
    {ValueType::kInetProto, "inet_proto"},
    {ValueType::kInetService, "inet_service"},
    {ValueType::kIfname, "ifname"},
    {ValueType::kMark, "mark"},
    {ValueType::kCtState, "ct_state"},
    {ValueType::kCtStatus, "ct_status"},
    {ValueType::kAddrType, "fib_addrtype"},
    {ValueType::kNfProto, "nf_proto"},
    {ValueType::kTcpFlag, "tcp_flag"},
    {ValueType::kPktType, "pkt_type"},
    {ValueType::kUid, "uid"},
};
}  // namespace

std::string ValueTypeName(ValueType type) {
  for (const TypeNameEntry& e : kTypeNames) {
    if (e.type == type) return e.name;
  }
  return "?";
}

absl::StatusOr<ValueType> ParseValueTypeName(absl::string_view name) {
  for (const TypeNameEntry& e : kTypeNames) {
    if (name == e.name) return e.type;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported set data type \"", name, "\""));
}

ValueType FieldValueType(Field field) {
  switch (field) {
    case Field::kSrcAddr4:
    case Field::kDstAddr4:
    case Field::kCtOrigDstAddr4:
      return ValueType::kIpv4Addr;
    case Field::kSrcAddr6:
    case Field::kDstAddr6:
    case Field::kCtOrigDstAddr6:
      return ValueType::kIpv6Addr;
    case Field::kL4Proto:
      return ValueType::kInetProto;
    case Field::kSrcPort:
    case Field::kDstPort:
    case Field::kCtOrigDstPort:
      return ValueType::kInetService;
    case Field::kInIface:
    case Field::kOutIface:
      return ValueType::kIfname;
    case Field::kMark:
      return ValueType::kMark;
    case Field::kCtState:
      return ValueType::kCtState;
    case Field::kCtStatus:
      return ValueType::kCtStatus;
    case Field::kDstAddrType:
    case Field::kSrcAddrType:
      return ValueType::kAddrType;
    case Field::kNfProto:
      return ValueType::kNfProto;
    case Field::kCtMark:
    case Field::kPhysFlags:
      return ValueType::kMark;
    case Field::kTcpFlags:
      return ValueType::kTcpFlag;
    case Field::kPktType:
      return ValueType::kPktType;
    case Field::kSkUid:
    case Field::kSkGid:
      return ValueType::kUid;
    case Field::kPhysIn:
    case Field::kPhysOut:
      return ValueType::kIfname;
    case Field::kDstAddrTypeIif:
    case Field::kSrcAddrTypeIif:
    case Field::kDstAddrTypeOif:
    case Field::kSrcAddrTypeOif:
      return ValueType::kAddrType;
    case Field::kNumgen:
      return ValueType::kMark;
  }
  return ValueType::kMark;
}

std::string FieldName(Field field) {
  switch (field) {
    case Field::kSrcAddr4:
      return "ip saddr";
    case Field::kDstAddr4:
      return "ip daddr";
    case Field::kSrcAddr6:
      return "ip6 saddr";
    case Field::kDstAddr6:
      return "ip6 daddr";
    case Field::kL4Proto:
      return "meta l4proto";
    case Field::kSrcPort:
      return "th sport";
    case Field::kDstPort:
      return "th dport";
    case Field::kInIface:
      return "iifname";
    case Field::kOutIface:
      return "oifname";
    case Field::kMark:
      return "meta mark";
    case Field::kCtState:
      return "ct state";
    case Field::kCtStatus:
      return "ct status";
    case Field::kDstAddrType:
      return "fib daddr type";
    case Field::kSrcAddrType:
      return "fib saddr type";
    case Field::kCtOrigDstAddr4:
      return "ct original ip daddr";
    case Field::kCtOrigDstAddr6:
      return "ct original ip6 daddr";
    case Field::kCtOrigDstPort:
      return "ct original proto-dst";
    case Field::kNfProto:
      return "meta nfproto";
    case Field::kCtMark:
      return "ct mark";
    case Field::kTcpFlags:
      return "tcp flags";
    case Field::kPktType:
      return "meta pkttype";
    case Field::kSkUid:
      return "meta skuid";
    case Field::kSkGid:
      return "meta skgid";
    case Field::kPhysIn:
      return "physdev-in";
    case Field::kPhysOut:
      return "physdev-out";
    case Field::kPhysFlags:
      return "physdev-is";
    case Field::kDstAddrTypeIif:
      return "fib daddr . iif type";
    case Field::kSrcAddrTypeIif:
      return "fib saddr . iif type";
    case Field::kDstAddrTypeOif:
      return "fib daddr . oif type";
    case Field::kSrcAddrTypeOif:
      return "fib saddr . oif type";
    case Field::kNumgen:
      return "numgen";
  }
  return "?";
}

bool ValuePattern::Matches(absl::string_view value) const {
  switch (kind) {
    case Kind::kExact:
      return value == lo;
    case Kind::kPrefix:
      return value.size() == lo.size() &&
             PrefixBitsEqual(reinterpret_cast<const uint8_t*>(value.data()),
                             reinterpret_cast<const uint8_t*>(lo.data()), bits);
    case Kind::kRange:
      return value.size() == lo.size() && value >= lo && value <= hi;
    case Kind::kIfacePrefix:
      return value.size() >= static_cast<size_t>(bits) &&
             value.substr(0, bits) == absl::string_view(lo).substr(0, bits);
  }
  return false;
}

int ElementSet::key_width() const {
  int w = 0;
  for (ValueType t : key_types_) w += ValueWidth(t);
  return w;
}

namespace {
bool AllExact(const std::vector<ValuePattern>& key) {
  for (const ValuePattern& p : key) {
    if (p.kind != ValuePattern::Kind::kExact) return false;
  }
  return true;
}

std::string JoinExact(const std::vector<ValuePattern>& key) {
  std::string out;
  for (const ValuePattern& p : key) out += p.lo;
  return out;
}

bool SameKey(const std::vector<ValuePattern>& a,
             const std::vector<ValuePattern>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].kind != b[i].kind || a[i].lo != b[i].lo || a[i].hi != b[i].hi ||
        a[i].bits != b[i].bits) {
      return false;
    }
  }
  return true;
}
}  // namespace

absl::Status ElementSet::Add(SetElement element) {
  if (AllExact(element.key)) {
    std::string key = JoinExact(element.key);
    if (exact_.contains(key)) {
      return absl::AlreadyExistsError(
          absl::StrCat("duplicate element \"", element.text, "\""));
    }
    exact_.emplace(std::move(key), std::move(element));
    return absl::OkStatus();
  }
  for (const SetElement& e : inexact_) {
    if (SameKey(e.key, element.key)) {
      return absl::AlreadyExistsError(
          absl::StrCat("duplicate element \"", element.text, "\""));
    }
  }
  inexact_.push_back(std::move(element));
  return absl::OkStatus();
}

absl::Status ElementSet::Remove(const std::vector<ValuePattern>& key) {
  if (AllExact(key)) {
    if (exact_.erase(JoinExact(key)) == 1) return absl::OkStatus();
  } else {
    for (auto it = inexact_.begin(); it != inexact_.end(); ++it) {
      if (SameKey(it->key, key)) {
        inexact_.erase(it);
        return absl::OkStatus();
      }
    }
  }
  return absl::NotFoundError("no such element");
}

std::vector<const SetElement*> ElementSet::elements() const {
  std::vector<const SetElement*> out;
  for (const auto& [key, e] : exact_) out.push_back(&e);
  for (const SetElement& e : inexact_) out.push_back(&e);
  return out;
}

void ElementSet::Clear() {
  exact_.clear();
  inexact_.clear();
}

const SetElement* ElementSet::Lookup(absl::string_view key) const {
  if (!exact_.empty()) {
    auto it = exact_.find(key);
    if (it != exact_.end()) return &it->second;
  }
  for (const SetElement& e : inexact_) {
    size_t offset = 0;
    bool all = true;
    for (size_t i = 0; i < e.key.size() && all; ++i) {
      size_t width = ValueWidth(key_types_[i]);
      all = e.key[i].Matches(key.substr(offset, width));
      offset += width;
    }
    if (all) return &e;
  }
  return nullptr;
}

std::string TableFamilyName(TableFamily family) {
  switch (family) {
    case TableFamily::kIp:
      return "ip";
    case TableFamily::kIp6:
      return "ip6";
    case TableFamily::kInet:
      return "inet";
  }
  return "?";
}

bool Table::AppliesTo(IpFamily f) const {
  if (family == TableFamily::kInet) return true;
  return (family == TableFamily::kIp) == (f == IpFamily::kV4);
}

bool Table::HasNatChain() const {
  for (const auto& [name, chain] : chains) {
    if (chain.is_base && chain.type == "nat") return true;
  }
  return false;
}

bool Table::HasFilterChain() const {
  for (const auto& [name, chain] : chains) {
    if (chain.is_base && chain.type == "filter") return true;
  }
  return false;
}

std::string Table::Label() const {
  if (syntax == Syntax::kIptables) {
    return family == TableFamily::kIp ? name : absl::StrCat(name, "6");
  }
  return absl::StrCat(TableFamilyName(family), " ", name);
}

Table* Ruleset::FindTable(Syntax syntax, TableFamily family,
                          absl::string_view name) {
  for (Table& t : tables) {
    if (t.syntax == syntax && t.family == family && t.name == name) return &t;
  }
  return nullptr;
}

const Table* Ruleset::FindTable(Syntax syntax, TableFamily family,
                                absl::string_view name) const {
  for (const Table& t : tables) {
    if (t.syntax == syntax && t.family == family && t.name == name) return &t;
  }
  return nullptr;
}

std::string EncodeNumber(ValueType type, uint32_t number) {
  int width = ValueWidth(type);
  std::string out(width, '\0');
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>(number & 0xff);
    number >>= 8;
  }
  return out;
}

uint32_t DecodeNumber(absl::string_view bytes) {
  uint32_t n = 0;
  for (char c : bytes) n = (n << 8) | static_cast<uint8_t>(c);
  return n;
}

namespace {

absl::Status BadValue(ValueType type, absl::string_view text,
                      absl::string_view valid) {
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid ", ValueTypeName(type), " value \"", text, "\" (", valid, ")"));
}

bool ParseUint(absl::string_view text, uint32_t* out) {
  if (text.empty()) return false;
  if (absl::StartsWith(text, "0x") || absl::StartsWith(text, "0X")) {
    if (text.size() == 2 || text.size() > 10) return false;
    uint32_t v = 0;
    for (char c : text.substr(2)) {
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return false;
      }
      v = (v << 4) | static_cast<uint32_t>(d);
    }
    *out = v;
    return true;
  }
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(text, out);
}

struct NamedNumber {
  const char* name;
  uint32_t value;
};

constexpr NamedNumber kServices[] = {
    {"ssh", 22},    {"domain", 53}, {"http", 80},
    {"https", 443}, {"ntp", 123},   {"http-alt", 8080},
};
constexpr NamedNumber kCtStates[] = {
    {"invalid", kCtStateInvalid},     {"established", kCtStateEstablished},
    {"related", kCtStateRelated},     {"new", kCtStateNew},
    {"untracked", kCtStateUntracked}, {"snat", kCtStateSnat},
    {"dnat", kCtStateDnat},
};
constexpr NamedNumber kCtStatuses[] = {
    {"expected", 1},  {"seen-reply", 2},       {"assured", 4},
    {"confirmed", 8}, {"snat", kCtStatusSnat}, {"dnat", kCtStatusDnat},
    {"dying", 512},
};
constexpr NamedNumber kTcpFlags[] = {
    {"fin", 1},  {"syn", 2},  {"rst", 4},  {"psh", 8},
    {"ack", 16}, {"urg", 32}, {"ecn", 64}, {"cwr", 128},
};
constexpr NamedNumber kPktTypes[] = {
    {"host", 0},      {"unicast", 0}, {"broadcast", 1},
    {"multicast", 2}, {"other", 3},
};
constexpr NamedNumber kAddrTypes[] = {
    {"unicast", kRtnUnicast},
    {"local", kRtnLocal},
    {"multicast", kRtnMulticast},
};

bool LookupName(const NamedNumber* table, size_t n, absl::string_view name,
                uint32_t* out) {
  std::string lower = absl::AsciiStrToLower(name);
  for (size_t i = 0; i < n; ++i) {
    if (lower == table[i].name) {
      *out = table[i].value;
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::string> ParseScalar(ValueType type,
                                        absl::string_view text) {
  uint32_t n = 0;
  switch (type) {
    case ValueType::kIpv4Addr:
    case ValueType::kIpv6Addr: {
      absl::StatusOr<IpAddress> a = IpAddress::Parse(text);
      if (!a.ok() || a->is_v4() != (type == ValueType::kIpv4Addr)) {
        return BadValue(type, text, "an address of the table's family");
      }
      return std::string(reinterpret_cast<const char*>(a->bytes()), a->size());
    }
    case ValueType::kInetProto: {
      absl::StatusOr<Protocol> p = ParseProtocol(text);
      if (p.ok()) return EncodeNumber(type, static_cast<uint32_t>(*p));
      if (ParseUint(text, &n) && n < 256) return EncodeNumber(type, n);
      std::string lower = absl::AsciiStrToLower(text);
      if (lower == "icmp") return EncodeNumber(type, 1);
      if (lower == "icmpv6" || lower == "ipv6-icmp")
        return EncodeNumber(type, 58);
      return BadValue(type, text, "tcp, udp, sctp, icmp or a number");
    }
    case ValueType::kInetService:
      if ((ParseUint(text, &n) && n < 65536) ||
          LookupName(kServices, sizeof(kServices) / sizeof(kServices[0]), text,
                     &n)) {
        return EncodeNumber(type, n);
      }
      return BadValue(type, text, "a port number 0..65535");
    case ValueType::kIfname: {
      if (text.empty() || text.size() > 15) {
        return BadValue(type, text, "an interface name of 1..15 characters");
      }
      std::string out(text);
      out.resize(16, '\0');
      return out;
    }
    case ValueType::kMark:
      if (ParseUint(text, &n)) return EncodeNumber(type, n);
      return BadValue(type, text, "a 32-bit number");
    case ValueType::kCtState:
      if (LookupName(kCtStates, sizeof(kCtStates) / sizeof(kCtStates[0]), text,
                     &n)) {
        return EncodeNumber(type, n);
      }
      return BadValue(type, text,
                      "new, established, related, invalid, untracked, snat, "
                      "dnat");
    case ValueType::kCtStatus:
      if (LookupName(kCtStatuses, sizeof(kCtStatuses) / sizeof(kCtStatuses[0]),
                     text, &n)) {
        return EncodeNumber(type, n);
      }
      return BadValue(type, text,
                      "expected, seen-reply, assured, confirmed, snat, dnat, "
                      "dying");
    case ValueType::kAddrType:
      if (LookupName(kAddrTypes, sizeof(kAddrTypes) / sizeof(kAddrTypes[0]),
                     text, &n)) {
        return EncodeNumber(type, n);
      }
      return BadValue(type, text, "local, unicast or multicast");
    case ValueType::kTcpFlag:
      if (LookupName(kTcpFlags, sizeof(kTcpFlags) / sizeof(kTcpFlags[0]), text,
                     &n) ||
          (ParseUint(text, &n) && n < 256)) {
        return EncodeNumber(type, n);
      }
      return BadValue(type, text, "fin, syn, rst, psh, ack, urg, ecn, cwr");
    case ValueType::kPktType:
      if (LookupName(kPktTypes, sizeof(kPktTypes) / sizeof(kPktTypes[0]), text,
                     &n)) {
        return EncodeNumber(type, n);
      }
      return BadValue(type, text, "host, unicast, broadcast, multicast, other");
    case ValueType::kUid:
      if (ParseUint(text, &n) && n != kNoOwner) return EncodeNumber(type, n);
      return BadValue(type, text, "a numeric id");
    case ValueType::kNfProto: {
      std::string lower = absl::AsciiStrToLower(text);
      if (lower == "ipv4") return EncodeNumber(type, 2);
      if (lower == "ipv6") return EncodeNumber(type, 10);
      return BadValue(type, text, "ipv4 or ipv6");
    }
  }
  return BadValue(type, text, "?");
}

}  // namespace

absl::StatusOr<ValuePattern> ParseValuePattern(ValueType type,
                                               absl::string_view text,
                                               bool allow_intervals) {
  ValuePattern p;
  bool is_addr = type == ValueType::kIpv4Addr || type == ValueType::kIpv6Addr;
  if (type == ValueType::kIfname && !text.empty() &&
      (text.back() == '*' || text.back() == '+')) {
    text.remove_suffix(1);
    if (text.empty() || text.size() > 15) {
      return BadValue(type, text, "an interface name of 1..15 characters");
    }
    p.kind = ValuePattern::Kind::kIfacePrefix;
    p.lo = std::string(text);
    p.lo.resize(16, '\0');
    p.bits = static_cast<int>(text.size());
    return p;
  }
  if (is_addr && text.find('/') != absl::string_view::npos) {
    absl::StatusOr<IpPrefix> prefix = IpPrefix::Parse(text);
    if (!prefix.ok() ||
        prefix->address().is_v4() != (type == ValueType::kIpv4Addr)) {
      return BadValue(type, text, "an address or CIDR of the table's family");
    }
    if (prefix->length() == prefix->address().size() * 8) {
      p.lo =
          std::string(reinterpret_cast<const char*>(prefix->address().bytes()),
                      prefix->address().size());
      return p;
    }
    if (!allow_intervals) {
      return BadValue(type, text, "a prefix needs a set with flags interval");
    }
    p.kind = ValuePattern::Kind::kPrefix;
    p.lo = std::string(reinterpret_cast<const char*>(prefix->address().bytes()),
                       prefix->address().size());
    p.bits = prefix->length();
    return p;
  }
  // Ranges: nft writes "a-b"; iptables ports "a:b". IPv6 addresses contain
  // ':' so only ports take the colon form.
  size_t dash = text.find('-', 1);
  if (type == ValueType::kInetService && dash == absl::string_view::npos) {
    dash = text.find(':');
  }
  if (dash != absl::string_view::npos && type != ValueType::kCtStatus &&
      type != ValueType::kIfname) {
    absl::StatusOr<std::string> lo = ParseScalar(type, text.substr(0, dash));
    absl::StatusOr<std::string> hi = ParseScalar(type, text.substr(dash + 1));
    if (lo.ok() && hi.ok()) {
      if (!allow_intervals) {
        return BadValue(type, text, "a range needs a set with flags interval");
      }
      if (*hi < *lo) return BadValue(type, text, "range ends before it starts");
      p.kind = ValuePattern::Kind::kRange;
      p.lo = *std::move(lo);
      p.hi = *std::move(hi);
      if (p.lo == p.hi) p.kind = ValuePattern::Kind::kExact;
      return p;
    }
  }
  absl::StatusOr<std::string> v = ParseScalar(type, text);
  if (!v.ok()) return v.status();
  p.lo = *std::move(v);
  return p;
}

absl::Status ParseNatPorts(absl::string_view text, Action* a) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
  uint32_t lo = 0, hi = 0;
  bool ok = parts.size() <= 2 && absl::SimpleAtoi(parts[0], &lo) &&
            (parts.size() == 1 || absl::SimpleAtoi(parts[1], &hi));
  if (parts.size() == 1) hi = lo;
  if (!ok || lo < 1 || hi > 65535 || hi < lo) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid port range \"", text, "\""));
  }
  a->nat_port = static_cast<uint16_t>(lo);
  a->nat_port_hi = lo == hi ? 0 : static_cast<uint16_t>(hi);
  return absl::OkStatus();
}

absl::Status ParseNatRange(absl::string_view text, IpFamily family, Action* a) {
  absl::Status bad = absl::InvalidArgumentError(
      absl::StrCat("invalid NAT range \"", text, "\""));
  bool v6 = family == IpFamily::kV6;
  absl::string_view addrs = text, ports;
  size_t colon = v6 ? text.rfind("]:") : text.rfind(':');
  if (colon != absl::string_view::npos) {
    addrs = text.substr(0, v6 ? colon + 1 : colon);
    ports = text.substr(colon + (v6 ? 2 : 1));
  }
  std::vector<absl::string_view> ends = absl::StrSplit(addrs, '-');
  if (ends.size() > 2) return bad;
  std::vector<IpAddress> parsed;
  for (absl::string_view e : ends) {
    if (e.size() > 2 && e.front() == '[' && e.back() == ']') {
      e = e.substr(1, e.size() - 2);
    }
    absl::StatusOr<IpAddress> addr = IpAddress::Parse(e);
    if (!addr.ok() || addr->family() != family) return bad;
    parsed.push_back(*addr);
  }
  a->nat_address = parsed[0];
  a->nat_address_hi.reset();
  if (parsed.size() == 2) {
    if (parsed[1] < parsed[0]) return bad;
    if (parsed[1] != parsed[0]) a->nat_address_hi = parsed[1];
  }
  a->nat_port = a->nat_port_hi = 0;
  if (colon == absl::string_view::npos) return absl::OkStatus();
  return ParseNatPorts(ports, a);
}

}  // namespace sim
