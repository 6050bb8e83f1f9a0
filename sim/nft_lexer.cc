#include "sim/nft_lexer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace sim {
namespace nft {
namespace {

using Kind = Token::Kind;

std::string TokenText(const Token& t) {
  if (t.kind == Kind::kString) return absl::StrCat("\"", t.text, "\"");
  return t.text;
}

// Characters that end a word; "!=" and "==" end one too (see WordEnd).
bool EndsWord(char c) {
  return absl::ascii_isspace(c) || c == '{' || c == '}' || c == ';' ||
         c == ',' || c == '"' || c == '#' || c == '&' || c == '|' || c == '^' ||
         c == '(' || c == ')';
}

// The end of the word that starts at `start`.
size_t WordEnd(absl::string_view text, size_t start) {
  size_t i = start + 1;
  while (i < text.size()) {
    char d = text[i];
    if (EndsWord(d)) break;
    if ((d == '!' || d == '=') && i + 1 < text.size() && text[i + 1] == '=') {
      break;
    }
    ++i;
  }
  return i;
}

// A quoted string whose opening quote is at `*i`; leaves `*i` past the
// closing one. Backslash escapes the next character.
bool QuotedString(absl::string_view text, size_t* i, std::string* out) {
  ++*i;
  while (*i < text.size() && text[*i] != '"') {
    if (text[*i] == '\n') return false;
    if (text[*i] == '\\' && *i + 1 < text.size()) ++*i;
    out->push_back(text[*i]);
    ++*i;
  }
  if (*i >= text.size()) return false;
  ++*i;
  return true;
}

// The punctuation token for `c`, or kEnd when `c` is not punctuation.
Kind Punctuation(char c) {
  switch (c) {
    case '{':
      return Kind::kLBrace;
    case '}':
      return Kind::kRBrace;
    case ';':
      return Kind::kSemicolon;
    case ',':
      return Kind::kComma;
    default:
      return Kind::kEnd;
  }
}

// `t` with the spaces before `start` recorded (see Token::spaces_before).
Token Spaced(absl::string_view text, size_t start, Token t) {
  size_t j = start;
  while (j > 0 && text[j - 1] == ' ') --j;
  t.spaces_before = static_cast<uint8_t>(std::min<size_t>(start - j, 255));
  t.tab_before_spaces = j > 0 && text[j - 1] == '\t';
  return t;
}

}  // namespace

absl::StatusOr<std::vector<Token>> Lex(absl::string_view text,
                                       absl::string_view source) {
  std::vector<Token> out;
  int line = 1;
  size_t i = 0;
  // Where the line's trailing "# comment" began: the spaces before it count
  // as before the line's end, less the one `nft -a` puts before "# handle".
  size_t comment_at = absl::string_view::npos;
  auto push = [&](Kind kind, std::string word, size_t start) {
    out.push_back(Spaced(text, start, {kind, std::move(word), line}));
  };
  while (i < text.size()) {
    char c = text[i];
    if (c == '\n') {
      bool comment = comment_at != absl::string_view::npos;
      push(Kind::kNewline, "\n", comment ? comment_at : i);
      if (comment && out.back().spaces_before > 0) --out.back().spaces_before;
      comment_at = absl::string_view::npos;
      ++line;
      ++i;
    } else if (absl::ascii_isspace(c)) {
      ++i;
    } else if (c == '\\' && i + 1 < text.size() && text[i + 1] == '\n') {
      i += 2;
      ++line;
    } else if (c == '#') {
      comment_at = i;
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (Punctuation(c) != Kind::kEnd) {
      push(Punctuation(c), std::string(1, c), i);
      ++i;
    } else if (c == '"') {
      size_t start = i;
      std::string s;
      if (!QuotedString(text, &i, &s)) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ":", line, ": unterminated string"));
      }
      push(Kind::kString, std::move(s), start);
    } else if (c == '&' || c == '|' || c == '^' || c == '(' || c == ')') {
      push(Kind::kWord, std::string(1, c), i);
      ++i;
    } else if ((c == '!' || c == '=') && i + 1 < text.size() &&
               text[i + 1] == '=') {
      push(Kind::kWord, std::string(text.substr(i, 2)), i);
      i += 2;
    } else {
      size_t end = WordEnd(text, i);
      push(Kind::kWord, std::string(text.substr(i, end - i)), i);
      i = end;
    }
  }
  push(Kind::kEnd, "", text.size());
  return out;
}

TokenCursor::TokenCursor(const std::vector<Token>& tokens, LineFormat format)
    : TokenCursor(tokens.data(), 0, tokens.size() - 1, tokens.back(), format) {}

TokenCursor::TokenCursor(const Token* tokens, size_t begin, size_t end,
                         Token end_token, LineFormat format)
    : tokens_(tokens),
      pos_(begin),
      end_(end),
      end_token_(std::move(end_token)),
      format_(format) {}

TokenCursor TokenCursor::Range(size_t begin, size_t end,
                               LineFormat format) const {
  int line = end > begin ? tokens_[end - 1].line : 0;
  return TokenCursor(tokens_, begin, end, Token{Kind::kEnd, "", line}, format);
}

absl::Status TokenCursor::Error(const Token& t, absl::string_view what) const {
  return absl::InvalidArgumentError(
      absl::StrCat(format_ == LineFormat::kRule ? "line " : "", t.line, ": ",
                   what, " at \"", TokenText(t), "\""));
}

absl::Status TokenCursor::Expect(Token::Kind kind, absl::string_view what) {
  const Token& t = Next();
  if (t.kind != kind) return Error(t, absl::StrCat("expected ", what));
  return absl::OkStatus();
}

absl::StatusOr<std::string> TokenCursor::ExpectWord(absl::string_view what) {
  const Token& t = Next();
  if (t.kind != Kind::kWord) return Error(t, absl::StrCat("expected ", what));
  return t.text;
}

absl::StatusOr<std::string> TokenCursor::ExpectName(absl::string_view what) {
  const Token& t = Next();
  if (t.kind != Kind::kWord && t.kind != Kind::kString) {
    return Error(t, absl::StrCat("expected ", what));
  }
  return t.text;
}

std::string TokenCursor::Text(size_t begin, size_t end) const {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    const Token& t = tokens_[i];
    if (t.kind == Kind::kNewline) continue;
    if (!out.empty() && t.kind != Kind::kComma) out.push_back(' ');
    out += TokenText(t);
  }
  return out;
}

}  // namespace nft
}  // namespace sim
