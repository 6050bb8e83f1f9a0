#include "tools/trace_command.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "hostport/os/command_runner.h"
#include "nlohmann/json.hpp"
#include "sim/host_model.h"
#include "sim/ipset_parser.h"
#include "sim/ruleset_text.h"
#include "sim/simulator.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage: hostportctl trace (--ruleset FILE[,FILE...] [--host FILE] "
    "[--ipsets FILE] | "
    "--live) --from external[:IFACE]|local|pod:IP --proto tcp|udp|sctp "
    "--dst ADDR:PORT [--src ADDR[:PORT]] [--output text|json]";

struct TraceFlags {
  std::vector<std::string> rulesets;
  std::string host;
  std::string ipsets;  // `ipset save` text for -m set rules
  bool live = false;
  std::string from;
  std::string proto;
  std::string dst;
  std::string src;
  std::string output = "text";
};

// A failure with the exit status it maps to.
struct Failure {
  int code;
  std::string message;
};

std::optional<Failure> ParseFlags(const std::vector<std::string>& args,
                                  TraceFlags* flags) {
  std::map<std::string, std::string*> valued = {
      {"--host", &flags->host},     {"--ipsets", &flags->ipsets},
      {"--from", &flags->from},     {"--proto", &flags->proto},
      {"--dst", &flags->dst},       {"--src", &flags->src},
      {"--output", &flags->output},
  };
  std::string ignored;
  bool have_ruleset = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> value;
    size_t eq = name.find('=');
    if (absl::StartsWith(name, "--") && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "--live") {
      if (value) return Failure{kExitUsage, "--live takes no value"};
      flags->live = true;
      continue;
    }
    bool known = valued.count(name) || name == "--ruleset" ||
                 name == "--state-dir" || name == "--nat-interface";
    if (!known) {
      return Failure{kExitUsage,
                     absl::StrCat("unknown argument \"", args[i], "\"")};
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return Failure{kExitUsage, absl::StrCat(name, " needs a value")};
      }
      value = args[++i];
    }
    if (name == "--ruleset") {
      have_ruleset = true;
      for (absl::string_view f : absl::StrSplit(*value, ',')) {
        if (f.empty()) {
          return Failure{
              kExitUsage,
              absl::StrCat("empty file name in --ruleset \"", *value, "\"")};
        }
        flags->rulesets.push_back(std::string(f));
      }
    } else if (name == "--state-dir" || name == "--nat-interface") {
      ignored = *value;
    } else {
      *valued[name] = *value;
    }
  }
  if (have_ruleset == flags->live) {
    return Failure{kExitUsage,
                   "give exactly one of --ruleset FILE[,FILE...] "
                   "and --live"};
  }
  if (flags->live && !flags->host.empty()) {
    return Failure{kExitUsage,
                   "--host is for --ruleset; --live reads the "
                   "host itself"};
  }
  if (flags->live && !flags->ipsets.empty()) {
    return Failure{kExitUsage,
                   "--ipsets is for --ruleset; --live reads the "
                   "ipsets itself (ipset save)"};
  }
  for (const auto& [flag, v] :
       {std::pair<const char*, std::string*>{"--from", &flags->from},
        {"--proto", &flags->proto},
        {"--dst", &flags->dst}}) {
    if (v->empty())
      return Failure{kExitUsage, absl::StrCat(flag, " is required")};
  }
  if (flags->output != "text" && flags->output != "json") {
    return Failure{kExitUsage,
                   absl::StrCat("invalid --output \"", flags->output,
                                "\" (text or json)")};
  }
  return std::nullopt;
}

class RealHost : public TraceHostAccess {
 private:
  hostport::RealCommandRunner runner_;

 public:
  // Runs the command's words as an argv, never through a shell.
  absl::StatusOr<std::string> Run(const std::string& command) override {
    std::vector<std::string> argv = absl::StrSplit(command, ' ');
    absl::StatusOr<hostport::CommandResult> r = runner_.Run(argv, "");
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return absl::UnavailableError(absl::StrCat(
          "\"", command, "\" failed (exit ", r->exit_code,
          "): ", absl::StripTrailingAsciiWhitespace(r->stderr_text)));
    }
    return r->stdout_text;
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("cannot read \"", path, "\""));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    if (in.bad()) {
      return absl::DataLossError(absl::StrCat("error reading \"", path, "\""));
    }
    return ss.str();
  }

  absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& path) override {
    DIR* d = opendir(path.c_str());
    if (d == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot read \"", path, "\""));
    }
    std::vector<std::string> out;
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    closedir(d);
    return out;
  }
};

