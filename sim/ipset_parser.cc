#include "sim/ipset_parser.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sim/ip_address.h"

namespace sim {
namespace {

// Words of one line; a double-quoted word (a comment) may hold spaces.
std::vector<std::string> Words(absl::string_view line) {
  std::vector<std::string> words;
  std::string cur;
  bool quoted = false, any = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (c == ' ' && !quoted) {
      if (any) words.push_back(cur);
      cur.clear();
      any = false;
    } else {
      cur += c;
      any = true;
    }
  }
  if (any) words.push_back(cur);
  return words;
}

// The dimensions of the types modelled, or empty.
std::vector<std::string> Dimensions(absl::string_view type) {
  if (type == "hash:ip" || type == "hash:net") return {"ip"};
  if (type == "hash:ip,port" || type == "hash:net,port") return {"ip", "port"};
  if (type == "bitmap:port") return {"port"};
  if (type == "list:set") return {"set"};
  return {};
}

class IpsetReader {
 public:
  IpsetReader(absl::string_view source, Ruleset* out)
      : source_(source), out_(out) {}

  absl::Status Line(absl::string_view raw, int line) {
    line_ = line;
    std::vector<std::string> w = Words(absl::StripAsciiWhitespace(raw));
    if (w.empty() || w[0][0] == '#') return absl::OkStatus();
    if (w[0] == "create" && w.size() >= 3) return Create(w);
    if (w[0] == "add" && w.size() >= 3) return Add(w);
    return Error(
        absl::StrCat("expected \"create NAME TYPE ...\" or \"add "
                     "NAME ELEMENT ...\", not \"",
                     raw, "\""));
  }

  // Moves the sets read into the ruleset; fails on a name it has already.
  absl::Status Commit() {
    for (auto& [name, set] : sets_) {
      if (set.type == "list:set") {
        for (const std::string& m : set.members) {
          auto it = sets_.find(m);
          if (it == sets_.end() && !out_->ipsets.count(m)) {
            return absl::InvalidArgumentError(absl::StrCat(
                set.source, ": list:set ", name, " holds unknown set ", m));
          }
        }
      }
      if (out_->ipsets.count(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat(set.source, ": ipset ", name, " given twice"));
      }
    }
    for (auto& [name, set] : sets_) {
      set.elements = std::move(elements_[name]);
      out_->ipsets[name] = std::move(set);
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ":", line_, ": ", what));
  }

  absl::Status Create(const std::vector<std::string>& w) {
    IpSet set;
    set.name = w[1];
    set.type = w[2];
    set.dimensions = Dimensions(set.type);
    set.source = absl::StrCat(source_, ":", line_);
    if (set.dimensions.empty()) {
      return Error(absl::StrCat("ipset type ", set.type, " of ", set.name,
                                " is not modelled (hash:ip, hash:net, "
                                "hash:ip,port, hash:net,port, bitmap:port, "
                                "list:set)"));
    }
    if (sets_.count(set.name)) {
      return Error(absl::StrCat("ipset ", set.name, " created twice"));
    }
    for (size_t i = 3; i < w.size(); ++i) {
      const std::string& o = w[i];
      if (o == "family" && i + 1 < w.size()) {
        if (w[i + 1] != "inet" && w[i + 1] != "inet6") {
          return Error(absl::StrCat("family ", w[i + 1], " (inet or inet6)"));
        }
        set.family = w[++i] == "inet" ? IpFamily::kV4 : IpFamily::kV6;
      } else if ((o == "hashsize" || o == "maxelem" || o == "bucketsize" ||
                  o == "initval" || o == "timeout" || o == "size" ||
                  o == "range") &&
                 i + 1 < w.size()) {
        ++i;
      } else if (o != "counters" && o != "comment" && o != "skbinfo" &&
                 o != "forceadd") {
        return Error(absl::StrCat("create option \"", o, "\" of ipset ",
                                  set.name, " is not modelled"));
      }
    }
    std::vector<ValueType> types;
    ValueType addr = set.family == IpFamily::kV4 ? ValueType::kIpv4Addr
                                                 : ValueType::kIpv6Addr;
    for (const std::string& d : set.dimensions) {
      if (d == "ip") types.push_back(addr);
      if (d == "port" && set.type != "bitmap:port") {
        types.push_back(ValueType::kInetProto);
      }
      if (d == "port") types.push_back(ValueType::kInetService);
    }
    elements_[set.name] =
        std::make_shared<ElementSet>(types, std::vector<ValueType>{}, false);
    sets_[set.name] = std::move(set);
    return absl::OkStatus();
  }

