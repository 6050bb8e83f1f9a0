#include "hostport/render/nft_renderer.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace hostport {
namespace {

absl::string_view NftFamily(IPFamily family) {
  return family == IPFamily::kIPv4 ? "ip" : "ip6";
}

absl::string_view AddrType(IPFamily family) {
  return family == IPFamily::kIPv4 ? "ipv4_addr" : "ipv6_addr";
}

// One element of one of the pod's sets or maps.
struct PodElement {
  absl::string_view set;
  std::string key;    // "tcp . 8080", "\"hp-br0\" . 10.88.0.5"
  std::string value;  // Maps only: "10.88.0.5 . 80".
};

// A pod's elements in one family, in the order they are added and deleted.
std::vector<PodElement> ElementsOf(const PodPlan& pod, IPFamily family) {
  const FamilyPlan& fp = pod.family(family);
  std::vector<PodElement> wildcard, specific, loopback;
  for (const PlannedMapping& m : fp.mappings) {
    std::string key =
        absl::StrCat(ProtocolKeyword(m.protocol), " . ", m.host_port);
    std::string value =
        absl::StrCat(m.pod_ip.ToString(), " . ", m.container_port);
    if (!m.host_ip) {
      wildcard.push_back({"hostports", std::move(key), std::move(value)});
      continue;
    }
    key = absl::StrCat(m.host_ip->ToString(), " . ", key);
    if (m.IsLoopbackBound()) loopback.push_back({"loopbackports", key, ""});
    specific.push_back({"hostipports", std::move(key), std::move(value)});
  }
  std::vector<PodElement> all = std::move(specific);
  all.insert(all.end(), wildcard.begin(), wildcard.end());
  if (!fp.mappings.empty()) {
    // Every mapping of a family DNATs to the same first pod IP.
    const std::string target = fp.mappings.front().pod_ip.ToString();
    for (const IpAddress& source : fp.pod_ips) {
      all.push_back(
          {"hairpins", absl::StrCat(source.ToString(), " . ", target), ""});
    }
    all.insert(all.end(), loopback.begin(), loopback.end());
    if (family == IPFamily::kIPv4 && !pod.nat_interface.empty()) {
      all.push_back({"localhostpods",
                     absl::StrCat("\"", pod.nat_interface, "\" . ", target),
                     ""});
    }
  }
  return all;
}

using Kind = NftRenderer::BaseObject::Kind;

// Which families an object or rule of the table is in.
enum class Families { kBoth, kIPv4Only };

// A rule of a base object; "$ip" stands for the family ("ip" or "ip6").
struct BaseRuleSpec {
  Families families;
  absl::string_view text;
};

struct BaseHookSpec {
  absl::string_view type;
  absl::string_view hook;  // "" for a regular chain.
  int priority;
};

// One object of the table in both families' terms: "$addr" stands for the
// family's address type ("ipv4_addr" or "ipv6_addr"), "$ip" for the family.
struct BaseObjectSpec {
  Kind kind;
  absl::string_view name;
  Families families;
  absl::string_view type;  // Maps and sets.
  BaseHookSpec hook;       // Chains.
  std::vector<BaseRuleSpec> rules;
};

BaseObjectSpec Map(absl::string_view name, Families families,
                   absl::string_view type) {
  return {Kind::kMap, name, families, type, {}, {}};
}

BaseObjectSpec Set(absl::string_view name, Families families,
                   absl::string_view type) {
  return {Kind::kSet, name, families, type, {}, {}};
}

BaseObjectSpec Chain(absl::string_view name, Families families,
                     BaseHookSpec hook, std::vector<BaseRuleSpec> rules) {
  return {Kind::kChain, name, families, "", hook, std::move(rules)};
}

// "map", "set" or "chain", as nft spells the object.
absl::string_view Keyword(Kind kind) {
  switch (kind) {
    case Kind::kMap:
      return "map";
    case Kind::kSet:
      return "set";
    case Kind::kChain:
      break;
  }
  return "chain";
}

// The table's objects besides the elements, in creation order (the shape is
// described in nft_renderer.h). The IPv4-only ones serve localhost clients
// and loopback-bound mappings.
const std::vector<BaseObjectSpec>& BaseObjectSpecs() {
  constexpr Families kBoth = Families::kBoth;
  constexpr Families kIPv4Only = Families::kIPv4Only;
  constexpr BaseHookSpec kRegular = {"", "", 0};
  static const auto* const kSpecs = new std::vector<BaseObjectSpec>{
      Map("hostports", kBoth,
          "inet_proto . inet_service : $addr . inet_service"),
      Map("hostipports", kBoth,
          "$addr . inet_proto . inet_service : $addr . inet_service"),
      Set("hairpins", kBoth, "$addr . $addr"),
      Set("loopbackports", kIPv4Only, "$addr . inet_proto . inet_service"),
      Set("localhostpods", kIPv4Only, "ifname . $addr"),
      Chain("localnet", kIPv4Only, {"filter", "input", 0},
            {{kBoth,
              "iifname != \"lo\" ip daddr 127.0.0.0/8 ct state != { "
              "established, related } ct status & dnat != dnat drop"}}),
      Chain("hostports", kBoth, kRegular,
            {{kBoth,
              "dnat $ip to $ip daddr . meta l4proto . th dport map "
              "@hostipports"},
             {kBoth, "dnat $ip to meta l4proto . th dport map @hostports"}}),
      Chain("prerouting", kBoth, {"nat", "prerouting", -100},
            {{kIPv4Only,
              "iifname != \"lo\" ip daddr . meta l4proto . th dport "
              "@loopbackports drop"},
             {kBoth, "fib daddr type local goto hostports"}}),
      Chain("output", kBoth, {"nat", "output", -100},
            {{kBoth, "fib daddr type local goto hostports"}}),
      Chain("masquerading", kBoth, {"nat", "postrouting", 100},
            {{kBoth,
              "ct status & dnat == dnat $ip saddr . $ip daddr @hairpins "
              "masquerade"},
             {kIPv4Only,
              "ct status & dnat == dnat ip saddr 127.0.0.0/8 oifname . ip "
              "daddr @localhostpods masquerade"}}),
  };
  return *kSpecs;
}

// `text` in `family`'s terms: "$ip" and "$addr" replaced.
std::string InFamily(absl::string_view text, IPFamily family) {
  return absl::StrReplaceAll(
      text, {{"$ip", NftFamily(family)}, {"$addr", AddrType(family)}});
}

// Whether an object or rule in `families` belongs in `family`'s table.
bool In(Families families, IPFamily family) {
  return families == Families::kBoth || family == IPFamily::kIPv4;
}

}  // namespace

