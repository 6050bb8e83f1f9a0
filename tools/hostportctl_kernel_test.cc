// hostportctl add / list / remove, run as built, in a network namespace the
// test creates: exit codes, output, records in the state directory, and the
// kernel's rules after each step (nothing half-applied when one pod of a file
// fails).
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/match.h"
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

  std::string RouteLocalnet() {
    absl::StatusOr<std::string> value =
        ns_->Check({"cat", "/proc/sys/net/ipv4/conf/hp-br0/route_localnet"});
    return value.ok() ? *value : std::string(value.status().message());
  }

  std::unique_ptr<e2e::Netns> ns_;
  std::string state_dir_;
};

// Two hostportctl add at once, of different pods wanting the same 50 ports,
// on each backend: exactly one lands, the other is refused with the conflict,
// and the kernel holds the winner's 50 mappings once.
TEST_F(HostportctlKernelTest, ConcurrentAddsOfTheSamePortsHaveOneWinner) {
  for (const char* backend : {"nftables", "iptables-legacy", "iptables-nft"}) {
    SCOPED_TRACE(backend);
    std::string files[2];
    for (int p = 0; p < 2; ++p) {
      nlohmann::json mappings = nlohmann::json::array();
      for (int i = 0; i < 50; ++i) {
        mappings.push_back({{"host_port", 20000 + i},
                            {"container_port", 80},
                            {"protocol", "TCP"},
                            {"host_ip", ""}});
      }
      nlohmann::json pod = {{"id", absl::StrCat("racer-", p)},
                            {"namespace", "default"},
                            {"name", absl::StrCat("racer-", p)},
                            {"ips", {absl::StrCat("10.88.0.", 10 + p)}},
                            {"port_mappings", mappings}};
      files[p] =
          absl::StrCat(testing::TempDir(), "/racer-", p, "-", backend, ".json");
      std::ofstream(files[p]) << pod.dump();
    }
    CommandResult results[2];
    std::thread racers[2];
    for (int p = 0; p < 2; ++p) {
      racers[p] = std::thread([&, p] {
        results[p] = Ctl({"add", "--pods", files[p], "--backend", backend});
      });
    }
    for (std::thread& t : racers) t.join();
    const int winner = results[0].exit_code == 0 ? 0 : 1;
    EXPECT_EQ(results[winner].exit_code, 0) << results[winner].stderr_text;
    EXPECT_EQ(results[1 - winner].exit_code, 1)
        << results[1 - winner].stdout_text;
    EXPECT_THAT(results[1 - winner].stderr_text, HasSubstr("conflicts"));
    CommandResult list = Ctl({"list", "--output", "json"});
    ASSERT_EQ(list.exit_code, 0);
    nlohmann::json held = nlohmann::json::parse(list.stdout_text);
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0]["id"], absl::StrCat("racer-", winner));
    std::string kernel;
    if (std::string(backend) == "nftables") {
      kernel = Nft();
    } else {
      absl::StatusOr<CommandResult> saved = ns_->Run(
          {absl::StrCat("iptables", std::string(backend).substr(8), "-save"),
           "-t", "nat"});
      ASSERT_TRUE(saved.ok());
      kernel = saved->stdout_text;
    }
    for (int i = 0; i < 50; ++i) {
      const std::string needle =
          std::string(backend) == "nftables"
              ? absl::StrCat("tcp . ", 20000 + i, " comment")
              : absl::StrCat("--dport ", 20000 + i, " -j KUBE-HP-");
      size_t first = kernel.find(needle);
      ASSERT_NE(first, std::string::npos) << needle;
      EXPECT_EQ(kernel.find(needle, first + 1), std::string::npos)
          << needle << " twice";
    }
    EXPECT_THAT(kernel, Not(HasSubstr(absl::StrCat("racer-", 1 - winner))));
    CommandResult removed =
        Ctl({"remove", "--id", absl::StrCat("racer-", winner)});
    EXPECT_EQ(removed.exit_code, 0) << removed.stderr_text;
  }
}

