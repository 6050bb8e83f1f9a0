#include "hostport/model/conflict.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport {
namespace {

using ::testing::HasSubstr;

PodPlan Plan(const std::string& id, std::vector<std::string> ips,
             std::vector<PortMapping> mappings) {
  PodPortMapping pod;
  pod.namespace_ = "ns";
  pod.name = id;
  pod.ips = std::move(ips);
  pod.port_mappings = std::move(mappings);
  absl::StatusOr<PodPlan> plan = PlanPod(id, pod);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

PortMapping M(int port, std::string host_ip,
              Protocol protocol = Protocol::kTCP) {
  return PortMapping{port, 80, protocol, std::move(host_ip)};
}

const std::vector<std::string> kDual = {"10.88.0.5", "fd00::5"};
const std::vector<std::string> kDual2 = {"10.88.0.6", "fd00::6"};

TEST(PortClaimsTest, TheSchedulersRule) {
  const struct {
    const char* name;
    PortMapping first;
    PortMapping second;
    bool conflict;
  } cases[] = {
      {"same address", M(80, "10.0.0.1"), M(80, "10.0.0.1"), true},
      {"other address", M(80, "10.0.0.1"), M(80, "10.0.0.2"), false},
      {"wildcard vs address", M(80, "0.0.0.0"), M(80, "10.0.0.1"), true},
      {"address vs wildcard", M(80, "10.0.0.1"), M(80, ""), true},
      {"both-families vs v6 address", M(80, ""), M(80, "fd00::1"), true},
      {"v4 wildcard vs v6 wildcard", M(80, "0.0.0.0"), M(80, "::"), false},
      {"v4 wildcard vs v6 address", M(80, "0.0.0.0"), M(80, "fd00::1"), false},
      {"other protocol", M(80, ""), M(80, "", Protocol::kUDP), false},
      {"other port", M(80, ""), M(81, ""), false},
      {"loopback vs wildcard", M(80, "127.0.0.1"), M(80, "0.0.0.0"), true},
  };
  for (const auto& c : cases) {
    PortClaims claims;
    PodPlan a = Plan("a", kDual, {c.first});
    ASSERT_TRUE(claims.Check(a).ok()) << c.name;
    claims.Claim(a);
    absl::Status s = claims.Check(Plan("b", kDual2, {c.second}));
    EXPECT_EQ(!s.ok(), c.conflict) << c.name << ": " << s;
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
    }
  }
}

TEST(PortClaimsTest, ConflictMessageNamesBothPods) {
  PortClaims claims;
  claims.Claim(Plan("a", kDual, {M(8080, "10.0.0.1")}));
  absl::Status s = claims.Check(Plan("b", kDual2, {M(9, ""), M(8080, "")}));
  EXPECT_EQ(
      s.message(),
      "mapping 1 (8080/TCP on all addresses) of pod ns/b conflicts on IPv4 "
      "with mapping 0 (8080/TCP on 10.0.0.1) of pod ns/a (id a): a port is "
      "held once per address, and a wildcard holds every address of its "
      "family");
}

TEST(PortClaimsTest, SkippedFamiliesHoldNothing) {
  PortClaims claims;
  claims.Claim(Plan("a", {"10.88.0.5"}, {M(80, "")}));  // IPv4 only.
  EXPECT_TRUE(claims.Check(Plan("b", {"fd00::6"}, {M(80, "")})).ok());
}

TEST(PortClaimsTest, SameIdReplacesAndReleaseFrees) {
  PortClaims claims;
  claims.Claim(Plan("a", kDual, {M(80, "")}));
  EXPECT_TRUE(claims.Check(Plan("a", kDual, {M(80, "10.0.0.1")})).ok());
  claims.Claim(Plan("a", kDual, {M(81, "")}));
  EXPECT_TRUE(claims.Check(Plan("b", kDual2, {M(80, "")})).ok());
  EXPECT_FALSE(claims.Check(Plan("b", kDual2, {M(81, "")})).ok());
  EXPECT_TRUE(claims.Holds("a"));
  claims.Release("a");
  EXPECT_FALSE(claims.Holds("a"));
  EXPECT_TRUE(claims.Check(Plan("b", kDual2, {M(81, "")})).ok());
  claims.Release("unknown");
}

}  // namespace
}  // namespace hostport
