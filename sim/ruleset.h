// Ruleset: the simulator's in-memory model of NAT rules, shared by the
// iptables and nftables front ends.
//
// Both syntaxes are translated into one vocabulary: a Rule is a list of
// Matches (a concatenation of packet Fields tested against a set of
// ValuePatterns, or a bitwise test, or a chance) followed by Actions (verdicts,
// NAT, mark arithmetic). Every field has a fixed byte width, so a concatenated
// key is a plain byte string and a map lookup is one hash lookup.
//
// Promises: the model holds only constructs the simulator evaluates exactly;
// the parsers reject everything else. Requires: a Ruleset is a value; the
// `set`/`target` pointers inside Matches and Actions are bound by the
// Simulator to its own copy and are null in parser output.
#ifndef SIM_RULESET_H_
#define SIM_RULESET_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/ip_address.h"

namespace sim {

enum class Protocol : uint8_t { kTcp = 6, kUdp = 17, kSctp = 132 };

// "tcp", "TCP", "6" → kTcp; same for udp (17) and sctp (132).
absl::StatusOr<Protocol> ParseProtocol(absl::string_view text);
std::string ProtocolName(Protocol protocol);  // "tcp"

enum class Hook : uint8_t {
  kPrerouting,
  kInput,
  kForward,
  kOutput,
  kPostrouting
};
std::string HookName(Hook hook);  // "prerouting"

// Kernel priorities of the NAT hooks (NF_IP_PRI_NAT_DST / _SRC).
constexpr int kRawPriority = -300;  // NF_IP_PRI_RAW: before conntrack.
constexpr int kDstNatPriority = -100;
constexpr int kSrcNatPriority = 100;
constexpr int kFilterPriority = 0;  // NF_IP_PRI_FILTER.

// What a value of a field is, as nft names it.
enum class ValueType : uint8_t {
  kIpv4Addr,     // 4 bytes
  kIpv6Addr,     // 16 bytes
  kInetProto,    // 1 byte
  kInetService,  // 2 bytes, network order
  kIfname,       // 16 bytes, NUL padded
  kMark,         // 4 bytes, network order
  kCtState,      // 4 bytes
  kCtStatus,     // 4 bytes
  kAddrType,     // 1 byte, kernel RTN_* value
  kNfProto,      // 1 byte, NFPROTO_IPV4 2 / NFPROTO_IPV6 10
  kTcpFlag,      // 1 byte, TCP header flags (fin 1, syn 2, rst 4, ack 16)
  kPktType,      // 1 byte, kernel PACKET_* (host 0, broadcast 1, ...)
  kUid,          // 4 bytes, a user or group id
};
int ValueWidth(ValueType type);
std::string ValueTypeName(ValueType type);
// Inverse of ValueTypeName for nft's `type a . b` declarations.
absl::StatusOr<ValueType> ParseValueTypeName(absl::string_view name);

// Bits of the kCtState field. nft's values, plus iptables' pseudo states
// SNAT/DNAT (which the kernel derives from the status bits).
constexpr uint32_t kCtStateInvalid = 1;
constexpr uint32_t kCtStateEstablished = 2;
constexpr uint32_t kCtStateRelated = 4;
constexpr uint32_t kCtStateNew = 8;
constexpr uint32_t kCtStateUntracked = 64;
constexpr uint32_t kCtStateSnat = 256;
constexpr uint32_t kCtStateDnat = 512;
// Bits of the kCtStatus field (kernel IPS_SRC_NAT / IPS_DST_NAT).
constexpr uint32_t kCtStatusSnat = 16;
constexpr uint32_t kCtStatusDnat = 32;
// kAddrType values (kernel RTN_*).
constexpr uint8_t kRtnUnicast = 1;
constexpr uint8_t kRtnLocal = 2;
constexpr uint8_t kRtnMulticast = 5;
// kTcpFlag bits; the traced packet is a connection's first, a SYN.
constexpr uint8_t kTcpFlagSyn = 2;
// kPktType values (kernel PACKET_*).
constexpr uint8_t kPacketHost = 0;
// Bits of Field::kPhysFlags (xt_physdev's --physdev-is-*).
constexpr uint32_t kPhysIsBridged = 1;
constexpr uint32_t kPhysIsIn = 2;
constexpr uint32_t kPhysIsOut = 4;
// The owner of a packet without a socket: no uid or gid is -1.
constexpr uint32_t kNoOwner = 0xffffffffu;

// A property of the packet or its connection.
enum class Field : uint8_t {
  kSrcAddr4,
  kDstAddr4,
  kSrcAddr6,
  kDstAddr6,
  kL4Proto,
  kSrcPort,
  kDstPort,
  kInIface,
  kOutIface,
  kMark,
  kCtState,
  kCtStatus,
  kDstAddrType,
  kSrcAddrType,
  kCtOrigDstAddr4,
  kCtOrigDstAddr6,
  kCtOrigDstPort,
  kNfProto,
  kCtMark,
  kTcpFlags,  // absent on non-TCP packets
  kPktType,
  kSkUid,  // -m owner: kNoOwner without a socket; unknown for local packets
  kSkGid,
  kPhysIn,  // -m physdev: "" when the packet is not bridged
  kPhysOut,
  kPhysFlags,  // kPhysIs* bits
  // -m addrtype --limit-iface-in/out: the type as the input (output)
  // interface sees it: local only for an address that interface holds.
  kDstAddrTypeIif,
  kSrcAddrTypeIif,
  kDstAddrTypeOif,
  kSrcAddrTypeOif,
  // nft `numgen random|inc mod N [offset O]`: a 32-bit number the walk does
  // not know; it explores each of the N values (see Numgen).
  kNumgen,
};
ValueType FieldValueType(Field field);
std::string FieldName(Field field);  // nft spelling: "ip daddr", "th dport"

// One component of a set element: an exact value, an address prefix, an
// inclusive range, or an interface-name prefix (`eth+` / `eth*`). Values are
// bytes of the component's width, network order, so byte order is numeric
// order.
struct ValuePattern {
  enum class Kind : uint8_t { kExact, kPrefix, kRange, kIfacePrefix };
  Kind kind = Kind::kExact;
  std::string lo;
  std::string hi;  // kRange only
  int bits = 0;    // kPrefix: prefix length in bits; kIfacePrefix: bytes

