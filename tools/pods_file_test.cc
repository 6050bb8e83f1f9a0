#include "tools/pods_file.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport {
namespace {

using ::testing::HasSubstr;

std::string Error(absl::string_view json) {
  absl::StatusOr<std::vector<PodRequest>> pods = ParsePodsJson(json);
  EXPECT_FALSE(pods.ok()) << json;
  return std::string(pods.status().message());
}

TEST(PodsFileTest, ParsesOnePodAndArrays) {
  absl::StatusOr<std::vector<PodRequest>> pods = ParsePodsJson(R"({
    "id": "sandbox-1", "namespace": "default", "name": "web",
    "ips": ["10.88.0.5", "fd00:88::5"], "host_network": false,
    "nat_interface": "hp-br0",
    "port_mappings": [{"host_port": 8080, "container_port": 80,
                       "protocol": "udp", "host_ip": "10.0.0.1"},
                      {"host_port": 9, "container_port": 9}]})");
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ(pods->size(), 1u);
  const PodRequest& e = (*pods)[0];
  EXPECT_EQ(e.id, "sandbox-1");
  EXPECT_EQ(e.nat_interface, "hp-br0");
  EXPECT_EQ(e.pod.namespace_, "default");
  EXPECT_EQ(e.pod.ips.size(), 2u);
  ASSERT_EQ(e.pod.port_mappings.size(), 2u);
  EXPECT_EQ(e.pod.port_mappings[0].protocol, Protocol::kUDP);
  EXPECT_EQ(e.pod.port_mappings[0].host_ip, "10.0.0.1");
  EXPECT_EQ(e.pod.port_mappings[1].protocol, Protocol::kTCP);  // Default.

  pods = ParsePodsJson(R"([{"id": "a"}, {"id": "b", "host_network": true}])");
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ(pods->size(), 2u);
  EXPECT_TRUE((*pods)[1].pod.host_network);
}

TEST(PodsFileTest, ErrorsNameThePodTheFieldAndTheValue) {
  EXPECT_THAT(Error("{"),
              HasSubstr("not valid JSON: parse error at line 1, column 2"));
  EXPECT_THAT(Error("42"), HasSubstr("want a pod object or an array of pods"));
  // Found by //fuzz:pods_file_fuzzer: a number too large for a double threw an
  // exception the parser did not catch.
  EXPECT_THAT(Error(R"({"id": "a", "port_mappings": [{"host_port": 1E400}]})"),
              HasSubstr("not valid JSON: number overflow"));

  EXPECT_THAT(Error(R"({"name": "x"})"), HasSubstr("pod 0 has no \"id\""));
  EXPECT_EQ(Error(R"({"id": "a", "hostPort": 1})"),
            "pod 0 (id \"a\") has unknown field \"hostPort\": valid fields are "
            "id, namespace, name, ips, host_network, nat_interface, "
            "port_mappings");
  EXPECT_EQ(Error(R"({"id": "a", "port_mappings": [{"host_port": "80",
                      "container_port": 80}]})"),
            "pod 0 (id \"a\") port_mappings[0] field \"host_port\": want an "
            "integer 1..65535, got \"80\"");
  EXPECT_THAT(Error(R"({"id": "a", "port_mappings": [{"host_port": 80.5,
                        "container_port": 80}]})"),
              HasSubstr("got 80.5"));
  EXPECT_THAT(Error(R"({"id": "a", "port_mappings": [{"host_port": 99999999999,
                        "container_port": 80}]})"),
              HasSubstr("want an integer 1..65535, got 99999999999"));
  EXPECT_THAT(
      Error(R"({"id": "a", "port_mappings": [{"container_port": 80}]})"),
      HasSubstr("is missing field \"host_port\""));
  EXPECT_THAT(Error(R"({"id": "a", "port_mappings": [{"host_port": 1,
                        "container_port": 1, "protocol": "icmp"}]})"),
              HasSubstr("field \"protocol\": unknown protocol \"icmp\""));
  EXPECT_THAT(Error(R"({"id": "a", "ips": "10.0.0.1"})"),
              HasSubstr("field \"ips\": want an array of address strings"));
  EXPECT_THAT(Error(R"({"id": "a", "ips": [1]})"), HasSubstr("\"ips[0]\""));
  EXPECT_THAT(Error(R"({"id": "a", "host_network": "yes"})"),
              HasSubstr("\"host_network\": want true or false, got \"yes\""));
  EXPECT_THAT(Error(R"([{"id": "a"}, {"id": "a"}])"),
              HasSubstr("pod 1 repeats id \"a\""));
  EXPECT_THAT(Error(R"([{"id": 7}])"),
              HasSubstr("\"id\": want a string, got 7"));
}

std::string Describe(const std::vector<PodRequest>& pods) {
  std::string out;
  for (const PodRequest& e : pods) {
    absl::StrAppend(&out, "id=", e.id, " ns=", e.pod.namespace_,
                    " name=", e.pod.name, " nat=", e.nat_interface,
                    " host_network=", e.pod.host_network ? "true" : "false",
                    " ips=", absl::StrJoin(e.pod.ips, ","), "\n");
    for (const PortMapping& m : e.pod.port_mappings) {
      absl::StrAppend(&out, "  ", m.host_port, "->", m.container_port, "/",
                      ProtocolName(m.protocol), " on [", m.host_ip, "]\n");
    }
  }
  return out;
}

