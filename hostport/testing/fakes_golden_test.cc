// The golden rulesets of hostport/render/testdata/golden load into the fakes
// exactly as e2e/loadability_test.cc loads them into the kernel: full, then
// remove (the scenario's last pod), then add (the same pod again), each on top
// of the last, with an unrelated rule present throughout. Every step succeeds,
// and after remove+add the state equals the state after full. Where the
// kernel refuses a second load (full again, remove again, a second value for
// a map key) the fakes refuse too and change nothing.
#include <dirent.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/testing/fakes.h"
#include "hostport/testing/goldens.h"

namespace hostport::testing {
namespace {

#define HOSTPORT_REQUIRE_GOLDENS(scenarios)                                   \
  ASSERT_TRUE((scenarios).has_value())                                        \
      << kGoldenDir << " is not in the runfiles (data = //hostport:goldens)"; \
  ASSERT_FALSE((scenarios)->empty()) << "no goldens in " << kGoldenDir

// Names of the chains a restore input deletes with -X.
std::vector<std::string> DeletedChains(const std::string& text) {
  std::vector<std::string> chains;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, "-X ")) chains.emplace_back(line);
  }
  return chains;
}

CommandResult MustRun(FakeIptables& fake, const std::vector<std::string>& argv,
                      const std::string& input) {
  absl::StatusOr<CommandResult> result = fake.Run(argv, input);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : CommandResult{-1, "", "run failed"};
}

struct Variant {
  std::string name;
  std::string restore4, restore6;
};

TEST(FakesGoldenTest, IptablesGoldensLoadLikeOnTheKernel) {
  const std::optional<std::vector<std::string>> scenarios = GoldenScenarios();
  HOSTPORT_REQUIRE_GOLDENS(scenarios);
  for (const Variant& v : {
           Variant{"legacy", "iptables-legacy-restore",
                   "ip6tables-legacy-restore"},
           Variant{"nft", "iptables-nft-restore", "ip6tables-nft-restore"},
       }) {
    for (const std::string& scenario : *scenarios) {
      for (const char* family : {"4", "6"}) {
        SCOPED_TRACE(absl::StrCat(v.name, " ", scenario, " family ", family));
        const bool v4 = std::string(family) == "4";
        const IPFamily f = v4 ? IPFamily::kIPv4 : IPFamily::kIPv6;
        const std::string restore = v4 ? v.restore4 : v.restore6;
        FakeIptables fake;
        const std::string unrelated = v4 ? "-s 192.168.99.0/24 -j MASQUERADE"
                                         : "-s fd99::/64 -j MASQUERADE";
        ASSERT_TRUE(fake.Restore(f, absl::StrCat("*nat\n-A POSTROUTING ",
                                                 unrelated, "\nCOMMIT\n"))
                        .ok());
        const std::string stem =
            absl::StrCat(scenario, ".", family, ".iptables.");
        std::string after_full;
        for (const char* step : {"full", "remove", "add"}) {
          SCOPED_TRACE(step);
          const std::string text = ReadGolden(stem + step);
          if (text.empty()) {
            // A pod without addresses of this family has no delta here.
            ASSERT_NE(std::string(step), "full")
                << "missing golden " << stem << step;
            continue;
          }
          const std::string before = fake.Save(f);
          CommandResult tested =
              MustRun(fake, {restore, "-w", "--test", "--noflush"}, text);
          ASSERT_EQ(tested.exit_code, 0) << tested.stderr_text << text;
          ASSERT_EQ(fake.Save(f), before) << "--test changed the state";
          CommandResult loaded =
              MustRun(fake, {restore, "-w", "--noflush"}, text);
          ASSERT_EQ(loaded.exit_code, 0) << loaded.stderr_text << text;
          if (std::string(step) == "full") after_full = fake.Save(f);
          if (std::string(step) == "remove") {
            for (const std::string& chain : DeletedChains(text)) {
              EXPECT_FALSE(fake.HasChain(f, "nat", chain)) << chain;
            }
            // Removing again fails (-D of rules no longer there) at its first
            // table, so neither variant commits anything.
            const std::string removed = fake.Save(f);
            CommandResult again =
                MustRun(fake, {restore, "-w", "--noflush"}, text);
            EXPECT_NE(again.exit_code, 0);
            EXPECT_EQ(fake.Save(f), removed);
          }
        }
        // The shared chains exist already: loading full again fails (-N) in
        // its first table, and changes nothing.
        const std::string settled = fake.Save(f);
        CommandResult twice = MustRun(fake, {restore, "-w", "--noflush"},
                                      ReadGolden(stem + "full"));
        EXPECT_NE(twice.exit_code, 0);
        EXPECT_EQ(fake.Save(f), settled);
        EXPECT_THAT(fake.Rules(f, "nat", "POSTROUTING"),
                    ::testing::Contains(unrelated));
        // After remove+add the state is the full one again.
        EXPECT_EQ(settled, after_full);
      }
    }
  }
}