NftElementOp NftRenderer::ElementOp(IPFamily family, absl::string_view set,
                                    std::string key) const {
  NftElementOp op;
  op.set = std::string(set);
  op.key = std::move(key);
  for (const BaseObjectSpec& spec : BaseObjectSpecs()) {
    // The chain "hostports" shares the map's name.
    if (spec.kind == Kind::kChain || spec.name != set) continue;
    const std::string type = InFamily(spec.type, family);
    const std::pair<std::string, std::string> key_value =
        absl::StrSplit(type, absl::MaxSplits(" : ", 1));
    op.key_type = key_value.first;
    op.value_type = key_value.second;
  }
  return op;
}

std::string NftRenderer::Element(IPFamily family, absl::string_view set,
                                 absl::string_view body) const {
  return absl::StrCat(NftFamily(family), " ", names_.nft_table, " ", set, " { ",
                      body, " }");
}

void NftRenderer::AddBase(IPFamily family, NftTransaction* tx) const {
  const std::string table =
      absl::StrCat(NftFamily(family), " ", names_.nft_table);
  tx->Add(absl::StrCat("add table ", table));
  for (const BaseObject& object : BaseObjects(family)) {
    if (object.kind != BaseObject::Kind::kChain) {
      tx->Add(absl::StrCat("add ", Keyword(object.kind), " ", table, " ",
                           object.name, " { type ", object.type, "; }"));
      continue;
    }
    std::string hook;
    if (object.hook) {
      hook = absl::StrCat(" { type ", object.hook->type, " hook ",
                          object.hook->hook, " priority ",
                          object.hook->priority, "; policy accept; }");
    }
    tx->Add(absl::StrCat("add chain ", table, " ", object.name, hook));
    tx->Add(absl::StrCat("flush chain ", table, " ", object.name));
    for (const std::string& rule : object.rules) {
      tx->Add(absl::StrCat("add rule ", table, " ", object.name, " ", rule));
    }
  }
}

