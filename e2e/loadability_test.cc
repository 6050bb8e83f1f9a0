// Loadability, checked on the real kernel: every golden ruleset of
// hostport/render/testdata/golden is fed to iptables-restore (legacy and nft
// variants, both families) and to nft inside a fresh network namespace. Beyond
// "it loads", each step is compared with what the kernel then holds:
//   full    --test passes, loads, and iptables-save shows exactly the rendered
//   rules
//           (byte for byte, per chain, in order); nft lists every rendered rule
//           back as written (DESIGN §7: what a script means is what nft prints
//           back);
//   remove  (the scenario's last pod) loads on top and leaves the model's
//   state; add     (the same pod again) loads on top and restores the full
//   state exactly:
//           incremental equals full.
// An unrelated rule and an unrelated nft table present before are untouched
// after.
#include <dirent.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "e2e/netns.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/testing/goldens.h"

namespace hostport::e2e {
namespace {

using testing::CountOwnerComments;
using testing::CountPrefixed;
using testing::kGoldenDir;
using testing::ReadGolden;

// The scenarios of the goldens (none when they are not in the runfiles).
std::vector<std::string> Scenarios() {
  return testing::GoldenScenarios().value_or(std::vector<std::string>{});
}

// table -> chain -> rules, as iptables-save prints them ("-A" lines, in order).
using IptablesState =
    std::map<std::string, std::map<std::string, std::vector<std::string>>>;

// Applies restore input to a model of the tables, the way --noflush restore
// does.
void ApplyRestore(const std::string& text, IptablesState* state) {
  std::string table;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#' || line == "COMMIT") continue;
    if (line[0] == '*') {
      table = std::string(line.substr(1));
      continue;
    }
    if (line[0] == ':') {
      const std::string chain(line.substr(1, line.find(' ') - 1));
      (*state)[table][chain].clear();
      continue;
    }
    std::vector<std::string> words =
        absl::StrSplit(line, absl::MaxSplits(' ', 2));
    const std::string& op = words[0];
    const std::string& chain = words[1];
    const std::string rule = words.size() > 2 ? words[2] : "";
    auto& rules = (*state)[table][chain];
    if (op == "-N") {
      (*state)[table][chain];
    } else if (op == "-A") {
      rules.push_back(rule);
    } else if (op == "-I") {
      rules.insert(rules.begin(), rule);
    } else if (op == "-D") {
      for (auto it = rules.begin(); it != rules.end(); ++it) {
        if (*it == rule) {
          rules.erase(it);
          break;
        }
      }
    } else if (op == "-X") {
      (*state)[table].erase(chain);
    } else {
      ADD_FAILURE() << "model cannot apply: " << line;
    }
  }
}

IptablesState ParseSave(const std::string& text) {
  IptablesState state;
  std::string table;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#' || line == "COMMIT") continue;
    if (line[0] == '*') {
      table = std::string(line.substr(1));
    } else if (line[0] == ':') {
      state[table][std::string(line.substr(1, line.find(' ') - 1))];
    } else if (absl::StartsWith(line, "-A ")) {
      std::vector<std::string> words =
          absl::StrSplit(line, absl::MaxSplits(' ', 2));
      state[table][words[1]].push_back(words.size() > 2 ? words[2] : "");
    }
  }
  return state;
}

// Built-in chains iptables-save always lists, so the model knows them too.
IptablesState EmptyTables() {
  IptablesState s;
  for (const char* c : {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}) {
    s["nat"][c];
  }
  for (const char* c : {"PREROUTING", "OUTPUT"}) s["raw"][c];
  for (const char* c : {"INPUT", "FORWARD", "OUTPUT"}) s["filter"][c];
  return s;
}

std::string Describe(const IptablesState& state) {
  std::string out;
  for (const auto& [table, chains] : state) {
    for (const auto& [chain, rules] : chains) {
      absl::StrAppend(&out, table, "/", chain, ":\n");
      for (const std::string& r : rules) absl::StrAppend(&out, "  ", r, "\n");
    }
  }
  return out;
}

