// hostportctl add / list / remove, run as built, in a network namespace the
// test creates: exit codes, output, records in the state directory, and the
// kernel's rules after each step (nothing half-applied when one pod of a file
// fails).
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "e2e/netns.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class HostportctlKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HOSTPORT_REQUIRE_KERNEL();
    absl::StatusOr<std::unique_ptr<e2e::Netns>> ns = e2e::Netns::Create("ctl");
    ASSERT_TRUE(ns.ok()) << ns.status();
    ns_ = std::move(*ns);
    ASSERT_TRUE(ns_->Check({"ip", "link", "add", "hp-br0", "type", "veth",
                            "peer", "name", "hp-br0-peer"})
                    .ok());
    state_dir_ = absl::StrCat(testing::TempDir(), "/state-", ns_->name());
  }

  CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), "tools/hostportctl");
    args.push_back("--state-dir");
    args.push_back(state_dir_);
    absl::StatusOr<CommandResult> r = ns_->Run(args);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{-1, "", ""};
  }

  std::string Nft() {
    absl::StatusOr<CommandResult> r = ns_->Run({"nft", "list", "ruleset"});
    return r.ok() ? r->stdout_text : "";
  }

  std::unique_ptr<e2e::Netns> ns_;
  std::string state_dir_;
};

TEST_F(HostportctlKernelTest, AddListRemove) {
  CommandResult add = Ctl({"add", "--pods", "tools/examples/pods.json"});
  ASSERT_EQ(add.exit_code, 0) << add.stderr_text;
  EXPECT_THAT(add.stdout_text, HasSubstr("added sandbox-web (nftables)"));
  EXPECT_THAT(Nft(), HasSubstr("tcp . 8080 comment"));

  CommandResult list = Ctl({"list", "--output", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.stderr_text;
  nlohmann::json pods = nlohmann::json::parse(list.stdout_text);
  ASSERT_EQ(pods.size(), 3u);
  EXPECT_EQ(pods[2]["id"], "sandbox-web");
  EXPECT_EQ(pods[2]["backend"], "nftables");

  // A pod that conflicts with a held one is refused before anything changes.
  const std::string before = Nft();
  CommandResult conflict =
      Ctl({"add", "--pods", "tools/testdata/conflict.json"});
  EXPECT_EQ(conflict.exit_code, 1);
  EXPECT_THAT(conflict.stderr_text, HasSubstr("conflicts on IPv4"));
  EXPECT_EQ(Nft(), before);

  CommandResult remove = Ctl({"remove", "--id", "sandbox-web,sandbox-dns"});
  ASSERT_EQ(remove.exit_code, 0) << remove.stderr_text;
  EXPECT_THAT(Nft(), Not(HasSubstr("tcp . 8080")));
  EXPECT_THAT(Nft(), HasSubstr("127.0.0.1 . tcp . 9000"));
  remove = Ctl({"remove", "--pods", "tools/examples/pods.json"});
  ASSERT_EQ(remove.exit_code, 0) << remove.stderr_text;
  EXPECT_THAT(Nft(), Not(HasSubstr("comment \"")));
  list = Ctl({"list"});
  EXPECT_THAT(list.stdout_text, HasSubstr("no pods held"));
}

TEST_F(HostportctlKernelTest, NothingHalfAppliedWhenOnePodFails) {
  CommandResult add = Ctl({"add", "--pods", "tools/testdata/half_bad.json",
                           "--backend", "iptables-legacy"});
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_THAT(add.stderr_text, HasSubstr("no-such-if"));
  absl::StatusOr<std::string> saved =
      ns_->Check({"iptables-legacy-save", "-t", "nat"});
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_THAT(*saved, Not(HasSubstr("KUBE-HP-")));
  EXPECT_THAT(Ctl({"list"}).stdout_text, HasSubstr("no pods held"));
}

TEST_F(HostportctlKernelTest, BadInputExitsTwo) {
  CommandResult r = Ctl({"add", "--pods", "tools/testdata/bad_port.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("host_port 70000 out of range"));
  r = Ctl({"add", "--pods", "tools/examples/pods.json", "--backend", "pf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("--backend \"pf\" is not a backend"));
  r = Ctl({"remove"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("exactly one of --id and --pods"));
  r = Ctl({"remove", "--id", "a,,b"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("has an empty id"));
}

}  // namespace
}  // namespace hostport