  absl::Status Add(const std::vector<std::string>& w) {
    auto it = sets_.find(w[1]);
    if (it == sets_.end()) {
      return Error(absl::StrCat("add to ipset ", w[1], " before its create"));
    }
    IpSet& set = it->second;
    for (size_t i = 3; i < w.size(); ++i) {
      const std::string& o = w[i];
      if ((o == "timeout" || o == "packets" || o == "bytes" || o == "comment" ||
           o == "skbmark" || o == "skbprio" || o == "skbqueue") &&
          i + 1 < w.size()) {
        ++i;
      } else {
        return Error(absl::StrCat("element option \"", o, "\" in ipset ",
                                  set.name, " is not modelled"));
      }
    }
    if (set.type == "list:set") {
      set.members.push_back(w[2]);
      return absl::OkStatus();
    }
    absl::StatusOr<SetElement> e = Element(set, w[2]);
    if (!e.ok()) return Error(e.status().message());
    absl::Status s = elements_[set.name]->Add(*std::move(e));
    // ipset save never repeats an element; a repeat is harmless.
    if (!s.ok() && !absl::StrContains(s.message(), "duplicate")) {
      return Error(s.message());
    }
    return absl::OkStatus();
  }

  // "10.0.0.1", "10.1.0.0/16", "10.0.0.1,tcp:80", "80".
  absl::StatusOr<SetElement> Element(const IpSet& set,
                                     const std::string& text) {
    std::vector<std::string> parts = absl::StrSplit(text, ',');
    if (parts.size() != set.dimensions.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("element \"", text, "\" does not fit ipset ", set.name,
                       " (", set.type, ")"));
    }
    SetElement e;
    e.text = text;
    ValueType addr = set.family == IpFamily::kV4 ? ValueType::kIpv4Addr
                                                 : ValueType::kIpv6Addr;
    for (size_t d = 0; d < parts.size(); ++d) {
      absl::Status s = set.dimensions[d] == "ip"
                           ? AddressPart(set, addr, parts[d], &e)
                           : PortPart(set, parts[d], &e);
      if (!s.ok()) return s;
    }
    return e;
  }

  static absl::Status AddressPart(const IpSet& set, ValueType type,
                                  const std::string& text, SetElement* e) {
    bool net = absl::StartsWith(set.type, "hash:net");
    if (!net && text.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", text, "\" in ipset ", set.name, ": ", set.type,
          " holds addresses, not prefixes (is it created with netmask?)"));
    }
    absl::StatusOr<ValuePattern> p = ParseValuePattern(type, text, net);
    if (!p.ok() || p->kind == ValuePattern::Kind::kRange) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" in ipset ", set.name, " is not an ",
                       type == ValueType::kIpv4Addr ? "IPv4" : "IPv6",
                       " address", net ? " or prefix" : ""));
    }
    e->key.push_back(*std::move(p));
    return absl::OkStatus();
  }

  // "tcp:80", "udp:53", "sctp:9", "80" (TCP); bitmap:port: "80".
  static absl::Status PortPart(const IpSet& set, const std::string& text,
                               SetElement* e) {
    std::string proto = "tcp", port = text;
    size_t colon = text.find(':');
    if (colon != std::string::npos) {
      proto = text.substr(0, colon);
      port = text.substr(colon + 1);
    }
    uint32_t n = 0;
    absl::StatusOr<Protocol> p = ParseProtocol(proto);
    if (!p.ok() || (set.type == "bitmap:port" && colon != std::string::npos) ||
        !absl::SimpleAtoi(port, &n) || n > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" in ipset ", set.name,
                       " is not a port of tcp, udp or sctp"));
    }
    if (set.type != "bitmap:port") {
      e->key.push_back(
          {ValuePattern::Kind::kExact,
           EncodeNumber(ValueType::kInetProto, static_cast<uint32_t>(*p))});
    }
    e->key.push_back(
        {ValuePattern::Kind::kExact, EncodeNumber(ValueType::kInetService, n)});
    return absl::OkStatus();
  }

  std::string source_;
  Ruleset* out_;
  int line_ = 0;
  std::map<std::string, IpSet> sets_;
  std::map<std::string, std::shared_ptr<ElementSet>> elements_;
};

}  // namespace

absl::Status ApplyIpsetSave(absl::string_view text, absl::string_view source,
                            Ruleset* ruleset) {
  IpsetReader reader(source, ruleset);
  int line = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    absl::Status s = reader.Line(raw, ++line);
    if (!s.ok()) return s;
  }
  return reader.Commit();
}

}  // namespace sim
