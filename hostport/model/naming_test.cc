#include "hostport/model/naming.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hostport {
namespace {

using ::testing::HasSubstr;

// The vectors CRI-O's chains were named with (DESIGN §4).
TEST(NamingTest, MatchesCrioVectors) {
  // The first 80 bits of SHA-256, base32: at the padding's edges (55, 56,
  // 63, 64 bytes), past a block (119) and over many blocks (1000).
  EXPECT_EQ(Hash16(""), "4OYMIQUY7QOBJGX3");
  EXPECT_EQ(Hash16(std::string(55, 'a')), "T5BZB6GTBQW5SLWJ");
  EXPECT_EQ(Hash16(std::string(56, 'a')), "WNKDTJFMN4EURNWW");
  EXPECT_EQ(Hash16(std::string(63, 'a')), "PU7HJIC5PWYVXTSK");
  EXPECT_EQ(Hash16(std::string(64, 'a')), "77QFJ7T24DFW3RS4");
  EXPECT_EQ(Hash16(std::string(119, 'a')), "GHV2KHBRHJOAQITK");
  EXPECT_EQ(Hash16(std::string(1000, 'x')), "IT4DKREUUW5AHOQX");
  EXPECT_EQ(Hash16("id8080TCP"), "IJHALPHTORMHHPPK");
  EXPECT_EQ(Hash16("id8080TCP127.0.0.1"), "SKQ6QP2DHJ7ZIKME");
  EXPECT_EQ(MappingHash("id", 8080, Protocol::kTCP, ""), "IJHALPHTORMHHPPK");
  EXPECT_EQ(MappingHash("id", 8080, Protocol::kTCP, "127.0.0.1"),
            "SKQ6QP2DHJ7ZIKME");
}

TEST(NamingTest, HashesAreSixteenBase32Characters) {
  for (const char* in : {"", "a", "sandbox-1", "x\xff\x01"}) {
    const std::string h = Hash16(in);
    ASSERT_EQ(h.size(), 16u) << in;
    EXPECT_EQ(h.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
              std::string::npos)
        << h;
  }
  EXPECT_EQ(OwnerComment("sandbox-1"), Hash16("sandbox-1"));
  EXPECT_NE(MappingHash("a", 80, Protocol::kTCP, ""),
            MappingHash("a", 80, Protocol::kUDP, ""));
}

TEST(NamingTest, DefaultNamesAreValidAndFitChainLimits) {
  ObjectNames names;
  EXPECT_TRUE(names.Validate().ok());
  EXPECT_LE((names.hostport_chain_prefix + Hash16("x")).size(), 28u);
  EXPECT_LE((names.masquerade_chain_prefix + Hash16("x")).size(), 28u);
}

TEST(NamingTest, InvalidNamesNameTheField) {
  ObjectNames names;
  names.hostport_chain_prefix = "MY-VERY-LONG-PREFIX-";
  EXPECT_THAT(std::string(names.Validate().message()),
              HasSubstr("hostport_chain_prefix \"MY-VERY-LONG-PREFIX-\" is too "
                        "long: at most 12 characters"));
  names = ObjectNames();
  names.nft_table = "bad table";
  EXPECT_THAT(std::string(names.Validate().message()),
              HasSubstr("nft_table \"bad table\" has character ' '"));
  names = ObjectNames();
  names.masquerade_chain_prefix = names.hostport_chain_prefix;
  EXPECT_THAT(std::string(names.Validate().message()),
              HasSubstr("must differ"));
  names = ObjectNames();
  names.hostports_chain = "";
  EXPECT_THAT(std::string(names.Validate().message()), HasSubstr("is empty"));
}

}  // namespace
}  // namespace hostport
