#include "hostport/testing/fakes.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

PortKey Key(IPFamily family, Protocol protocol,
            std::optional<IpAddress> address, int port) {
  PortKey key;
  key.family = family;
  key.protocol = protocol;
  key.address = address;
  key.port = port;
  return key;
}

constexpr IPFamily kV4 = IPFamily::kIPv4;
constexpr IPFamily kV6 = IPFamily::kIPv6;
constexpr Protocol kTcp = Protocol::kTCP;
constexpr Protocol kUdp = Protocol::kUDP;

TEST(FakePortHolderTest, ConflictsLikeTheKernel) {
  struct Case {
    std::string name;
    PortKey held;
    PortKey wanted;
    bool conflict;
  };
  const std::optional<IpAddress> any;
  for (const Case& c : std::vector<Case>{
           {"same wildcard", Key(kV4, kTcp, any, 80), Key(kV4, kTcp, any, 80),
            true},
           {"wildcard then address", Key(kV4, kTcp, any, 80),
            Key(kV4, kTcp, Ip("192.0.2.1"), 80), true},
           {"address then wildcard", Key(kV4, kTcp, Ip("192.0.2.1"), 80),
            Key(kV4, kTcp, any, 80), true},
           {"explicit 0.0.0.0 is the wildcard",
            Key(kV4, kTcp, Ip("0.0.0.0"), 80),
            Key(kV4, kTcp, Ip("192.0.2.1"), 80), true},
           {"same address", Key(kV4, kTcp, Ip("192.0.2.1"), 80),
            Key(kV4, kTcp, Ip("192.0.2.1"), 80), true},
           {"other address", Key(kV4, kTcp, Ip("192.0.2.1"), 80),
            Key(kV4, kTcp, Ip("192.0.2.2"), 80), false},
           {"other protocol", Key(kV4, kTcp, any, 80), Key(kV4, kUdp, any, 80),
            false},
           {"other port", Key(kV4, kTcp, any, 80), Key(kV4, kTcp, any, 81),
            false},
           {"other family (V6ONLY)", Key(kV4, kTcp, any, 80),
            Key(kV6, kTcp, any, 80), false},
       }) {
    SCOPED_TRACE(c.name);
    FakePortHolder holder;
    auto first = holder.Hold(c.held);
    ASSERT_TRUE(first.ok()) << first.status();
    auto second = holder.Hold(c.wanted);
    if (c.conflict) {
      EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
      EXPECT_THAT(second.status().message(), HasSubstr(c.wanted.ToString()));
      EXPECT_THAT(holder.Held(), ElementsAre(c.held));
    } else {
      EXPECT_TRUE(second.ok()) << second.status();
      EXPECT_THAT(holder.Held(), ElementsAre(c.held, c.wanted));
    }
  }
}

TEST(FakePortHolderTest, ReleasingFreesThePort) {
  FakePortHolder holder;
  const PortKey key = Key(kV4, kTcp, std::nullopt, 8080);
  auto held = holder.Hold(key);
  ASSERT_TRUE(held.ok());
  EXPECT_THAT(holder.Held(), SizeIs(1));
  held->reset();
  EXPECT_THAT(holder.Held(), IsEmpty());
  EXPECT_TRUE(holder.Hold(key).ok());
  EXPECT_EQ(holder.hold_calls(), 2);
}

TEST(FakePortHolderTest, HeldPortMayOutliveTheHolder) {
  std::unique_ptr<HeldPort> held;
  {
    FakePortHolder holder;
    auto h = holder.Hold(Key(kV4, kTcp, std::nullopt, 80));
    ASSERT_TRUE(h.ok());
    held = *std::move(h);
  }
  // Releasing after the holder is gone must not touch freed memory: .ci/run
  // runs this under ASan (--config=asan), where a release through a dangling
  // holder pointer is a heap-use-after-free.
  held.reset();
  // A holder that lives sees the release.
  FakePortHolder holder;
  held = *holder.Hold(Key(kV4, kTcp, std::nullopt, 80));
  ASSERT_THAT(holder.Held(), SizeIs(1));
  held.reset();
  EXPECT_THAT(holder.Held(), IsEmpty());
}