  bool Matches(absl::string_view value) const;
};

// The verdict stored in a verdict-map element.
struct VerdictSpec {
  enum class Kind : uint8_t {
    kAccept,
    kDrop,
    kReturn,
    kJump,
    kGoto,
    kContinue
  };
  Kind kind = Kind::kAccept;
  std::string chain;  // kJump / kGoto
};

struct SetElement {
  std::vector<ValuePattern> key;  // one pattern per key component
  std::string data;               // maps: concatenated data bytes
  VerdictSpec verdict;            // verdict maps
  std::string comment;
  std::string text;  // the element as written
};

// A named or anonymous nft set, map or verdict map; iptables literals become
// one-element anonymous sets. Exact keys are hashed; intervals are scanned.
class ElementSet {
 public:
  ElementSet() = default;
  ElementSet(std::vector<ValueType> key_types,
             std::vector<ValueType> data_types, bool is_verdict_map)
      : key_types_(std::move(key_types)),
        data_types_(std::move(data_types)),
        is_verdict_map_(is_verdict_map) {}

  const std::vector<ValueType>& key_types() const { return key_types_; }
  const std::vector<ValueType>& data_types() const { return data_types_; }
  bool is_map() const { return !data_types_.empty() || is_verdict_map_; }
  bool is_verdict_map() const { return is_verdict_map_; }
  int key_width() const;
  size_t size() const { return exact_.size() + inexact_.size(); }
  // nft `flags dynamic`: rules add elements as packets pass (`update @s`),
  // so what a lookup finds depends on earlier traffic the walk cannot know.
  bool dynamic() const { return dynamic_; }
  void set_dynamic(bool dynamic) { dynamic_ = dynamic; }

  // Fails on a duplicate key (the kernel rejects one too).
  absl::Status Add(SetElement element);
  // Fails when no element has exactly this key.
  absl::Status Remove(const std::vector<ValuePattern>& key);
  void Clear();
  // Every element, in no particular order.
  std::vector<const SetElement*> elements() const;
  // The element whose key matches `key` (the concatenated field bytes).
  const SetElement* Lookup(absl::string_view key) const;

