// `hostportctl trace` against what the kernel did: for every host fixture of
// e2e/hosts (Docker, kube-proxy, netavark, firewalld and libvirt rules) and
// every probe in it, the outcomes trace gives from the fixture's files must
// be the ones the kernel showed (recorded in the fixture's golden file by
// //e2e:golden_hosts_test). A refusal counts as a disagreement.
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "e2e/hosts/fixture.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/trace_command.h"

namespace {

using hostport::e2e::FixturePodOf;
using hostport::e2e::FixturePodPort;
using hostport::e2e::HostFixture;
using hostport::e2e::HostProbe;
using hostport::e2e::OutcomeText;

std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".", "/",
                      workspace != nullptr ? workspace : "hostport", "/", path);
}

std::string Bracketed(const std::string& address) {
  return address.find(':') != std::string::npos
             ? absl::StrCat("[", address, "]")
             : address;
}

// What one trace outcome means for the fixture topology's echo servers.
std::string Meaning(const nlohmann::json& o) {
  if (o.value("verdict", "") != "delivered") {
    return std::string(hostport::e2e::kNoPodAnswers);
  }
  const std::string to = o.value("to", "");
  const size_t colon = to.rfind(':');
  std::string address = to.substr(0, colon);
  if (!address.empty() && address.front() == '[') {
    address = address.substr(1, address.size() - 2);
  }
  const int port = std::atoi(to.substr(colon + 1).c_str());
  const std::string pod = FixturePodOf(address);
  if (pod.empty() || !FixturePodPort(port)) {
    return std::string(hostport::e2e::kNoPodAnswers);
  }
  return OutcomeText(pod, o.value("source_seen", ""));
}

struct Predicted {
  std::set<std::string> known;    // outcomes with a probability
  std::set<std::string> unknown;  // outcomes whose probability is unknown
  std::string text;               // the whole JSON, for messages
};

// Runs trace for `p`; an error message when it refuses.
absl::StatusOr<Predicted> Trace(const HostFixture& f, const HostProbe& p) {
  std::vector<std::string> args = {
      "--ruleset", absl::StrJoin(f.ruleset_files, ","),
      "--host",    f.host_json,
      "--from",    p.TraceFrom(),
      "--proto",   p.proto,
      "--dst",     absl::StrCat(Bracketed(p.dst), ":", p.port),
      "--output",  "json"};
  if (!f.ipsets.empty()) {
    args.push_back("--ipsets");
    args.push_back(f.ipsets);
  }
  if (!p.Source().empty()) {
    args.push_back("--src");
    args.push_back(p.Source());
  }
  std::ostringstream out, err;
  if (int rc = RunTraceCommand(args, out, err); rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("trace exited ", rc, ": ", err.str()));
  }
  nlohmann::json doc = nlohmann::json::parse(out.str(), nullptr, false);
  if (doc.is_discarded()) return absl::InternalError("trace printed no JSON");
  Predicted result;
  result.text = doc.dump(1);
  if (!doc.contains("outcomes")) {
    result.known.insert(Meaning(doc));
    return result;
  }
  for (const nlohmann::json& o : doc["outcomes"]) {
    const bool known =
        o.contains("probability") && o["probability"].is_number();
    if (known && o["probability"].get<double>() <= 0) continue;
    (known ? result.known : result.unknown).insert(Meaning(o));
  }
  return result;
}

TEST(TraceHostsTest, TraceAgreesWithTheKernelOnEveryFixture) {
  absl::StatusOr<std::vector<HostFixture>> fixtures =
      hostport::e2e::ReadHostFixtures(Runfile("e2e/hosts"));
  ASSERT_TRUE(fixtures.ok()) << fixtures.status();
  ASSERT_GE(fixtures->size(), 11u);
  int checked = 0;
  for (const HostFixture& f : *fixtures) {
    for (const HostProbe& p : f.probes) {
      const std::string where = absl::StrCat(f.name, ": ", p.line);
      auto golden = f.golden.find(p.line);
      ASSERT_NE(golden, f.golden.end()) << where << ": no golden line";
      const std::set<std::string>& kernel = golden->second;
      absl::StatusOr<Predicted> trace = Trace(f, p);
      if (!trace.ok()) {
        ADD_FAILURE() << where << "\n  kernel: " << absl::StrJoin(kernel, " | ")
                      << "\n  trace refuses: " << trace.status().message();
        continue;
      }
      ++checked;
      std::set<std::string> possible = trace->known;
      possible.insert(trace->unknown.begin(), trace->unknown.end());
      // Every outcome the kernel showed must be one trace gives, and every
      // outcome trace gives a probability for must have shown up.
      bool agree = true;
      for (const std::string& k : kernel) agree &= possible.count(k) > 0;
      for (const std::string& t : trace->known) agree &= kernel.count(t) > 0;
      EXPECT_TRUE(agree) << where
                         << "\n  kernel: " << absl::StrJoin(kernel, " | ")
                         << "\n  trace:  " << absl::StrJoin(possible, " | ")
                         << "\n  trace output: " << trace->text;
    }
  }
  EXPECT_GE(checked, 50);
}

}  // namespace