TEST(FakePortHolderTest, LocalAddresses) {
  FakePortHolder holder;
  EXPECT_TRUE(holder.Hold(Key(kV4, kTcp, Ip("203.0.113.9"), 1)).ok());
  holder.SetLocalAddresses({Ip("192.0.2.1"), Ip("fd00::1")});
  EXPECT_EQ(holder.Hold(Key(kV4, kTcp, Ip("203.0.113.9"), 2)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(holder.Hold(Key(kV4, kTcp, Ip("192.0.2.1"), 2)).ok());
  EXPECT_TRUE(holder.Hold(Key(kV6, kTcp, Ip("fd00::1"), 2)).ok());
  EXPECT_TRUE(holder.Hold(Key(kV4, kTcp, std::nullopt, 3)).ok());
  EXPECT_TRUE(holder.Hold(Key(kV6, kTcp, Ip("::"), 3)).ok());
}

TEST(FakePortHolderTest, UnsupportedInjectedAndInvalid) {
  FakePortHolder holder;
  holder.SetUnsupported(Protocol::kSCTP);
  EXPECT_EQ(holder.Hold(Key(kV4, Protocol::kSCTP, std::nullopt, 3868))
                .status()
                .code(),
            absl::StatusCode::kUnimplemented);
  holder.FailNext(absl::PermissionDeniedError("no"));
  EXPECT_EQ(holder.Hold(Key(kV4, kTcp, std::nullopt, 80)).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto held = holder.Hold(Key(kV4, kTcp, std::nullopt, 80));
  EXPECT_TRUE(held.ok());
  EXPECT_EQ(holder.Hold(Key(kV4, kTcp, Ip("fd00::1"), 81)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(holder.Hold(Key(kV4, kTcp, std::nullopt, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(holder.hold_calls(), 5);
  EXPECT_THAT(holder.Held(), SizeIs(1));
}

TEST(FakeConntrackTest, DeletesMatchingUdpEntries) {
  FakeConntrack ct;
  ct.Add({kV4, kUdp, Ip("192.0.2.1"), 53});
  ct.Add({kV4, kUdp, Ip("192.0.2.2"), 53});
  ct.Add({kV4, kTcp, Ip("192.0.2.1"), 53});
  ct.Add({kV6, kUdp, Ip("fd00::1"), 53});
  ct.Add({kV4, kUdp, Ip("192.0.2.1"), 54});
  ct.Add({kV4, kUdp, Ip("192.0.2.3"), 55});
  absl::StatusOr<int> n = ct.DeleteUdp(kV4, {{Ip("192.0.2.1"), 53}});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_THAT(ct.Entries(), SizeIs(5));
  // Several destinations in one call: 192.0.2.2:53 (any address) and
  // 192.0.2.3:55; the TCP entry and 192.0.2.1:54 stay.
  n = ct.DeleteUdp(kV4, {{std::nullopt, 53}, {Ip("192.0.2.3"), 55}});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  EXPECT_THAT(ct.Entries(), SizeIs(3));
  ct.FailNext(absl::UnavailableError("netlink"));
  EXPECT_EQ(ct.DeleteUdp(kV6, {{std::nullopt, 53}}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_THAT(ct.Entries(), SizeIs(3));
  n = ct.DeleteUdp(kV6, {{std::nullopt, 53}});
  EXPECT_EQ(*n, 1);
  ASSERT_THAT(ct.calls(), SizeIs(4));
  EXPECT_EQ(ct.calls()[0].destinations[0].address, Ip("192.0.2.1"));
  EXPECT_THAT(ct.calls()[1].destinations, SizeIs(2));
  EXPECT_EQ(ct.calls()[3].family, kV6);
  EXPECT_EQ(ct.calls()[3].destinations[0].port, 53);
}

TEST(FakeSysctlTest, ReadsAndWritesExistingNamesOnly) {
  FakeSysctl sysctl;
  const std::string name = RouteLocalnetSysctl("hp-br0");
  EXPECT_EQ(sysctl.Read(name).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(sysctl.Write(name, "1").code(), absl::StatusCode::kNotFound);
  sysctl.Set(name, "0");
  EXPECT_EQ(*sysctl.Read(name), "0");
  EXPECT_TRUE(sysctl.Write(name, "1\n").ok());
  EXPECT_EQ(*sysctl.Read(name), "1");
  sysctl.FailNextWrite(absl::PermissionDeniedError("read-only /proc"));
  EXPECT_EQ(sysctl.Write(name, "0").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(*sysctl.Read(name), "1");
  sysctl.Remove(name);
  EXPECT_EQ(sysctl.Read(name).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(sysctl.writes(), SizeIs(3));
  EXPECT_EQ(sysctl.writes()[1].second, "1\n");
}

}  // namespace
}  // namespace hostport::testing