absl::StatusOr<std::map<std::string, bool>> ReadRouteLocalnet(
    TraceHostAccess& host) {
  const std::string dir = "/proc/sys/net/ipv4/conf";
  absl::StatusOr<std::vector<std::string>> names = host.ListDirectory(dir);
  if (!names.ok()) return names.status();
  std::map<std::string, bool> out;
  for (const std::string& name : *names) {
    if (name == "all" || name == "default") continue;
    absl::StatusOr<std::string> v =
        host.ReadFile(absl::StrCat(dir, "/", name, "/route_localnet"));
    if (v.ok()) out[name] = absl::StripAsciiWhitespace(*v) == "1";
  }
  return out;
}

// Whether an iptables rule matches against an ipset (-m set).
bool NamesIpsets(const sim::Ruleset& ruleset) {
  for (const sim::Table& t : ruleset.tables) {
    for (const auto& [name, chain] : t.chains) {
      for (const sim::Rule& r : chain.rules) {
        for (const sim::Match& m : r.matches) {
          if (!m.ipset_src.empty()) return true;
        }
      }
    }
  }
  return false;
}

// `ipset save`, run only when a rule needs it (a host without ipset rules
// need not have the tool). When it cannot run, the rules that need a set
// refuse where reached, and a note says why.
std::optional<Failure> LoadLiveIpsets(TraceHostAccess& access,
                                      sim::Ruleset* ruleset) {
  if (!NamesIpsets(*ruleset)) return std::nullopt;
  absl::StatusOr<std::string> text = access.Run("ipset save");
  if (!text.ok()) {
    ruleset->notes.push_back(absl::StrCat("-m set rules cannot be evaluated: ",
                                          text.status().message()));
    return std::nullopt;
  }
  absl::Status st = sim::ApplyIpsetSave(*text, "ipset save", ruleset);
  if (!st.ok()) return Failure{kExitFailed, std::string(st.message())};
  return std::nullopt;
}

std::optional<Failure> LoadLive(TraceHostAccess& access, sim::Ruleset* ruleset,
                                sim::HostModel* host) {
  struct Source {
    const char* command;
    std::optional<sim::IpFamily> family;
  };
  // The kernel keeps iptables-nft's and iptables-legacy's tables apart, and
  // both run: read each. The legacy ones only where they exist (reading them
  // would load them), into their own ruleset so that they stay separate
  // tables, appended after the others.
  for (const Source& s : {Source{"iptables-nft-save", sim::IpFamily::kV4},
                          Source{"ip6tables-nft-save", sim::IpFamily::kV6},
                          Source{"nft list ruleset", std::nullopt}}) {
    absl::StatusOr<std::string> text = access.Run(s.command);
    if (!text.ok())
      return Failure{kExitFailed, std::string(text.status().message())};
    absl::Status st =
        sim::ApplyRulesetText(*text, s.command, s.family, ruleset);
    if (!st.ok()) return Failure{kExitFailed, std::string(st.message())};
  }
  for (const Source& s :
       {Source{"iptables-legacy-save", sim::IpFamily::kV4},
        Source{"ip6tables-legacy-save", sim::IpFamily::kV6}}) {
    const std::string names = s.family == sim::IpFamily::kV4
                                  ? "/proc/net/ip_tables_names"
                                  : "/proc/net/ip6_tables_names";
    absl::StatusOr<std::string> tables = access.ReadFile(names);
    if (!tables.ok() || absl::StripAsciiWhitespace(*tables).empty()) continue;
    absl::StatusOr<std::string> text = access.Run(s.command);
    if (!text.ok())
      return Failure{kExitFailed, std::string(text.status().message())};
    sim::Ruleset legacy;
    absl::Status st =
        sim::ApplyRulesetText(*text, s.command, s.family, &legacy);
    if (!st.ok()) return Failure{kExitFailed, std::string(st.message())};
    for (sim::Table& t : legacy.tables) ruleset->tables.push_back(std::move(t));
    for (std::string& n : legacy.notes) ruleset->notes.push_back(std::move(n));
  }
  if (std::optional<Failure> f = LoadLiveIpsets(access, ruleset)) return f;
  absl::StatusOr<std::string> addrs = access.Run("ip -j addr");
  if (!addrs.ok())
    return Failure{kExitFailed, std::string(addrs.status().message())};
  std::vector<std::string> routes;
  for (const char* cmd : {"ip -j route", "ip -6 -j route"}) {
    absl::StatusOr<std::string> r = access.Run(cmd);
    if (!r.ok()) return Failure{kExitFailed, std::string(r.status().message())};
    routes.push_back(*r);
  }
  absl::StatusOr<std::map<std::string, bool>> rl = ReadRouteLocalnet(access);
  if (!rl.ok()) return Failure{kExitFailed, std::string(rl.status().message())};
  absl::StatusOr<sim::HostModel> h =
      sim::HostModel::FromIpJson(*addrs, routes, *rl);
  if (!h.ok()) return Failure{kExitFailed, std::string(h.status().message())};
  *host = *std::move(h);
  ruleset->notes.push_back(
      "--live: the pods' addresses live in their own namespaces, so bridge "
      "ports (hairpin_mode, br_netfilter) are unknown and not checked");
  return std::nullopt;
}