void NftRenderer::AddPod(IPFamily family, const PodPlan& pod,
                         NftTransaction* tx) const {
  for (PodElement& e : ElementsOf(pod, family)) {
    // A map element's comment goes between key and value.
    const std::string value =
        e.value.empty() ? "" : absl::StrCat(" : ", e.value);
    const std::string command = absl::StrCat(
        "add element ", Element(family, e.set,
                                absl::StrCat(e.key, " comment \"",
                                             pod.owner_comment, "\"", value)));
    NftElementOp op = ElementOp(family, e.set, std::move(e.key));
    op.value = std::move(e.value);
    op.comment = pod.owner_comment;
    tx->AddElement(command, std::move(op));
  }
}

void NftRenderer::RemovePod(IPFamily family, const PodPlan& pod,
                            NftTransaction* tx) const {
  DeleteElements(family, ElementKeys(family, pod), tx);
}

std::vector<NftRenderer::ElementKey> NftRenderer::ElementKeys(
    IPFamily family, const PodPlan& pod) const {
  std::vector<ElementKey> keys;
  for (PodElement& e : ElementsOf(pod, family)) {
    keys.push_back({std::string(e.set), std::move(e.key), std::move(e.value)});
  }
  return keys;
}

void NftRenderer::DeleteElements(IPFamily family,
                                 const std::vector<ElementKey>& keys,
                                 NftTransaction* tx) const {
  for (const ElementKey& k : keys) {
    NftElementOp op = ElementOp(family, k.set, k.key);
    op.kind = NftElementOp::Kind::kDelete;
    tx->AddElement(
        absl::StrCat("delete element ", Element(family, k.set, k.key)),
        std::move(op));
  }
}

std::string NftRenderer::BaseObject::Listed() const {
  return absl::StrCat(Keyword(kind), " ", name);
}

std::vector<NftRenderer::BaseObject> NftRenderer::BaseObjects(
    IPFamily family) const {
  std::vector<BaseObject> objects;
  for (const BaseObjectSpec& spec : BaseObjectSpecs()) {
    if (!In(spec.families, family)) continue;
    BaseObject object;
    object.kind = spec.kind;
    object.name = std::string(spec.name);
    object.type = InFamily(spec.type, family);
    if (!spec.hook.hook.empty()) {
      object.hook =
          BaseObject::Hook{std::string(spec.hook.type),
                           std::string(spec.hook.hook), spec.hook.priority};
    }
    for (const BaseRuleSpec& rule : spec.rules) {
      if (!In(rule.families, family)) continue;
      object.rules.push_back(InFamily(rule.text, family));
    }
    objects.push_back(std::move(object));
  }
  return objects;
}

NftTransaction NftRenderer::Full(IPFamily family,
                                 absl::Span<const PodPlan> pods) const {
  NftTransaction tx;
  const std::string table =
      absl::StrCat(NftFamily(family), " ", names_.nft_table);
  // "add" first so that "delete" succeeds whether or not the table exists.
  tx.Add(absl::StrCat("add table ", table));
  tx.Add(absl::StrCat("delete table ", table));
  AddBase(family, &tx);
  for (const PodPlan& pod : pods) AddPod(family, pod, &tx);
  return tx;
}

}  // namespace hostport