 private:
  std::vector<ValueType> key_types_;
  std::vector<ValueType> data_types_;
  bool is_verdict_map_ = false;
  bool dynamic_ = false;
  absl::flat_hash_map<std::string, SetElement> exact_;
  std::vector<SetElement> inexact_;
};

struct Chain;

// nft `numgen random|inc mod N [offset O]`: yields offset + (0..N-1). A walk
// cannot know the counter or the random draw, so it takes each value with
// probability 1/N. Unused when modulus is 0.
struct Numgen {
  bool random = true;  // false: `inc`
  uint32_t modulus = 0;
  uint32_t offset = 0;
};

// A test on the packet. kUnknown: a test the simulator cannot evaluate
// (`chance_what` says why; an iptables `-m set` whose ipset is not given): a
// walk whose rule gets as far as it refuses. kAnyOf: one of `any_of` matches
// (an ipset of type list:set), or with `negate` none does. kInSet: the
// concatenation of `fields` is (or, with `negate`, is not) in `set`. kBitwise:
// (((field & mask) ^ xor_value) == value) != negate, the kernel's bitwise and
// cmp. kChance: matches with probability `chance` (state the walk cannot
// know: `-m statistic`, `-m recent --rcheck`, `limit`); a negative `chance`
// means the probability is unknown. `chance_what` names the construct.
struct Match {
  enum class Kind : uint8_t { kInSet, kBitwise, kChance, kAnyOf, kUnknown };
  Kind kind = Kind::kInSet;
  std::vector<Field> fields;
  bool negate = false;
  std::shared_ptr<const ElementSet> literal;  // anonymous set
  std::string set_name;                       // named set (@name)
  uint32_t mask = 0;
  uint32_t value = 0;
  uint32_t xor_value = 0;  // kBitwise: `| v` and `^ v` in nft's expression
  double chance = 0;
  std::string chance_what;  // "-m statistic --mode random ..."
  Numgen numgen;            // when `fields` holds Field::kNumgen
  // iptables `-m set --match-set NAME src,dst`: `set_name` is the ipset and
  // these say, per dimension, source (true) or destination. The Simulator
  // fills `fields` and `literal` (or `any_of`) from Ruleset::ipsets.
  std::vector<bool> ipset_src;
  std::vector<Match> any_of;
  // Bound by the Simulator: `literal` or the named set of the same table.
  const ElementSet* set = nullptr;
  // Bound by the Simulator when `literal` is one exact value or one prefix
  // (most iptables matches), so evaluation compares bytes in place.
  bool single = false;
  ValuePattern single_pattern;
};

struct Action {
  enum class Kind : uint8_t {
    kAccept,
    kDrop,
    kReturn,
    kContinue,
    kJump,
    kGoto,
    kDnat,
    kSnat,
    kMasquerade,
    kSetMark,
    kVerdictMap,
    kReject,     // final, like kDrop; the sender learns of it
    kRedirect,   // DNAT to the input interface's first address (or lo)
    kSetCtMark,  // ct mark = (ct mark & ~mark_mask) ^ mark_xor
    kCopyMark,   // see copy_to_conn
    kNotrack,    // the packet gets no conntrack entry (raw only)
  };
  Kind kind = Kind::kAccept;
  std::string chain;  // kJump / kGoto

  // kDnat / kSnat: a fixed address and optional port, or a map lookup of
  // `map_key` whose data is an address and optionally a port.
  IpFamily nat_family = IpFamily::kV4;
  // kMasquerade in an inet table: the kernel's masq there has no family and
  // masquerades both; `nat_family` is then not looked at.
  bool nat_either_family = false;
  std::optional<IpAddress> nat_address;
  uint16_t nat_port = 0;  // 0: keep the port
  // Ranges (kDnat/kSnat addresses; kDnat/kSnat/kMasquerade/kRedirect
  // ports): the kernel keeps the original port when it is in [nat_port,
  // nat_port_hi] and otherwise picks one; a walk that would need the pick
  // refuses. An address range of more than one address refuses too.
  std::optional<IpAddress> nat_address_hi;
  uint16_t nat_port_hi = 0;    // 0: a single port
  std::vector<Field> map_key;  // kDnat/kSnat from a map, kVerdictMap
  Numgen numgen;               // when `map_key` holds Field::kNumgen
  std::shared_ptr<const ElementSet> literal_map;
  std::string map_name;

  // kSetMark: mark = (mark & ~mark_mask) ^ mark_xor.
  uint32_t mark_mask = 0;
  uint32_t mark_xor = 0;
  // kCopyMark: to = (to & ~mark_mask) ^ (from & copy_mask) ^ mark_xor, where
  // `to` is the ct mark and `from` the packet mark when copy_to_conn (save),
  // the other way round otherwise (restore).
  bool copy_to_conn = false;
  uint32_t copy_mask = 0;