std::optional<Failure> BuildPacket(const TraceFlags& flags, sim::Packet* p) {
  absl::StatusOr<sim::PacketOrigin> origin = sim::ParsePacketOrigin(flags.from);
  if (!origin.ok()) {
    return Failure{kExitUsage,
                   absl::StrCat("--from: ", origin.status().message())};
  }
  p->origin = *origin;
  absl::StatusOr<sim::Protocol> proto = sim::ParseProtocol(flags.proto);
  if (!proto.ok()) {
    return Failure{kExitUsage,
                   absl::StrCat("--proto: ", proto.status().message())};
  }
  p->protocol = *proto;
  absl::Status s = sim::ParseEndpoint(flags.dst, false, &p->dst, &p->dst_port);
  if (!s.ok()) return Failure{kExitUsage, absl::StrCat("--dst: ", s.message())};
  if (!flags.src.empty()) {
    sim::IpAddress a;
    uint16_t port = 0;
    s = sim::ParseEndpoint(flags.src, true, &a, &port);
    if (!s.ok())
      return Failure{kExitUsage, absl::StrCat("--src: ", s.message())};
    if (a.family() != p->dst.family()) {
      return Failure{kExitUsage,
                     absl::StrCat("--src \"", flags.src, "\" and --dst \"",
                                  flags.dst, "\" differ in family")};
    }
    p->src = a;
    if (port != 0) p->src_port = port;
  }
  return std::nullopt;
}

std::string BindingKind(sim::NatBinding::Kind kind) {
  switch (kind) {
    case sim::NatBinding::Kind::kDnat:
      return "dnat";
    case sim::NatBinding::Kind::kSnat:
      return "snat";
    case sim::NatBinding::Kind::kMasquerade:
      return "masquerade";
  }
  return "?";
}

// One outcome's fields, as the top level of the JSON has always had them.
nlohmann::json OutcomeJson(const sim::TraceResult& r) {
  nlohmann::json j;
  j["verdict"] = sim::PacketVerdictName(r.verdict);
  j["to"] = r.To();
  j["source_seen"] = r.SourceSeen();
  j["reason"] = r.reason;
  // null: the outcome is possible, but state the trace cannot see decides
  // how likely.
  j["probability"] = r.probability_known ? nlohmann::json(r.probability)
                                         : nlohmann::json(nullptr);
  j["trace"] = r.trace;
  nlohmann::json bindings = nlohmann::json::array();
  for (const sim::NatBinding& b : r.bindings) {
    bindings.push_back({{"kind", BindingKind(b.kind)},
                        {"hook", sim::HookName(b.hook)},
                        {"before", b.before},
                        {"after", b.after}});
  }
  j["bindings"] = bindings;
  return j;
}

// With one outcome the top level holds its fields, as before outcomes
// existed; with several only `outcomes` does, so no reader takes one branch
// for the answer.
void PrintJson(const std::vector<sim::TraceResult>& outcomes,
               const std::vector<std::string>& notes, std::ostream& out) {
  nlohmann::json j = outcomes.size() == 1 ? OutcomeJson(outcomes[0])
                                          : nlohmann::json::object();
  nlohmann::json all = nlohmann::json::array();
  for (const sim::TraceResult& r : outcomes) all.push_back(OutcomeJson(r));
  j["outcomes"] = all;
  j["notes"] = notes;
  out << j.dump(2) << "\n";
}

void PrintText(const sim::TraceResult& r, std::ostream& out) {
  out << "verdict: " << sim::PacketVerdictName(r.verdict) << "\n";
  out << "to: " << r.To() << "\n";
  out << "source seen: " << r.SourceSeen() << "\n";
  if (!r.reason.empty()) out << "reason: " << r.reason << "\n";
  out << "trace:\n";
  for (size_t i = 0; i < r.trace.size(); ++i) {
    out << "  " << (i + 1) << ". " << r.trace[i] << "\n";
  }
}

