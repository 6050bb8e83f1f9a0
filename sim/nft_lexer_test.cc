#include "sim/nft_lexer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sim {
namespace nft {
namespace {

using Kind = Token::Kind;
using ::testing::ElementsAre;

std::vector<std::string> Texts(const std::vector<Token>& tokens) {
  std::vector<std::string> out;
  for (const Token& t : tokens) out.push_back(t.text);
  return out;
}

TEST(NftLexerTest, SplitsWordsOperatorsAndPunctuation) {
  absl::StatusOr<std::vector<Token>> tokens =
      Lex("ct status & dnat != 0 { a, b }; # comment\n", "f");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(Texts(*tokens),
              ElementsAre("ct", "status", "&", "dnat", "!=", "0", "{", "a", ",",
                          "b", "}", ";", "\n", ""));
  EXPECT_EQ(tokens->back().kind, Kind::kEnd);
  EXPECT_EQ(tokens->back().line, 2);
}

TEST(NftLexerTest, StringsKeepEscapedQuotesAndLinesFollowContinuations) {
  absl::StatusOr<std::vector<Token>> tokens =
      Lex("comment \"a \\\"b\\\"\" \\\nx", "f");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->size(), 4u);
  EXPECT_EQ((*tokens)[1].kind, Kind::kString);
  EXPECT_EQ((*tokens)[1].text, "a \"b\"");
  EXPECT_EQ((*tokens)[2].text, "x");
  EXPECT_EQ((*tokens)[2].line, 2);
}

TEST(NftLexerTest, UnterminatedStringNamesSourceAndLine) {
  EXPECT_EQ(Lex("a\nb \"c\n", "f.nft").status().message(),
            "f.nft:2: unterminated string");
}

TEST(TokenCursorTest, ARangeEndsOnItsLastLineAndNeverLeavesIt) {
  absl::StatusOr<std::vector<Token>> tokens = Lex("a b\nc d\n", "f");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  TokenCursor all(*tokens, LineFormat::kCommand);
  TokenCursor range = all.Range(1, 4, LineFormat::kRule);  // b \n c
  EXPECT_EQ(range.Next().text, "b");
  range.SkipNewlines();
  EXPECT_EQ(range.Peek(1).kind, Kind::kEnd);
  EXPECT_EQ(range.Next().text, "c");
  EXPECT_TRUE(range.AtEnd());
  const Token& end = range.Next();
  EXPECT_EQ(end.kind, Kind::kEnd);
  EXPECT_EQ(end.line, 2);
  EXPECT_EQ(range.position(), 4u);
  EXPECT_EQ(all.position(), 0u);
}

TEST(TokenCursorTest, ErrorsNameTheLineAndTheToken) {
  absl::StatusOr<std::vector<Token>> tokens = Lex("\n\"s\" x", "f");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  TokenCursor command(*tokens, LineFormat::kCommand);
  command.SkipNewlines();
  EXPECT_EQ(command.Expect(Kind::kLBrace, "\"{\"").message(),
            "2: expected \"{\" at \"\"s\"\"");
  TokenCursor rule = command.Range(2, 3, LineFormat::kRule);
  EXPECT_EQ(rule.ExpectWord("a chain name").value(), "x");
  EXPECT_EQ(rule.ExpectName("a set name").status().message(),
            "line 2: expected a set name at \"\"");
}

TEST(TokenCursorTest, TextReadsAsOneLineWithStringsQuoted) {
  absl::StatusOr<std::vector<Token>> tokens =
      Lex("tcp dport { 80,\n 443 } comment \"web\"", "f");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  TokenCursor all(*tokens, LineFormat::kRule);
  EXPECT_EQ(all.Text(0, tokens->size() - 1),
            "tcp dport { 80, 443 } comment \"web\"");
}

TEST(NftLexerTest, ParenthesesAreTokensAndSpacesBeforeAreKept) {
  absl::StatusOr<std::vector<Token>> tokens =
      Lex("\t\t a  (snat|dnat) \n", "f");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(Texts(*tokens),
              ElementsAre("a", "(", "snat", "|", "dnat", ")", "\n", ""));
  EXPECT_EQ((*tokens)[0].spaces_before, 1);
  EXPECT_TRUE((*tokens)[0].tab_before_spaces);
  EXPECT_EQ((*tokens)[1].spaces_before, 2);
  EXPECT_FALSE((*tokens)[1].tab_before_spaces);
  EXPECT_EQ((*tokens)[2].spaces_before, 0);
  EXPECT_EQ((*tokens)[6].spaces_before, 1);  // the trailing space
}

}  // namespace
}  // namespace nft
}  // namespace sim