// A damaged record in the state directory is reported and skipped; the other
// pods keep working.
TEST_F(HostportctlKernelTest, ADamagedRecordDoesNotBlockTheOthers) {
  CommandResult add = Ctl({"add", "--pods", "tools/examples/pods.json"});
  ASSERT_EQ(add.exit_code, 0) << add.stderr_text;
  std::ofstream(absl::StrCat(state_dir_, "/pods/DAMAGED.json")) << "{\"pod\"";
  CommandResult list = Ctl({"list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.stderr_text, HasSubstr("DAMAGED.json"));
  EXPECT_THAT(list.stdout_text, HasSubstr("sandbox-web"));
  // remove reads only the records it concerns (through the index), which
  // the damaged one is not; sync reads every record and names it.
  CommandResult removed = Ctl({"remove", "--id", "sandbox-web"});
  EXPECT_EQ(removed.exit_code, 0) << removed.stderr_text;
  CommandResult sync = Ctl({"sync", "--pods", "tools/examples/pods.json"});
  EXPECT_EQ(sync.exit_code, 0) << sync.stderr_text;
  EXPECT_THAT(sync.stderr_text, HasSubstr("DAMAGED.json"));
  EXPECT_THAT(Ctl({"remove", "--pods", "tools/examples/pods.json"}).exit_code,
              0);
}

TEST_F(HostportctlKernelTest, AddListRemove) {
  ASSERT_EQ(RouteLocalnet(), "0\n");
  CommandResult add = Ctl({"add", "--pods", "tools/examples/pods.json"});
  ASSERT_EQ(add.exit_code, 0) << add.stderr_text;
  EXPECT_EQ(RouteLocalnet(), "1\n");
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
  EXPECT_EQ(RouteLocalnet(), "1\n") << "sandbox-admin still needs it";
  remove = Ctl({"remove", "--pods", "tools/examples/pods.json"});
  ASSERT_EQ(remove.exit_code, 0) << remove.stderr_text;
  EXPECT_THAT(Nft(), Not(HasSubstr("comment \"")));
  // Each command was its own process: the last removal put it back.
  EXPECT_EQ(RouteLocalnet(), "0\n");
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

// Polls `done` for up to 5 s.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 100; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

void WritePods(const std::string& path, int port) {
  std::ofstream(path) << "{\"id\": \"runner\", \"namespace\": \"default\", "
                         "\"name\": \"runner\", \"ips\": [\"10.88.0.5\"], "
                         "\"port_mappings\": [{\"host_port\": "
                      << port << ", \"container_port\": 80}]}\n";
}

TEST_F(HostportctlKernelTest, SyncMakesTheKernelHoldExactlyTheFile) {
  ASSERT_EQ(Ctl({"add", "--pods", "tools/examples/pods.json"}).exit_code, 0);
  const std::string pods =
      absl::StrCat(testing::TempDir(), "/sync-", ns_->name());
  WritePods(pods, 7070);
  CommandResult sync = Ctl({"sync", "--pods", pods});
  ASSERT_EQ(sync.exit_code, 0) << sync.stderr_text;
  EXPECT_THAT(sync.stdout_text, HasSubstr("synced 1 pods (nftables)"));
  const std::string nft = Nft();
  EXPECT_THAT(nft, HasSubstr("tcp . 7070 comment"));
  EXPECT_THAT(nft, Not(HasSubstr("tcp . 8080")));
  EXPECT_THAT(nft, Not(HasSubstr("127.0.0.1 . tcp . 9000")));
  nlohmann::json listed =
      nlohmann::json::parse(Ctl({"list", "--output", "json"}).stdout_text);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["id"], "runner");
  // An element of ours that no record names, added by hand: sync trusts the
  // records and leaves it; --read-kernel reads the kernel and removes it.
  ASSERT_TRUE(ns_->Check({"nft",
                          "add element ip crio-hostports hostports { "
                          "udp . 5000 comment \"STALEOWNER000000\" : "
                          "10.88.9.9 . 50 }"})
                  .ok());
  ASSERT_EQ(Ctl({"sync", "--pods", pods}).exit_code, 0);
  EXPECT_THAT(Nft(), HasSubstr("udp . 5000"));
  sync = Ctl({"sync", "--read-kernel", "--pods", pods});
  ASSERT_EQ(sync.exit_code, 0) << sync.stderr_text;
  EXPECT_THAT(Nft(), Not(HasSubstr("udp . 5000")));
  EXPECT_THAT(Nft(), HasSubstr("tcp . 7070 comment"));
  EXPECT_EQ(Ctl({"add", "--read-kernel", "--pods", pods}).exit_code, 2);
}

// A pods file whose pods conflict with each other is refused with the
// conflict before anything changes, whether one of them is held already
// (sync then checks only what differs from the records) or not.
TEST_F(HostportctlKernelTest, SyncRefusesAFileThatConflictsWithItself) {
  const std::string conflict =
      "tools/testdata/conflict.json: mapping 0 (8080/TCP on 0.0.0.0) of pod "
      "default/web2 conflicts on IPv4 with mapping 0 (8080/TCP on "
      "192.0.2.10) of pod default/web (id s1)";
  CommandResult sync = Ctl({"sync", "--pods", "tools/testdata/conflict.json"});
  EXPECT_EQ(sync.exit_code, 1);
  EXPECT_THAT(sync.stderr_text, HasSubstr(conflict));
  EXPECT_THAT(Nft(), Not(HasSubstr("8080")));
  const std::string first =
      absl::StrCat(testing::TempDir(), "/first-", ns_->name());
  std::ofstream(first) << R"({"id": "s1", "namespace": "default", "name": "web",
             "ips": ["10.88.0.5"], "port_mappings": [{"host_port": 8080,
             "container_port": 80, "host_ip": "192.0.2.10"}]})";
  sync = Ctl({"sync", "--pods", first});
  ASSERT_EQ(sync.exit_code, 0) << sync.stderr_text;
  const std::string before = Nft();
  ASSERT_THAT(before, HasSubstr("192.0.2.10 . tcp . 8080"));
  sync = Ctl({"sync", "--pods", "tools/testdata/conflict.json"});
  EXPECT_EQ(sync.exit_code, 1);
  EXPECT_THAT(sync.stderr_text, HasSubstr(conflict));
  EXPECT_EQ(Nft(), before);
  nlohmann::json listed =
      nlohmann::json::parse(Ctl({"list", "--output", "json"}).stdout_text);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["id"], "s1");
}