// Files in the plain shape are read without a JSON document; with a null
// field (which needs one) the same pods come out. What either way refuses
// is covered above.
TEST(PodsFileTest, PlainFilesParseAsTheirDocumentsDo) {
  const struct {
    const char* plain;
    const char* with_null;  // The same pods, one field null.
  } cases[] = {
      {R"({"id": "a"})", R"({"id": "a", "name": null})"},
      {R"([])", R"([])"},
      {R"([{"id": "a", "namespace": "ns", "name": "n", "nat_interface": "br0",
           "ips": ["10.0.0.1", "fd00::1"], "host_network": false,
           "port_mappings": [{"host_port": 80, "container_port": 8080,
                              "protocol": "udp", "host_ip": "10.0.0.9"},
                             {"container_port": 1, "host_port": -5}]},
          {"id": "b\u00e9\"\n", "host_network": true, "ips": [],
           "port_mappings": []},
          {"port_mappings": [{"host_port": 65536, "container_port": 2147483647,
                              "protocol": "Sctp"}], "id": "c"}])",
       R"([{"id": "a", "namespace": "ns", "name": "n", "nat_interface": "br0",
            "ips": ["10.0.0.1", "fd00::1"], "host_network": false,
            "port_mappings": [{"host_port": 80, "container_port": 8080,
                               "protocol": "udp", "host_ip": "10.0.0.9"},
                              {"container_port": 1, "host_port": -5}]},
           {"id": "b\u00e9\"\n", "host_network": true, "ips": [],
            "port_mappings": [], "nat_interface": null},
           {"port_mappings": [{"host_port": 65536, "container_port": 2147483647,
                               "protocol": "Sctp"}], "id": "c"}])"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<std::vector<PodRequest>> plain = ParsePodsJson(c.plain);
    absl::StatusOr<std::vector<PodRequest>> document =
        ParsePodsJson(c.with_null);
    ASSERT_TRUE(plain.ok()) << plain.status();
    ASSERT_TRUE(document.ok()) << document.status();
    EXPECT_EQ(Describe(*plain), Describe(*document));
  }
  absl::StatusOr<std::vector<PodRequest>> pods = ParsePodsJson(cases[2].plain);
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ(Describe(*pods),
            "id=a ns=ns name=n nat=br0 host_network=false "
            "ips=10.0.0.1,fd00::1\n"
            "  80->8080/UDP on [10.0.0.9]\n"
            "  -5->1/TCP on []\n"
            "id=b\xc3\xa9\"\n ns= name= nat= host_network=true ips=\n"
            "id=c ns= name= nat= host_network=false ips=\n"
            "  65536->2147483647/SCTP on []\n");
  // A field given twice, which the document resolves (the last one wins).
  pods = ParsePodsJson(R"({"id": "a", "name": "x", "name": "y"})");
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ((*pods)[0].pod.name, "y");
}

// `[` x 100000 crashed the JSON library (stack overflow, exit 139).
TEST(PodsFileTest, DeepNestingIsRefusedNotACrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(Error(deep),
            "JSON nested deeper than 64 levels at byte 64 (at most 64 nested "
            "arrays and objects)");
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_THAT(Error(objects), HasSubstr("nested deeper than 64"));
  // Brackets in strings do not nest; 64 levels are fine.
  EXPECT_TRUE(CheckJsonDepth("[\"" + std::string(1000, '[') + "\\\"\"]").ok());
  EXPECT_TRUE(CheckJsonDepth(std::string(64, '[') + std::string(64, ']')).ok());
  EXPECT_FALSE(
      CheckJsonDepth(std::string(65, '{') + std::string(65, '}')).ok());
}

// Found by pods_file_fuzzer: values where no pod has begun yet (a string, a
// number, a boolean in the top-level array) are refused, not written into a
// pod that does not exist.
TEST(PodsFileTest, ValuesOutsideAnyPodAreRefused) {
  for (const char* text :
       {"[\n \"id\":\"a\",\"ips\":[\"::ffff:2.::t\"*{\"\", \"names]}\n]\n",
        "[\"a\"]", "[1]", "[true]", "\"a\"", "1"}) {
    absl::StatusOr<std::vector<PodRequest>> pods = ParsePodsJson(text);
    EXPECT_FALSE(pods.ok()) << text;
  }
}

TEST(PodsFileTest, ReadingNamesThePath) {
  absl::StatusOr<std::vector<PodRequest>> pods =
      ReadPodsFile("/nonexistent/pods.json");
  ASSERT_FALSE(pods.ok());
  EXPECT_THAT(std::string(pods.status().message()),
              HasSubstr("/nonexistent/pods.json: cannot open"));
  pods = ReadPodsFile("/");
  ASSERT_FALSE(pods.ok());
  EXPECT_THAT(std::string(pods.status().message()),
              HasSubstr("is a directory"));
}

TEST(PodsFileTest, TheExampleParsesAndIsDualStack) {
  absl::StatusOr<std::vector<PodRequest>> pods =
      ReadPodsFile("tools/examples/pods.json");
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_GE(pods->size(), 3u);
}

}  // namespace
}  // namespace hostport
