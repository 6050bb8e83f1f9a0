#include "hostport/testing/goldens.h"

#include <dirent.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hostport::testing {

std::string ReadGolden(const std::string& file) {
  std::ifstream in(absl::StrCat(kGoldenDir, "/", file));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<std::vector<std::string>> GoldenScenarios() {
  DIR* dir = opendir(kGoldenDir);
  if (dir == nullptr) return std::nullopt;
  constexpr absl::string_view kSuffix = ".4.iptables.full";
  std::set<std::string> names;
  while (dirent* e = readdir(dir)) {
    const std::string f = e->d_name;
    if (absl::EndsWith(f, kSuffix)) {
      names.insert(f.substr(0, f.size() - kSuffix.size()));
    }
  }
  closedir(dir);
  return std::vector<std::string>(names.begin(), names.end());
}

int CountOwnerComments(absl::string_view text) {
  int n = 0;
  for (size_t pos = text.find("comment \""); pos != absl::string_view::npos;
       pos = text.find("comment \"", pos + 1)) {
    ++n;
  }
  return n;
}

int CountPrefixed(absl::string_view text, absl::string_view prefix) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, prefix)) ++n;
  }
  return n;
}

}  // namespace hostport::testing