// 0 when the port can be bound in the calling thread's namespace, else errno.
int TryBindTcp(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  const int rc = bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
  const int err = rc == 0 ? 0 : errno;
  close(fd);
  return err;
}

TEST_F(HostportctlKernelTest, RunHoldsPortsReloadsOnHupAndCleansUpOnTerm) {
  const std::string pods =
      absl::StrCat(testing::TempDir(), "/run-", ns_->name());
  WritePods(pods, 7171);
  std::vector<std::string> argv = {
      "ip",  "netns",  "exec", ns_->name(),   "tools/hostportctl",
      "run", "--pods", pods,   "--state-dir", state_dir_};
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawnp(&pid, "ip", nullptr, nullptr, cargv.data(), environ),
            0);
  auto stop = [&](int sig) {
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = 0;
    return status;
  };
  absl::StatusOr<std::unique_ptr<e2e::Netns::Entered>> entered = ns_->Enter();
  ASSERT_TRUE(entered.ok()) << entered.status();

  EXPECT_TRUE(Eventually([&] { return TryBindTcp(7171) == EADDRINUSE; }))
      << "run did not hold the port";
  EXPECT_THAT(Nft(), HasSubstr("tcp . 7171 comment"));
  // A second run on the same state directory is refused.
  CommandResult second = Ctl({"run", "--pods", pods});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_THAT(second.stderr_text, HasSubstr("another hostportctl run (pid"));

  WritePods(pods, 7272);
  kill(pid, SIGHUP);
  EXPECT_TRUE(Eventually([&] {
    return absl::StrContains(Nft(), "tcp . 7272 comment") &&
           TryBindTcp(7272) == EADDRINUSE;
  }));
  EXPECT_EQ(TryBindTcp(7171), 0);
  EXPECT_THAT(Nft(), Not(HasSubstr("tcp . 7171")));

  const int status = stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_THAT(Nft(), Not(HasSubstr("comment \"")));
  EXPECT_EQ(TryBindTcp(7272), 0);
  EXPECT_THAT(Ctl({"list"}).stdout_text, HasSubstr("no pods held"));
  if (pid != 0) stop(SIGKILL);
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