struct Variant {
  std::string name;
  std::string restore4, restore6, save4, save6;
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class IptablesLoadTest : public ::testing::TestWithParam<Variant> {};

TEST_P(IptablesLoadTest, GoldensLoadAndSaveBackAsRendered) {
  HOSTPORT_REQUIRE_KERNEL();
  const Variant& v = GetParam();
  const std::vector<std::string> scenarios = Scenarios();
  ASSERT_FALSE(scenarios.empty()) << "no goldens found in " << kGoldenDir;
  for (const std::string& scenario : scenarios) {
    for (const char* family : {"4", "6"}) {
      SCOPED_TRACE(absl::StrCat(v.name, " ", scenario, " family ", family));
      const bool v4 = std::string(family) == "4";
      const std::string restore = v4 ? v.restore4 : v.restore6;
      const std::string save = v4 ? v.save4 : v.save6;
      absl::StatusOr<std::unique_ptr<Netns>> ns = Netns::Create("load");
      ASSERT_TRUE(ns.ok()) << ns.status();
      // A rule someone else owns, which must survive everything below.
      const std::string unrelated =
          v4 ? "-A POSTROUTING -s 192.168.99.0/24 -j MASQUERADE"
             : "-A POSTROUTING -s fd99::/64 -j MASQUERADE";
      const std::string pre = absl::StrCat("*nat\n", unrelated, "\nCOMMIT\n");
      ASSERT_TRUE((*ns)->Check({restore, "-w", "--noflush"}, pre).ok());
      IptablesState model = EmptyTables();
      if (!v4) {
        model.erase("raw");
        model.erase("filter");
      }
      ApplyRestore(pre, &model);

      const std::string stem =
          absl::StrCat(scenario, ".", family, ".iptables.");
      for (const char* step : {"full", "remove", "add"}) {
        SCOPED_TRACE(step);
        const std::string text = ReadGolden(stem + step);
        if (text.empty()) {
          // A pod without addresses of this family has no delta here.
          ASSERT_NE(std::string(step), "full")
              << "missing golden " << stem << step;
          continue;
        }
        absl::StatusOr<std::string> tested =
            (*ns)->Check({restore, "-w", "--test", "--noflush"}, text);
        ASSERT_TRUE(tested.ok()) << tested.status() << "\n" << text;
        absl::StatusOr<std::string> loaded =
            (*ns)->Check({restore, "-w", "--noflush"}, text);
        ASSERT_TRUE(loaded.ok()) << loaded.status() << "\n" << text;
        ApplyRestore(text, &model);
        IptablesState kernel;
        for (const char* table : {"nat", "raw", "filter"}) {
          if (!v4 && std::string(table) != "nat") continue;
          absl::StatusOr<std::string> saved = (*ns)->Check({save, "-t", table});
          ASSERT_TRUE(saved.ok()) << saved.status();
          IptablesState t = ParseSave(*saved);
          kernel[table] = t[table];
        }
        EXPECT_EQ(Describe(kernel), Describe(model));
      }
      // After remove+add the state is the full one again.
      IptablesState full = EmptyTables();
      if (!v4) {
        full.erase("raw");
        full.erase("filter");
      }
      ApplyRestore(pre, &full);
      ApplyRestore(ReadGolden(stem + "full"), &full);
      EXPECT_EQ(Describe(model), Describe(full));
      EXPECT_THAT(
          model["nat"]["POSTROUTING"],
          ::testing::Contains(unrelated.substr(strlen("-A POSTROUTING "))));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, IptablesLoadTest,
    ::testing::Values(Variant{"legacy", "iptables-legacy-restore",
                              "ip6tables-legacy-restore",
                              "iptables-legacy-save", "ip6tables-legacy-save"},
                      Variant{"nft", "iptables-nft-restore",
                              "ip6tables-nft-restore", "iptables-nft-save",
                              "ip6tables-nft-save"}),
    [](const ::testing::TestParamInfo<Variant>& info) {
      return info.param.name;
    });

// Lines of `nft list table` output, trimmed, sorted.
std::multiset<std::string> ListLines(Netns& ns, const std::string& family,
                                     const std::string& table) {
  std::multiset<std::string> lines;
  absl::StatusOr<std::string> out =
      ns.Check({"nft", "list", "table", family, table});
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return lines;
  for (absl::string_view line : absl::StrSplit(*out, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.insert(std::string(line));
  }
  return lines;
}

// Every element carries one owner comment.
int CountElements(const std::multiset<std::string>& lines) {
  int n = 0;
  for (const std::string& l : lines) n += CountOwnerComments(l);
  return n;
}

TEST(NftLoadTest, GoldensLoadAndListBackAsRendered) {
  HOSTPORT_REQUIRE_KERNEL();
  const std::vector<std::string> scenarios = Scenarios();
  ASSERT_FALSE(scenarios.empty());
  for (const std::string& scenario : scenarios) {
    for (const char* family : {"4", "6"}) {
      SCOPED_TRACE(absl::StrCat(scenario, " family ", family));
      const std::string nft_family = std::string(family) == "4" ? "ip" : "ip6";
      absl::StatusOr<std::unique_ptr<Netns>> ns = Netns::Create("nftload");
      ASSERT_TRUE(ns.ok()) << ns.status();
      const std::string other =
          "table inet unrelated {\n chain c {\n type filter hook input "
          "priority "
          "0;\n tcp dport 22 accept\n }\n}\n";
      ASSERT_TRUE((*ns)->Check({"nft", "-f", "-"}, other).ok());
      const std::multiset<std::string> other_before =
          ListLines(**ns, "inet", "unrelated");

      const std::string stem = absl::StrCat(scenario, ".", family, ".nft.");
      const std::string full = ReadGolden(stem + "full");
      ASSERT_FALSE(full.empty());
      ASSERT_TRUE((*ns)->Check({"nft", "--check", "-f", "-"}, full).ok());
      absl::StatusOr<std::string> loaded =
          (*ns)->Check({"nft", "-f", "-"}, full);
      ASSERT_TRUE(loaded.ok()) << loaded.status() << "\n" << full;
      const std::multiset<std::string> after_full =
          ListLines(**ns, nft_family, "crio-hostports");
      // Every rule reads back as written.
      const std::string rule_prefix =
          absl::StrCat("add rule ", nft_family, " crio-hostports ");
      std::multiset<std::string> rendered_rules;
      for (absl::string_view line : absl::StrSplit(full, '\n')) {
        if (!absl::StartsWith(line, rule_prefix)) continue;
        line.remove_prefix(rule_prefix.size());
        rendered_rules.insert(std::string(line.substr(line.find(' ') + 1)));
      }
      for (const std::string& body : rendered_rules) {
        EXPECT_EQ(after_full.count(body), rendered_rules.count(body))
            << "nft lists back differently: " << body;
      }
      EXPECT_EQ(CountElements(after_full), CountPrefixed(full, "add element"));

      const std::string remove = ReadGolden(stem + "remove");
      const std::string add = ReadGolden(stem + "add");
      if (remove.empty()) {
        // A pod without addresses of this family has no delta here.
        EXPECT_TRUE(add.empty());
        continue;
      }
      ASSERT_TRUE((*ns)->Check({"nft", "--check", "-f", "-"}, remove).ok());
      ASSERT_TRUE((*ns)->Check({"nft", "-f", "-"}, remove).ok()) << remove;
      EXPECT_EQ(CountElements(ListLines(**ns, nft_family, "crio-hostports")),
                CountPrefixed(full, "add element") -
                    CountPrefixed(remove, "delete element"));

      ASSERT_TRUE((*ns)->Check({"nft", "-f", "-"}, add).ok()) << add;
      EXPECT_EQ(ListLines(**ns, nft_family, "crio-hostports"), after_full);
      // The same elements again are a no-op for the kernel, but the same key
      // with another value (another pod on the port) is refused, and the whole
      // transaction with it.
      absl::StatusOr<CommandResult> again = (*ns)->Run({"nft", "-f", "-"}, add);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(again->exit_code, 0) << again->stderr_text;
      EXPECT_EQ(ListLines(**ns, nft_family, "crio-hostports"), after_full);
      for (absl::string_view line : absl::StrSplit(add, '\n')) {
        if (!absl::StrContains(line, " : ")) continue;  // Map elements only.
        // The same key with another (valid) container port.
        std::string other(line);
        const size_t end = other.rfind(" }");
        const size_t start = other.rfind(' ', end - 1) + 1;
        const int port = std::stoi(other.substr(start, end - start));
        other.replace(start, end - start, std::to_string(port % 65535 + 1));
        absl::StatusOr<CommandResult> clash =
            (*ns)->Run({"nft", "-f", "-"}, absl::StrCat(add, other, "\n"));
        ASSERT_TRUE(clash.ok());
        EXPECT_NE(clash->exit_code, 0)
            << "a second value for a key was accepted";
        EXPECT_EQ(ListLines(**ns, nft_family, "crio-hostports"), after_full);
        break;
      }
      EXPECT_EQ(ListLines(**ns, "inet", "unrelated"), other_before);
    }
  }
}

}  // namespace
}  // namespace hostport::e2e
