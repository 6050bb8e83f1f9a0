#include "e2e/hosts/fixture.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace hostport::e2e {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Lines without comments and blanks, with their 1-based numbers.
std::vector<std::pair<int, std::string>> Lines(const std::string& text) {
  std::vector<std::pair<int, std::string>> out;
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    out.emplace_back(n, std::string(line));
  }
  return out;
}

absl::StatusOr<HostProbe> ParseProbe(absl::string_view line,
                                     absl::string_view where) {
  std::vector<std::string> words =
      absl::StrSplit(line, ' ', absl::SkipWhitespace());
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", why, " in \"", line,
                     "\" (want FROM PROTO DST PORT [tries=N], FROM external, "
                     "local or pod0..pod2, PROTO tcp or udp)"));
  };
  HostProbe p;
  if (words.size() == 5 && absl::StartsWith(words[4], "tries=")) {
    if (!absl::SimpleAtoi(words[4].substr(6), &p.tries) || p.tries < 1 ||
        p.tries > 200) {
      return bad(absl::StrCat("tries \"", words[4], "\" not in 1..200"));
    }
    words.pop_back();
  }
  if (words.size() != 4) return bad("not four fields");
  p.from = words[0];
  p.proto = words[1];
  p.dst = words[2];
  if (p.from != "external" && p.from != "local" && p.PodIndex() < 0) {
    return bad(absl::StrCat("origin \"", p.from, "\""));
  }
  if (p.proto != "tcp" && p.proto != "udp") {
    return bad(absl::StrCat("protocol \"", p.proto, "\""));
  }
  if (!absl::SimpleAtoi(words[3], &p.port) || p.port < 1 || p.port > 65535) {
    return bad(absl::StrCat("port \"", words[3], "\" not in 1..65535"));
  }
  p.line = absl::StrJoin(words, " ");
  return p;
}

absl::Status ReadGolden(const std::string& path, HostFixture* f) {
  absl::StatusOr<std::string> text = ReadWhole(path);
  if (!text.ok()) return absl::OkStatus();  // not recorded yet
  for (const auto& [n, line] : Lines(*text)) {
    std::vector<std::string> parts = absl::StrSplit(line, " => ");
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", n, ": want \"PROBE => OUTCOME[ | OUTCOME]\", got \"", line,
          "\""));
    }
    std::set<std::string> outcomes;
    for (absl::string_view o : absl::StrSplit(parts[1], " | ")) {
      outcomes.insert(std::string(o));
    }
    f->golden[parts[0]] = std::move(outcomes);
  }
  return absl::OkStatus();
}

absl::StatusOr<HostFixture> ReadFixture(const fs::path& dir,
                                        const std::string& default_host) {
  HostFixture f;
  f.name = dir.filename().string();
  f.dir = dir.string();
  for (const char* file : {"rules.v4", "rules.v6", "rules.nft"}) {
    if (fs::exists(dir / file))
      f.ruleset_files.push_back((dir / file).string());
  }
  if (f.ruleset_files.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.dir, ": no rules.v4, rules.v6 or rules.nft"));
  }
  if (fs::exists(dir / "ipsets")) f.ipsets = (dir / "ipsets").string();
  f.host_json = fs::exists(dir / "host.json") ? (dir / "host.json").string()
                                              : default_host;
  const std::string probes = (dir / "probes").string();
  absl::StatusOr<std::string> text = ReadWhole(probes);
  if (!text.ok()) return text.status();
  for (const auto& [n, line] : Lines(*text)) {
    absl::StatusOr<HostProbe> p =
        ParseProbe(line, absl::StrCat(probes, ":", n));
    if (!p.ok()) return p.status();
    f.probes.push_back(*std::move(p));
  }
  if (absl::Status s = ReadGolden((dir / "golden").string(), &f); !s.ok()) {
    return s;
  }
  return f;
}

}  // namespace

bool HostProbe::IsV6() const { return absl::StrContains(dst, ':'); }

int HostProbe::PodIndex() const {
  if (from == "pod0") return 0;
  if (from == "pod1") return 1;
  if (from == "pod2") return 2;
  return -1;
}

std::string HostProbe::TraceFrom() const {
  if (from == "external") return "external:hp-ext";
  if (from == "local") return "local";
  return absl::StrCat("pod:", FixturePodAddress(PodIndex(), IsV6()));
}

std::string HostProbe::Source() const {
  if (from == "external") return IsV6() ? "2001:db8::100" : "192.0.2.100";
  if (from == "local") return "";
  return FixturePodAddress(PodIndex(), IsV6());
}

std::string FixturePodAddress(int index, bool v6) {
  return absl::StrCat(v6 ? "fd00:88::" : "10.88.0.", index + 2);
}

std::string FixturePodOf(absl::string_view address) {
  for (int i = 0; i < 3; ++i) {
    if (address == FixturePodAddress(i, false) ||
        address == FixturePodAddress(i, true)) {
      return absl::StrCat("pod", i);
    }
  }
  if (address == "192.0.2.100" || address == "2001:db8::100") return "client";
  return "";
}

bool FixturePodPort(int port) { return port == 8000 || port == 8001; }

std::string OutcomeText(absl::string_view pod, absl::string_view source) {
  if (pod.empty()) return std::string(kNoPodAnswers);
  return absl::StrCat(pod, " sees ", source);
}

absl::StatusOr<std::vector<HostFixture>> ReadHostFixtures(
    const std::string& root) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
    if (e.is_directory()) dirs.push_back(e.path());
  }
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot list ", root, ": ", ec.message()));
  }
  std::sort(dirs.begin(), dirs.end());
  std::vector<HostFixture> out;
  for (const fs::path& d : dirs) {
    absl::StatusOr<HostFixture> f = ReadFixture(d, root + "/host.json");
    if (!f.ok()) return f.status();
    out.push_back(*std::move(f));
  }
  return out;
}

std::string FormatGolden(
    const std::vector<HostProbe>& probes,
    const std::map<std::string, std::set<std::string>>& outcomes) {
  std::string out =
      "# Recorded on the kernel by //e2e:golden_hosts_test "
      "(HOSTPORT_RECORD_GOLDEN); see e2e/hosts/README.md.\n";
  for (const HostProbe& p : probes) {
    auto it = outcomes.find(p.line);
    if (it == outcomes.end()) continue;
    absl::StrAppend(&out, p.line, " => ", absl::StrJoin(it->second, " | "),
                    "\n");
  }
  return out;
}

}  // namespace hostport::e2e
