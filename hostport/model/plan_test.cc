#include "hostport/model/plan.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostport/model/naming.h"

namespace hostport {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

PortMapping Tcp(int host_port, int container_port, std::string host_ip = "") {
  return PortMapping{host_port, container_port, Protocol::kTCP,
                     std::move(host_ip)};
}

PodPortMapping Pod(std::vector<std::string> ips,
                   std::vector<PortMapping> mappings) {
  PodPortMapping pod;
  pod.namespace_ = "default";
  pod.name = "web";
  pod.ips = std::move(ips);
  pod.port_mappings = std::move(mappings);
  return pod;
}

std::string Error(const PodPortMapping& pod, std::string id = "sandbox-1") {
  absl::StatusOr<PodPlan> plan = PlanPod(id, pod);
  EXPECT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(plan.status().message());
}

TEST(PlanTest, EmptyHostIpMapsBothFamiliesToFirstPodIpOfEach) {
  absl::StatusOr<PodPlan> plan = PlanPod(
      "sandbox-1", Pod({"10.88.0.5", "fd00:88::5", "10.88.0.6", "fd00:88::6"},
                       {Tcp(8080, 80)}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_THAT(plan->ipv4.mappings, SizeIs(1));
  ASSERT_THAT(plan->ipv6.mappings, SizeIs(1));
  EXPECT_EQ(plan->ipv4.mappings[0].pod_ip.ToString(), "10.88.0.5");
  EXPECT_EQ(plan->ipv6.mappings[0].pod_ip.ToString(), "fd00:88::5");
  EXPECT_FALSE(plan->ipv4.mappings[0].host_ip.has_value());
  EXPECT_EQ(plan->ipv4.pod_ips.size(), 2u);
  EXPECT_EQ(plan->ipv6.pod_ips[1].ToString(), "fd00:88::6");
  EXPECT_EQ(plan->ipv4.mappings[0].comment, "default/web hostport 8080");
  EXPECT_EQ(plan->ipv4.mappings[0].hash,
            MappingHash("sandbox-1", 8080, Protocol::kTCP, ""));
  EXPECT_THAT(plan->skipped, IsEmpty());
}

TEST(PlanTest, FamilyWildcardsAndSpecificAddressesMapOnlyTheirFamily) {
  absl::StatusOr<PodPlan> plan =
      PlanPod("s", Pod({"10.88.0.5", "fd00:88::5"},
                       {Tcp(1, 1, "0.0.0.0"), Tcp(2, 2, "::"),
                        Tcp(3, 3, "192.0.2.10"), Tcp(4, 4, "2001:DB8::10")}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_THAT(plan->ipv4.mappings, SizeIs(2));
  ASSERT_THAT(plan->ipv6.mappings, SizeIs(2));
  EXPECT_EQ(plan->ipv4.mappings[0].host_port, 1);
  EXPECT_FALSE(plan->ipv4.mappings[0].host_ip.has_value());
  EXPECT_EQ(plan->ipv4.mappings[1].host_ip->ToString(), "192.0.2.10");
  EXPECT_EQ(plan->ipv6.mappings[0].host_port, 2);
  EXPECT_FALSE(plan->ipv6.mappings[0].host_ip.has_value());
  EXPECT_EQ(plan->ipv6.mappings[1].host_ip->ToString(), "2001:db8::10");
  // The chain hash uses the canonical HostIP text.
  EXPECT_EQ(plan->ipv6.mappings[1].host_ip_text, "2001:db8::10");
  EXPECT_EQ(plan->ipv6.mappings[1].hash,
            MappingHash("s", 4, Protocol::kTCP, "2001:db8::10"));
}

TEST(PlanTest, MappingWithoutPodIpOfItsFamilyIsSkippedAndReported) {
  absl::StatusOr<PodPlan> plan =
      PlanPod("s", Pod({"10.88.0.5"}, {Tcp(8080, 80), Tcp(443, 443, "::")}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->ipv4.mappings, SizeIs(1));
  EXPECT_THAT(plan->ipv6.mappings, IsEmpty());
  ASSERT_THAT(plan->skipped, SizeIs(2));
  EXPECT_EQ(plan->skipped[0].index, 0);
  EXPECT_EQ(
      plan->skipped[1].reason,
      "mapping 1 (443/TCP on ::) of pod default/web maps nothing on IPv6: "
      "the pod has no IPv6 address");
}

TEST(PlanTest, NoIpsIsFineWithoutMappingsOrInTheHostNetwork) {
  EXPECT_TRUE(PlanPod("a", Pod({}, {})).ok());
  PodPortMapping host = Pod({}, {Tcp(8080, 80)});
  host.host_network = true;
  EXPECT_TRUE(PlanPod("b", host).ok());
}

TEST(PlanTest, HostNetworkPodsPlanNothing) {
  PodPortMapping pod = Pod({"10.88.0.5"}, {Tcp(8080, 80)});
  pod.host_network = true;
  absl::StatusOr<PodPlan> plan = PlanPod("s", pod);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->empty());
  EXPECT_TRUE(plan->host_network);
}

TEST(PlanTest, OwnerIsIdWithoutNamespaceAndName) {
  PodPortMapping pod = Pod({"10.88.0.5"}, {Tcp(8080, 80)});
  pod.namespace_.clear();
  pod.name.clear();
  absl::StatusOr<PodPlan> plan = PlanPod("sandbox-9", pod);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->ipv4.mappings[0].comment, "sandbox-9 hostport 8080");
  EXPECT_EQ(plan->owner_comment, OwnerComment("sandbox-9"));
}

TEST(PlanTest, LongOwnersAreCutToFitARuleComment) {
  PodPortMapping pod = Pod({"10.88.0.5"}, {Tcp(65535, 80)});
  pod.name = std::string(300, 'n');
  absl::StatusOr<PodPlan> plan = PlanPod("s", pod);
  ASSERT_TRUE(plan.ok());
  const std::string& comment = plan->ipv4.mappings[0].comment;
  EXPECT_EQ(comment.size(), 255u);
  EXPECT_THAT(comment, testing::EndsWith("nnn hostport 65535"));
}

TEST(PlanTest, PortsFromOneTo65535AreValidAndNothingBeyond) {
  for (int port : {1, 65535}) {
    EXPECT_TRUE(PlanPod("s", Pod({"10.88.0.5"}, {Tcp(port, 80)})).ok()) << port;
    EXPECT_TRUE(PlanPod("s", Pod({"10.88.0.5"}, {Tcp(80, port)})).ok()) << port;
  }
  for (int port : {-1, 0, 65536, 70000}) {
    EXPECT_EQ(Error(Pod({"10.88.0.5"}, {Tcp(port, 80)})),
              absl::StrCat("host_port ", port,
                           " out of range 1..65535 in mapping 0 of pod "
                           "default/web"));
    EXPECT_EQ(Error(Pod({"10.88.0.5"}, {Tcp(80, port)})),
              absl::StrCat("container_port ", port,
                           " out of range 1..65535 in mapping 0 of pod "
                           "default/web"));
  }
}

TEST(PlanTest, ValidationMessagesNameTheValueAndTheValidRange) {
  EXPECT_EQ(Error(Pod({"10.88.0.5"}, {Tcp(8080, 80), Tcp(70000, 80)})),
            "host_port 70000 out of range 1..65535 in mapping 1 of pod "
            "default/web");
  EXPECT_EQ(Error(Pod({"10.88.0.5"}, {Tcp(80, 0)})),
            "container_port 0 out of range 1..65535 in mapping 0 of pod "
            "default/web");
  EXPECT_THAT(
      Error(Pod({"10.88.0.5"}, {Tcp(80, 80, "10.0.0")})),
      HasSubstr("host_ip in mapping 0 of pod default/web: \"10.0.0\" is "
                "not an IP address"));
  EXPECT_THAT(Error(Pod({"10.88.0.500"}, {})),
              HasSubstr("pod default/web ip 0: \"10.88.0.500\" is not an IP"));
  EXPECT_THAT(Error(Pod({"10.88.0.5"}, {}), ""), HasSubstr("has an empty id"));
  EXPECT_THAT(Error(Pod({"10.88.0.5", "10.88.0.5"}, {})),
              HasSubstr("lists ip 10.88.0.5 twice"));
  EXPECT_THAT(Error(Pod({"127.0.0.1"}, {})),
              HasSubstr("\"127.0.0.1\" cannot be a pod address"));
  for (const char* not_unicast :
       {"255.255.255.255", "240.0.0.7", "0.1.2.3", "224.0.0.5", "ff02::1"}) {
    EXPECT_THAT(
        Error(Pod({not_unicast}, {Tcp(8080, 80)})),
        HasSubstr(absl::StrCat("ip 0 \"", not_unicast,
                               "\" cannot be a pod address: want a unicast")));
  }
  EXPECT_EQ(Error(Pod({}, {Tcp(8080, 80), Tcp(8081, 81)})),
            "pod default/web has 2 port mapping(s) but no ips: give the pod's "
            "addresses (or host_network for a pod in the host's namespace)");
  PortMapping bad_protocol = Tcp(80, 80);
  bad_protocol.protocol = static_cast<Protocol>(7);
  EXPECT_THAT(Error(Pod({"10.88.0.5"}, {bad_protocol})),
              HasSubstr("protocol 7 in mapping 0"));
}

TEST(PlanTest, Ipv6LoopbackHostIpIsRejectedWithTheReason) {
  EXPECT_THAT(Error(Pod({"fd00::5"}, {Tcp(80, 80, "::1")})),
              HasSubstr("host_ip ::1 in mapping 0 of pod default/web cannot be "
                        "mapped: IPv6 has no route_localnet"));
  EXPECT_THAT(Error(Pod({"10.0.0.5"}, {Tcp(80, 80, "::ffff:127.0.0.1")})),
              HasSubstr("IPv4-mapped"));
  EXPECT_THAT(Error(Pod({"fd00::5"}, {Tcp(80, 80, "fe80::1")})),
              HasSubstr("link-local"));
  EXPECT_THAT(Error(Pod({"10.0.0.5"}, {Tcp(80, 80, "239.1.1.1")})),
              HasSubstr("multicast"));
}

TEST(PlanTest, DuplicateAndOverlappingMappingsInOnePodAreRejected) {
  EXPECT_EQ(
      Error(Pod({"10.88.0.5"},
                {Tcp(80, 80, "10.0.0.1"), Tcp(80, 81, "10.0.0.1")})),
      "mapping 1 (80/TCP on 10.0.0.1) of pod default/web overlaps mapping "
      "0 (80/TCP on 10.0.0.1): a (protocol, host port) may be claimed "
      "once per address");
  // The wildcard overlaps a specific address of its family, even without an IP
  // of that family: validity does not depend on the pod's IPs.
  EXPECT_THAT(
      Error(Pod({"10.88.0.5"}, {Tcp(80, 80, "::"), Tcp(80, 80, "fd00::1")})),
      HasSubstr("overlaps mapping 0 (80/TCP on ::)"));
  EXPECT_THAT(Error(Pod({"10.88.0.5"}, {Tcp(80, 80), Tcp(80, 80, "0.0.0.0")})),
              HasSubstr("overlaps mapping 0 (80/TCP on all addresses)"));
}

TEST(PlanTest, SamePortOnOtherFamilyOrProtocolIsFine) {
  PortMapping udp = Tcp(80, 80);
  udp.protocol = Protocol::kUDP;
  absl::StatusOr<PodPlan> plan =
      PlanPod("s", Pod({"10.88.0.5", "fd00::5"},
                       {Tcp(80, 80, "0.0.0.0"), Tcp(80, 80, "::"), udp,
                        Tcp(81, 80, "10.0.0.1"), Tcp(81, 80, "10.0.0.2")}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->ipv4.mappings, SizeIs(4));
  EXPECT_THAT(plan->ipv6.mappings, SizeIs(2));
}

TEST(PlanTest, CommentBreakingCharactersAreRejected) {
  PodPortMapping pod = Pod({"10.88.0.5"}, {Tcp(80, 80)});
  pod.name = "we\"b";
  EXPECT_THAT(Error(pod), HasSubstr("name has character 0x22 at offset 2"));
  pod.name = "web";
  pod.namespace_ = "a\\b";
  EXPECT_THAT(Error(pod), HasSubstr("namespace has character 0x5c"));
  pod.namespace_ = "default";
  EXPECT_THAT(Error(pod, "id\nnext"), HasSubstr("id has character 0x0a"));
}

TEST(PlanNatInterfaceTest, LoAndEmptyMeanNoneOthersAreValidated) {
  PodPortMapping pod = Pod({"10.88.0.5"}, {Tcp(80, 80)});
  EXPECT_EQ(PlanPod("s", pod, "hp-br0")->nat_interface, "hp-br0");
  EXPECT_EQ(PlanPod("s", pod, "lo")->nat_interface, "");
  EXPECT_EQ(PlanPod("s", pod, "")->nat_interface, "");
  for (const char* bad :
       {"a/b", "sixteen-chars-xx", "has space", ".", "x\"y"}) {
    absl::StatusOr<PodPlan> plan = PlanPod("s", pod, bad);
    ASSERT_FALSE(plan.ok()) << bad;
    EXPECT_THAT(std::string(plan.status().message()),
                HasSubstr("nat interface of pod default/web: interface name"));
  }
}

}  // namespace
}  // namespace hostport
