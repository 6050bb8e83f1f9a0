#include "e2e/hosts/loader.h"

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hostport::e2e {
namespace {

absl::Status Feed(Netns& host, const std::vector<std::string>& argv,
                  const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  absl::StatusOr<std::string> out = host.Check(argv, text);
  if (!out.ok()) {
    return absl::Status(out.status().code(),
                        absl::StrCat(path, ": ", out.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadHostFixture(Netns& host, const HostFixture& fixture) {
  if (!fixture.ipsets.empty()) {
    absl::Status s = Feed(host, {"ipset", "restore"}, fixture.ipsets);
    if (!s.ok()) return s;
  }
  for (const std::string& file : fixture.ruleset_files) {
    std::vector<std::string> argv = {"nft", "-f", "-"};
    if (absl::EndsWith(file, ".v4")) {
      argv = {"iptables-nft-restore", "--noflush"};
    } else if (absl::EndsWith(file, ".v6")) {
      argv = {"ip6tables-nft-restore", "--noflush"};
    }
    absl::Status s = Feed(host, argv, file);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace hostport::e2e