  // Bound by the Simulator.
  const Chain* target = nullptr;
  const ElementSet* map = nullptr;
};

struct Rule {
  std::vector<Match> matches;
  std::vector<Action> actions;
  // As a person reads it: iptables arguments after `-A CHAIN`, or the nft
  // rule text. Also the identity `iptables -D` compares.
  std::string text;
  uint64_t handle = 0;  // nft only
  // iptables filter rules and nft rules of any table: why this rule could
  // not be modelled (its matches and actions are then empty). A walk that
  // reaches it refuses to answer instead of guessing; one that never does is
  // unaffected.
  std::string unsupported;
};

struct Chain {
  std::string name;
  bool is_base = false;
  std::string type;  // base chains: "nat", "filter", ...
  Hook hook = Hook::kPrerouting;
  int priority = 0;
  bool policy_drop = false;
  std::vector<Rule> rules;
  uint64_t handle = 0;

  // Index built by the Simulator: rules keyed by (protocol, destination port)
  // and the rules no key can rule out, both in rule order.
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> keyed_rules;
  std::vector<uint32_t> unkeyed_rules;
  bool indexed = false;
};

enum class Syntax : uint8_t { kIptables, kNft };
enum class TableFamily : uint8_t { kIp, kIp6, kInet };
std::string TableFamilyName(TableFamily family);  // "ip", "ip6", "inet"

struct Table {
  Syntax syntax = Syntax::kNft;
  TableFamily family = TableFamily::kIp;
  std::string name;
  std::map<std::string, Chain> chains;
  std::map<std::string, ElementSet> sets;
  // nft only: sets and maps the simulator cannot model (a type it lacks, an
  // element it cannot read), by name, with why ("line 9: ..."). A rule that
  // uses one is kept unmodelled; other rules are unaffected.
  std::map<std::string, std::string> unsupported_sets;
  // nft only: the first construct the simulator does not model. Harmless
  // while the table is ignored (rendered by iptables-nft with iptables-save
  // text at hand); an error at Create for a table with a NAT chain, and for
  // a table of filter chains only, a refusal when a walk enters one of them.
  absl::Status unsupported;
  std::string source;  // file name, for messages
  uint64_t next_handle = 1;

  bool AppliesTo(IpFamily family) const;
  bool HasNatChain() const;
  // A base chain of type "filter" (nft) or a built-in chain of iptables'
  // filter table.
  bool HasFilterChain() const;
  // "nat" / "nat (ip6tables)" for iptables, "ip crio-hostports" for nft.
  std::string Label() const;
};

// One ipset as `ipset save` describes it (sim/ipset_parser.h).
struct IpSet {
  std::string name;
  std::string type;  // "hash:ip", "hash:net,port", "bitmap:port", "list:set"
  IpFamily family = IpFamily::kV4;
  // Per dimension: "ip" (an address or prefix) or "port" (protocol and
  // port; bitmap:port: the port alone).
  std::vector<std::string> dimensions;
  std::shared_ptr<const ElementSet> elements;  // all types but list:set
  std::vector<std::string> members;            // list:set
  std::string source;                          // "FILE:LINE" of `create`
};

struct Ruleset {
  std::vector<Table> tables;
  // ipsets that iptables `-m set` rules may name, by name.
  std::map<std::string, IpSet> ipsets;
  // Things deliberately left out of evaluation (a person should know).
  std::vector<std::string> notes;

  Table* FindTable(Syntax syntax, TableFamily family, absl::string_view name);
  const Table* FindTable(Syntax syntax, TableFamily family,
                         absl::string_view name) const;
};

// Parses one literal of `type` the way iptables and nft print it: addresses
// (with /len when `allow_intervals`), protocols by name or number, ports and
// port ranges (`a-b`, or `a:b` for iptables), interface names with a trailing
// `*` or `+` wildcard, marks, ct states and statuses, fib/addrtype names.
absl::StatusOr<ValuePattern> ParseValuePattern(ValueType type,
                                               absl::string_view text,
                                               bool allow_intervals);
// Encodes a 32-bit (or narrower) number at the width of `type`.
std::string EncodeNumber(ValueType type, uint32_t number);
uint32_t DecodeNumber(absl::string_view bytes);

// NAT ranges as iptables and nft write them. ParseNatPorts: "P" or "P-Q"
// (1..65535) into nat_port / nat_port_hi. ParseNatRange: "a[-b][:p[-q]]",
// for IPv6 "[a][-[b]]:p[-q]" or "a[-b]", into nat_address[_hi] and the
// ports. Fail on anything else, or an address of another family.
absl::Status ParseNatPorts(absl::string_view text, Action* a);
absl::Status ParseNatRange(absl::string_view text, IpFamily family, Action* a);

}  // namespace sim

#endif  // SIM_RULESET_H_