TEST(FakesGoldenTest, NftGoldensLoadLikeOnTheKernel) {
  const std::optional<std::vector<std::string>> scenarios = GoldenScenarios();
  HOSTPORT_REQUIRE_GOLDENS(scenarios);
  for (const std::string& scenario : *scenarios) {
    for (const char* family : {"4", "6"}) {
      SCOPED_TRACE(absl::StrCat(scenario, " family ", family));
      const std::string nft_family = std::string(family) == "4" ? "ip" : "ip6";
      const std::string list =
          absl::StrCat("list table ", nft_family, " crio-hostports");
      FakeNft nft;
      ASSERT_TRUE(nft.Run("add table inet unrelated\n"
                          "add chain inet unrelated c { type filter hook input "
                          "priority 0; policy accept; }\n"
                          "add rule inet unrelated c tcp dport 22 accept\n")
                      .ok());
      const absl::StatusOr<std::string> other =
          nft.List("list table inet unrelated");
      ASSERT_TRUE(other.ok());

      const std::string stem = absl::StrCat(scenario, ".", family, ".nft.");
      const std::string full = ReadGolden(stem + "full");
      ASSERT_FALSE(full.empty()) << "missing golden " << stem << "full";
      absl::Status loaded = nft.Run(full);
      ASSERT_TRUE(loaded.ok()) << loaded << "\n" << full;
      const absl::StatusOr<std::string> after_full = nft.List(list);
      ASSERT_TRUE(after_full.ok()) << after_full.status();
      EXPECT_EQ(CountOwnerComments(*after_full),
                CountPrefixed(full, "add element"));
      // full replaces the table: loading it again gives the same state.
      ASSERT_TRUE(nft.Run(full).ok());
      EXPECT_EQ(*nft.List(list), *after_full);

      const std::string remove = ReadGolden(stem + "remove");
      const std::string add = ReadGolden(stem + "add");
      if (remove.empty()) {
        // A pod without addresses of this family has no delta here.
        EXPECT_TRUE(add.empty());
        continue;
      }
      absl::Status removed = nft.Run(remove);
      ASSERT_TRUE(removed.ok()) << removed << "\n" << remove;
      const std::string after_remove = *nft.List(list);
      EXPECT_EQ(CountOwnerComments(after_remove),
                CountPrefixed(full, "add element") -
                    CountPrefixed(remove, "delete element"));
      // Removing again: the elements are gone, so nft refuses, whole.
      EXPECT_EQ(nft.Run(remove).code(), absl::StatusCode::kNotFound);
      EXPECT_EQ(*nft.List(list), after_remove);

      absl::Status added = nft.Run(add);
      ASSERT_TRUE(added.ok()) << added << "\n" << add;
      EXPECT_EQ(*nft.List(list), *after_full);
      // The same elements again are a no-op; the same key with another value
      // fails the whole transaction.
      EXPECT_TRUE(nft.Run(add).ok());
      EXPECT_EQ(*nft.List(list), *after_full);
      for (absl::string_view line : absl::StrSplit(add, '\n')) {
        if (!absl::StrContains(line, " : ")) continue;  // Map elements only.
        // Another container port. (Appending a digit, as the kernel test
        // does, can push the port past 65535 and fail to parse instead.)
        const size_t end = line.rfind(" }");
        const size_t begin = line.rfind(' ', end - 1) + 1;
        int port = 0;
        ASSERT_TRUE(absl::SimpleAtoi(line.substr(begin, end - begin), &port))
            << line;
        const std::string clash =
            absl::StrCat(line.substr(0, begin), port % 65535 + 1, " }");
        absl::Status s = nft.Run(absl::StrCat(add, clash, "\n"));
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << clash;
        EXPECT_THAT(std::string(s.message()),
                    ::testing::HasSubstr("File exists"));
        EXPECT_EQ(*nft.List(list), *after_full);
        break;
      }
      EXPECT_EQ(*nft.List("list table inet unrelated"), *other);
    }
  }
}

}  // namespace
}  // namespace hostport::testing
