// Tokens of nftables text, and the one cursor both nft parsers read them with.
//
// Promises: Lex splits `nft -f` / `nft list ruleset` text into words, quoted
// strings, braces, separators and newlines, each with its line, and ends the
// list with one kEnd token. A TokenCursor walks a range of that list and
// never leaves it: past the range it reads a kEnd token on the range's last
// line. Its errors name the line and the token ("12: expected \"{\" at
// \"x\"").
// Requires: the token list outlives every cursor over it. Internal to //sim:
// for nft_parser.cc (commands) and nft_rule_parser.cc (statements).
#ifndef SIM_NFT_LEXER_H_
#define SIM_NFT_LEXER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sim {
namespace nft {

struct Token {
  enum class Kind : uint8_t {
    kWord,
    kString,
    kLBrace,
    kRBrace,
    kSemicolon,
    kNewline,
    kComma,
    kEnd
  };
  Kind kind;
  std::string text;
  int line;
  // The spaces right before the token on its line (up to 255), and whether a
  // tab comes right before those: `nft list` indents with tabs and puts one
  // space between statements, so more shows a statement it printed as
  // nothing.
  uint8_t spaces_before = 0;
  bool tab_before_spaces = false;

  bool Is(absl::string_view word) const {
    return kind == Kind::kWord && text == word;
  }
};

// Fails on an unterminated string, naming `source` and the line.
absl::StatusOr<std::vector<Token>> Lex(absl::string_view text,
                                       absl::string_view source);

// How an error names its line. A command error reads "12: ..." and gets the
// source in front of it; a rule the simulator cannot model reads
// "line 12: ..." because it is kept on its table and shown after the table's
// name.
enum class LineFormat : uint8_t { kCommand, kRule };

class TokenCursor {
 public:
  // The whole list. REQUIRES: `tokens` ends with a kEnd token.
  TokenCursor(const std::vector<Token>& tokens, LineFormat format);

  // Positions [begin, end) of this cursor's list, read from `begin`.
  // REQUIRES: begin <= end <= the end of this cursor's range.
  TokenCursor Range(size_t begin, size_t end, LineFormat format) const;

  TokenCursor(const TokenCursor&) = delete;
  TokenCursor& operator=(const TokenCursor&) = delete;

  const Token& Peek(size_t ahead = 0) const {
    size_t i = pos_ + ahead;
    return i < end_ ? tokens_[i] : end_token_;
  }
  // The current token; moves past it unless it is the end.
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < end_) ++pos_;
    return t;
  }
  bool AtEnd() const { return pos_ >= end_; }
  void SkipNewlines() {
    while (Peek().kind == Token::Kind::kNewline) Next();
  }

  // Positions index the whole list, so a position from one cursor is valid
  // in a Range of it.
  size_t position() const { return pos_; }
  void Rewind(size_t position) { pos_ = position; }

  // "`what` at \"token\"", on the token's line, as InvalidArgument.
  absl::Status Error(const Token& t, absl::string_view what) const;
  // Consumes a token of `kind`, or fails with "expected `what`".
  absl::Status Expect(Token::Kind kind, absl::string_view what);
  // Consumes a word, or fails with "expected `what`".
  absl::StatusOr<std::string> ExpectWord(absl::string_view what);
  // Consumes a word or a quoted string, or fails with "expected `what`".
  absl::StatusOr<std::string> ExpectName(absl::string_view what);

  // Positions [begin, end) as a person reads them: one line, strings quoted.
  std::string Text(size_t begin, size_t end) const;

 private:
  TokenCursor(const Token* tokens, size_t begin, size_t end, Token end_token,
              LineFormat format);

  const Token* tokens_;
  size_t pos_;
  size_t end_;
  Token end_token_;
  LineFormat format_;
};

}  // namespace nft
}  // namespace sim

#endif  // SIM_NFT_LEXER_H_
