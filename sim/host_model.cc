#include "sim/host_model.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace sim {
namespace {

using json = nlohmann::json;

absl::Status Bad(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("host file: ", where, ": ", what));
}

absl::Status CheckKeys(const json& object, const std::set<std::string>& known,
                       absl::string_view where) {
  if (!object.is_object()) return Bad(where, "must be an object");
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!known.count(it.key())) {
      return Bad(where, absl::StrCat("unknown key \"", it.key(), "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetString(const json& object, const char* key,
                                      absl::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return Bad(where, absl::StrCat("\"", key, "\" must be a string"));
  }
  return it->get<std::string>();
}

absl::StatusOr<bool> GetBool(const json& object, const char* key, bool dflt,
                             absl::string_view where) {
  auto it = object.find(key);
  if (it == object.end()) return dflt;
  if (!it->is_boolean()) {
    return Bad(where, absl::StrCat("\"", key, "\" must be true or false"));
  }
  return it->get<bool>();
}

absl::StatusOr<std::vector<std::string>> GetStrings(const json& object,
                                                    const char* key,
                                                    absl::string_view where) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end()) return out;
  if (!it->is_array()) {
    return Bad(where,
               absl::StrCat("\"", key, "\" must be an array of strings"));
  }
  for (const json& v : *it) {
    if (!v.is_string()) {
      return Bad(where,
                 absl::StrCat("\"", key, "\" must be an array of strings"));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

HostModel::HostModel() {
  HostInterface lo;
  lo.name = "lo";
  lo.addresses.push_back(*IpPrefix::Parse("127.0.0.1/8"));
  lo.addresses.push_back(*IpPrefix::Parse("::1/128"));
  interfaces_.push_back(std::move(lo));
}

void HostModel::AddInterface(HostInterface interface) {
  for (HostInterface& existing : interfaces_) {
    if (existing.name != interface.name) continue;
    for (const IpPrefix& p : interface.addresses) {
      bool have = false;
      for (const IpPrefix& q : existing.addresses) {
        have = have || (q.address() == p.address() && q.length() == p.length());
      }
      if (!have) existing.addresses.push_back(p);
    }
    existing.route_localnet =
        existing.route_localnet || interface.route_localnet;
    return;
  }
  interfaces_.push_back(std::move(interface));
}

absl::StatusOr<HostModel> HostModel::FromJson(absl::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) return Bad("document", "not valid JSON");
  absl::Status s =
      CheckKeys(doc, {"interfaces", "routes", "bridges"}, "document");
  if (!s.ok()) return s;
  HostModel host;
  if (doc.contains("interfaces")) {
    const json& list = doc["interfaces"];
    if (!list.is_array()) return Bad("interfaces", "must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string where = absl::StrCat("interfaces[", i, "]");
      s = CheckKeys(list[i], {"name", "addresses", "route_localnet"}, where);
      if (!s.ok()) return s;
      HostInterface iface;
      absl::StatusOr<std::string> name = GetString(list[i], "name", where);
      if (!name.ok()) return name.status();
      if (name->empty() || name->size() > 15) {
        return Bad(where,
                   absl::StrCat("invalid interface name \"", *name, "\""));
      }
      iface.name = *name;
      absl::StatusOr<std::vector<std::string>> addrs =
          GetStrings(list[i], "addresses", where);
      if (!addrs.ok()) return addrs.status();
      for (const std::string& a : *addrs) {
        absl::StatusOr<IpPrefix> p = IpPrefix::Parse(a);
        if (!p.ok()) return Bad(where, p.status().message());
        iface.addresses.push_back(*p);
      }
      absl::StatusOr<bool> rl =
          GetBool(list[i], "route_localnet", false, where);
      if (!rl.ok()) return rl.status();
      iface.route_localnet = *rl;
      host.AddInterface(std::move(iface));
    }
  }
  if (doc.contains("routes")) {
    const json& list = doc["routes"];
    if (!list.is_array()) return Bad("routes", "must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string where = absl::StrCat("routes[", i, "]");
      s = CheckKeys(list[i], {"to", "dev", "via"}, where);
      if (!s.ok()) return s;
      absl::StatusOr<std::string> to = GetString(list[i], "to", where);
      if (!to.ok()) return to.status();
      absl::StatusOr<std::string> dev = GetString(list[i], "dev", where);
      if (!dev.ok()) return dev.status();
      if (host.FindInterface(*dev) == nullptr) {
        return Bad(where, absl::StrCat("no interface \"", *dev, "\""));
      }
      if (*to == "default") {
        host.AddRoute({*IpPrefix::Parse("0.0.0.0/0"), *dev});
        host.AddRoute({*IpPrefix::Parse("::/0"), *dev});
        continue;
      }
      absl::StatusOr<IpPrefix> p = IpPrefix::Parse(*to);
      if (!p.ok()) return Bad(where, p.status().message());
      host.AddRoute({*p, *dev});
    }
  }
  if (doc.contains("bridges")) {
    const json& list = doc["bridges"];
    if (!list.is_array()) return Bad("bridges", "must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string where = absl::StrCat("bridges[", i, "]");
      s = CheckKeys(list[i], {"name", "br_netfilter", "ports"}, where);
      if (!s.ok()) return s;
      Bridge bridge;
      absl::StatusOr<std::string> name = GetString(list[i], "name", where);
      if (!name.ok()) return name.status();
      if (host.FindInterface(*name) == nullptr) {
        return Bad(where, absl::StrCat("bridge \"", *name,
                                       "\" is not among the interfaces"));
      }
      bridge.name = *name;
      absl::StatusOr<bool> nf = GetBool(list[i], "br_netfilter", true, where);
      if (!nf.ok()) return nf.status();
      bridge.br_netfilter = *nf;
      if (list[i].contains("ports")) {
        const json& ports = list[i]["ports"];
        if (!ports.is_array()) return Bad(where, "\"ports\" must be an array");
        for (size_t j = 0; j < ports.size(); ++j) {
          std::string pwhere = absl::StrCat(where, ".ports[", j, "]");
          s = CheckKeys(ports[j], {"name", "addresses", "hairpin_mode"},
                        pwhere);
          if (!s.ok()) return s;
          BridgePort port;
          absl::StatusOr<std::string> pname =
              GetString(ports[j], "name", pwhere);
          if (!pname.ok()) return pname.status();
          port.name = *pname;
          absl::StatusOr<std::vector<std::string>> addrs =
              GetStrings(ports[j], "addresses", pwhere);
          if (!addrs.ok()) return addrs.status();
          for (const std::string& a : *addrs) {
            absl::StatusOr<IpAddress> addr = IpAddress::Parse(a);
            if (!addr.ok()) return Bad(pwhere, addr.status().message());
            port.addresses.push_back(*addr);
          }
          absl::StatusOr<bool> hp =
              GetBool(ports[j], "hairpin_mode", true, pwhere);
          if (!hp.ok()) return hp.status();
          port.hairpin_mode = *hp;
          bridge.ports.push_back(std::move(port));
        }
      }
      host.AddBridge(std::move(bridge));
    }
  }
  return host;
}

absl::StatusOr<HostModel> HostModel::FromIpJson(
    absl::string_view addr_json, const std::vector<std::string>& route_jsons,
    const std::map<std::string, bool>& route_localnet) {
  json addrs = json::parse(addr_json.begin(), addr_json.end(), nullptr, false);
  if (addrs.is_discarded() || !addrs.is_array()) {
    return absl::InvalidArgumentError("ip -j addr: not a JSON array");
  }
  HostModel host;
  for (const json& link : addrs) {
    if (!link.is_object() || !link.contains("ifname") ||
        !link["ifname"].is_string()) {
      continue;
    }
    HostInterface iface;
    iface.name = link["ifname"].get<std::string>();
    if (link.contains("addr_info") && link["addr_info"].is_array()) {
      for (const json& a : link["addr_info"]) {
        if (!a.is_object() || !a.contains("local") || !a["local"].is_string() ||
            !a.contains("prefixlen") || !a["prefixlen"].is_number_integer()) {
          continue;
        }
        absl::StatusOr<IpPrefix> p = IpPrefix::Parse(absl::StrCat(
            a["local"].get<std::string>(), "/", a["prefixlen"].get<int>()));
        if (p.ok()) iface.addresses.push_back(*p);
      }
    }
    auto rl = route_localnet.find(iface.name);
    iface.route_localnet = rl != route_localnet.end() && rl->second;
    host.AddInterface(std::move(iface));
  }
  for (const std::string& text : route_jsons) {
    json routes = json::parse(text, nullptr, false);
    if (routes.is_discarded() || !routes.is_array()) {
      return absl::InvalidArgumentError("ip -j route: not a JSON array");
    }
    for (const json& r : routes) {
      if (!r.is_object() || !r.contains("dst") || !r["dst"].is_string() ||
          !r.contains("dev") || !r["dev"].is_string()) {
        continue;
      }
      std::string dst = r["dst"].get<std::string>();
      std::string dev = r["dev"].get<std::string>();
      if (r.contains("type") && r["type"] != "unicast") continue;
      if (dst == "default") {
        bool v6 =
            r.contains("gateway") && r["gateway"].is_string() &&
            r["gateway"].get<std::string>().find(':') != std::string::npos;
        host.AddRoute({*IpPrefix::Parse(v6 ? "::/0" : "0.0.0.0/0"), dev});
        continue;
      }
      absl::StatusOr<IpPrefix> p = IpPrefix::Parse(dst);
      if (p.ok()) host.AddRoute({*p, dev});
    }
  }
  return host;
}

HostModel HostModel::Default() {
  HostModel host;
  HostInterface eth0;
  eth0.name = "eth0";
  eth0.addresses.push_back(*IpPrefix::Parse("192.0.2.10/24"));
  eth0.addresses.push_back(*IpPrefix::Parse("2001:db8::10/64"));
  host.AddInterface(std::move(eth0));
  host.AddRoute({*IpPrefix::Parse("0.0.0.0/0"), "eth0"});
  host.AddRoute({*IpPrefix::Parse("::/0"), "eth0"});
  return host;
}

const HostInterface* HostModel::FindInterface(absl::string_view name) const {
  for (const HostInterface& i : interfaces_) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

bool HostModel::IsLocal(const IpAddress& address) const {
  if (address.IsLoopback()) return true;
  for (const HostInterface& i : interfaces_) {
    for (const IpPrefix& p : i.addresses) {
      if (p.address() == address) return true;
    }
  }
  return false;
}

const HostInterface* HostModel::Route(const IpAddress& dst) const {
  if (IsLocal(dst)) return FindInterface("lo");
  const HostInterface* best = nullptr;
  int best_len = -1;
  for (const HostRoute& r : routes_) {
    if (r.to.Contains(dst) && r.to.length() > best_len) {
      const HostInterface* i = FindInterface(r.dev);
      if (i != nullptr) {
        best = i;
        best_len = r.to.length();
      }
    }
  }
  for (const HostInterface& i : interfaces_) {
    if (i.name == "lo") continue;
    for (const IpPrefix& p : i.addresses) {
      if (p.Contains(dst) && p.length() > best_len) {
        best = &i;
        best_len = p.length();
      }
    }
  }
  return best;
}

std::optional<IpAddress> HostModel::SourceAddress(
    const HostInterface& interface, const IpAddress& dst) const {
  // The kernel picks a link-local (fe80::/10) source only for a link-local
  // destination.
  auto link_local = [](const IpAddress& a) {
    return !a.is_v4() && a.bytes()[0] == 0xfe && (a.bytes()[1] & 0xc0) == 0x80;
  };
  std::optional<IpAddress> first;
  for (const IpPrefix& p : interface.addresses) {
    if (p.family() != dst.family()) continue;
    if (p.Contains(dst)) return p.address();
    if (link_local(p.address()) && !link_local(dst)) continue;
    if (!first) first = p.address();
  }
  return first;
}

IpAddress HostModel::LocalSource(const IpAddress& dst) const {
  if (!dst.is_v4()) return dst;
  for (const HostInterface& i : interfaces_) {
    bool holds = false;
    for (const IpPrefix& p : i.addresses) holds |= p.address() == dst;
    if (!holds && !(i.name == "lo" && dst.IsLoopback())) continue;
    for (const IpPrefix& p : i.addresses) {
      if (p.family() == dst.family() && p.Contains(dst)) return p.address();
    }
  }
  return dst;
}

const BridgePort* HostModel::FindBridgePort(const IpAddress& address,
                                            const Bridge** bridge) const {
  for (const Bridge& b : bridges_) {
    for (const BridgePort& p : b.ports) {
      for (const IpAddress& a : p.addresses) {
        if (a == address) {
          if (bridge != nullptr) *bridge = &b;
          return &p;
        }
      }
    }
  }
  return nullptr;
}

}  // namespace sim
