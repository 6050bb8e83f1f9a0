// The host fixtures of e2e/hosts against the real kernel: each fixture's rules
// are loaded into a fresh topology, every probe is sent (tries=N times, each a
// new connection) and what happened — which pod answered and what source it
// saw — must be what the fixture's golden file recorded. This keeps the
// goldens, which //tools:trace_hosts_test holds `hostportctl trace` to, true
// on this kernel.
//
// HOSTPORT_RECORD_GOLDEN=DIR writes DIR/<fixture>.golden instead of comparing
// (copy it to e2e/hosts/<fixture>/golden after reading it).
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "e2e/hosts/fixture.h"
#include "e2e/hosts/loader.h"
#include "e2e/netns.h"
#include "e2e/topology.h"
#include "e2e/traffic.h"
#include "gtest/gtest.h"

namespace hostport::e2e {
namespace {

constexpr absl::Duration kFirst = absl::Milliseconds(300);
constexpr absl::Duration kRetry = absl::Milliseconds(1500);

// One connection: the answering pod and the source it saw, or no answer.
std::string Send(Topology& t, const HostProbe& p, bool first) {
  Netns& from = p.from == "external" ? t.client()
                : p.from == "local"  ? t.host()
                                     : t.pod(p.PodIndex());
  const Protocol proto = p.proto == "udp" ? Protocol::kUDP : Protocol::kTCP;
  absl::StatusOr<std::string> reply =
      Exchange(from, proto, p.dst, p.port, kFirst, 0, p.Source());
  if (!reply.ok() && first) {
    // A slow first answer (ARP, neighbour discovery) is retried once.
    reply = Exchange(from, proto, p.dst, p.port, kRetry, 0, p.Source());
  }
  if (!reply.ok()) return std::string(kNoPodAnswers);
  std::vector<std::string> words = absl::StrSplit(*reply, ' ');
  if (words.size() < 2) return absl::StrCat("garbled reply \"", *reply, "\"");
  return OutcomeText(words[0], words[1]);
}

class GoldenHostsTest : public ::testing::Test {
 protected:
  void SetUp() override { HOSTPORT_REQUIRE_KERNEL(); }
};

TEST_F(GoldenHostsTest, TheKernelDoesWhatEachFixtureRecorded) {
  absl::StatusOr<std::vector<HostFixture>> fixtures =
      ReadHostFixtures(RunfilePath("e2e/hosts"));
  ASSERT_TRUE(fixtures.ok()) << fixtures.status();
  ASSERT_GE(fixtures->size(), 11u);
  const char* record = std::getenv("HOSTPORT_RECORD_GOLDEN");
  int packets = 0;
  for (const HostFixture& f : *fixtures) {
    SCOPED_TRACE(f.name);
    TopologyOptions options;
    options.pods = {PodSpec{2, true, false}, PodSpec{3, true, false},
                    PodSpec{4, true, false}};
    absl::StatusOr<std::unique_ptr<Topology>> made = Topology::Create(options);
    ASSERT_TRUE(made.ok()) << made.status();
    Topology& t = **made;
    std::vector<std::unique_ptr<EchoServer>> servers;
    for (int i = 0; i < 3; ++i) {
      for (int port : {8000, 8001}) {
        absl::StatusOr<std::unique_ptr<EchoServer>> s =
            EchoServer::Start(t.pod(i), absl::StrCat("pod", i), port);
        ASSERT_TRUE(s.ok()) << s.status();
        servers.push_back(std::move(*s));
      }
    }
    for (int port : {8000, 8001}) {
      absl::StatusOr<std::unique_ptr<EchoServer>> s =
          EchoServer::Start(t.client(), "client", port);
      ASSERT_TRUE(s.ok()) << s.status();
      servers.push_back(std::move(*s));
    }
    absl::Status loaded = LoadHostFixture(t.host(), f);
    ASSERT_TRUE(loaded.ok()) << loaded;
    ASSERT_TRUE(t.host().Check({"conntrack", "-F"}).ok());
    std::map<std::string, std::set<std::string>> seen;
    for (const HostProbe& p : f.probes) {
      for (int i = 0; i < p.tries; ++i) {
        seen[p.line].insert(Send(t, p, i == 0));
        ++packets;
      }
      if (record != nullptr) continue;
      auto want = f.golden.find(p.line);
      ASSERT_NE(want, f.golden.end())
          << "no golden line for \"" << p.line << "\": record with "
          << "HOSTPORT_RECORD_GOLDEN=DIR";
      EXPECT_EQ(absl::StrJoin(seen[p.line], " | "),
                absl::StrJoin(want->second, " | "))
          << p.line;
    }
    if (record != nullptr) {
      const std::string out = absl::StrCat(record, "/", f.name, ".golden");
      std::ofstream(out) << FormatGolden(f.probes, seen);
      std::cout << "recorded " << out << "\n";
    }
  }
  std::cout << "golden hosts: " << fixtures->size() << " fixtures, " << packets
            << " packets\n";
}

}  // namespace
}  // namespace hostport::e2e