void Print(const std::vector<sim::TraceResult>& outcomes,
           const std::vector<std::string>& notes, const std::string& format,
           std::ostream& out) {
  if (format == "json") {
    PrintJson(outcomes, notes, out);
    return;
  }
  if (outcomes.size() == 1) {
    PrintText(outcomes[0], out);
  } else {
    out << outcomes.size()
        << " possible outcomes (the rules choose at random or by state the "
           "trace cannot see):\n";
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const sim::TraceResult& r = outcomes[i];
      out << "\noutcome " << (i + 1) << " of " << outcomes.size() << ": "
          << (r.probability_known
                  ? absl::StrFormat("probability %.1f%%", r.probability * 100)
                  : std::string("probability unknown"))
          << "\n";
      PrintText(r, out);
    }
  }
  if (!notes.empty()) {
    out << "notes:\n";
    for (const std::string& n : notes) out << "  " << n << "\n";
  }
}

}  // namespace

TraceHostAccess& RealTraceHostAccess() {
  static RealHost* host = new RealHost;
  return *host;
}

int RunTraceCommand(const std::vector<std::string>& args, std::ostream& out,
                    std::ostream& err) {
  return RunTraceCommand(args, out, err, RealTraceHostAccess());
}

int RunTraceCommand(const std::vector<std::string>& args, std::ostream& out,
                    std::ostream& err, TraceHostAccess& access) {
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      out << kUsage << "\n";
      return 0;
    }
  }
  TraceFlags flags;
  if (std::optional<Failure> f = ParseFlags(args, &flags)) {
    err << "hostportctl trace: " << f->message << "\n" << kUsage << "\n";
    return f->code;
  }
  sim::Packet packet;
  if (std::optional<Failure> f = BuildPacket(flags, &packet)) {
    err << "hostportctl trace: " << f->message << "\n";
    return f->code;
  }
  sim::Ruleset ruleset;
  sim::HostModel host = sim::HostModel::Default();
  if (flags.live) {
    if (std::optional<Failure> f = LoadLive(access, &ruleset, &host)) {
      err << "hostportctl trace: " << f->message << "\n";
      return f->code;
    }
  } else {
    for (const std::string& file : flags.rulesets) {
      absl::StatusOr<std::string> text = access.ReadFile(file);
      if (!text.ok()) {
        err << "hostportctl trace: --ruleset: " << text.status().message()
            << "\n";
        return kExitFailed;
      }
      absl::Status s =
          sim::ApplyRulesetText(*text, file, std::nullopt, &ruleset);
      if (!s.ok()) {
        err << "hostportctl trace: " << s.message() << "\n";
        return kExitFailed;
      }
    }
    if (!flags.ipsets.empty()) {
      absl::StatusOr<std::string> text = access.ReadFile(flags.ipsets);
      absl::Status s = text.ok()
                           ? sim::ApplyIpsetSave(*text, flags.ipsets, &ruleset)
                           : text.status();
      if (!s.ok()) {
        err << "hostportctl trace: --ipsets: " << s.message() << "\n";
        return kExitFailed;
      }
    }
    if (!flags.host.empty()) {
      absl::StatusOr<std::string> text = access.ReadFile(flags.host);
      if (!text.ok()) {
        err << "hostportctl trace: --host: " << text.status().message() << "\n";
        return kExitFailed;
      }
      absl::StatusOr<sim::HostModel> h = sim::HostModel::FromJson(*text);
      if (!h.ok()) {
        err << "hostportctl trace: --host \"" << flags.host
            << "\": " << h.status().message() << "\n";
        return kExitUsage;
      }
      host = *std::move(h);
    } else {
      ruleset.notes.push_back(
          "no --host: assuming lo and eth0 (192.0.2.10/24, 2001:db8::10/64) "
          "with the default routes");
    }
  }
  absl::StatusOr<std::unique_ptr<sim::Simulator>> simulator =
      sim::Simulator::Create(std::move(ruleset), std::move(host));
  if (!simulator.ok()) {
    err << "hostportctl trace: " << simulator.status().message() << "\n";
    return kExitFailed;
  }
  absl::StatusOr<std::vector<sim::TraceResult>> result =
      (*simulator)->TraceAll(packet);
  if (!result.ok()) {
    err << "hostportctl trace: " << result.status().message() << "\n";
    return absl::IsInvalidArgument(result.status()) ? kExitUsage : kExitFailed;
  }
  Print(*result, (*simulator)->notes(), flags.output, out);
  return kExitOk;
}
