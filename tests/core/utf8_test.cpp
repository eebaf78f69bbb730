#include "core/utf8.h"

#include <gtest/gtest.h>

namespace fathom {
namespace {

std::string Lossy(std::string_view s) {
  std::string out;
  utf8::AppendLossy(s, &out);
  return out;
}

TEST(Utf8Test, LossyReplacesMaximalInvalidSubparts) {
  EXPECT_EQ(Lossy("a\xE2\x82z"), "a\uFFFDz");              // truncated 3-byte sequence: one U+FFFD
  EXPECT_EQ(Lossy("\xFF\xFE"), "\uFFFD\uFFFD");            // two invalid bytes
  EXPECT_EQ(Lossy("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // a surrogate: each byte
  EXPECT_EQ(Lossy("\xF0\x9F\x98"), "\uFFFD");
  EXPECT_EQ(Lossy("ok \xC3\xA9"), "ok \u00e9");
}

TEST(Utf8Test, IncompleteSuffix) {
  EXPECT_EQ(utf8::IncompleteSuffixLength("ab"), 0u);
  EXPECT_EQ(utf8::IncompleteSuffixLength("a\xE2\x82"), 2u);
  EXPECT_EQ(utf8::IncompleteSuffixLength("a\xF0\x9F\x98"), 3u);
  EXPECT_EQ(utf8::IncompleteSuffixLength("a\xE2\x82\xAC"), 0u);
  EXPECT_EQ(utf8::IncompleteSuffixLength("a\xE0\x80"), 0u);  // can never become valid
  EXPECT_EQ(utf8::IncompleteSuffixLength("\x82"), 0u);
}

TEST(Utf8Test, Classes) {
  EXPECT_TRUE(utf8::IsWhitespace(0x85));
  EXPECT_TRUE(utf8::IsWhitespace(0x3000));
  EXPECT_FALSE(utf8::IsWhitespace(0x200B));
  EXPECT_TRUE(utf8::IsWordChar(U'é'));
  EXPECT_TRUE(utf8::IsWordChar(U'_'));
  EXPECT_FALSE(utf8::IsWordChar(U'!'));
}

}  // namespace
}  // namespace fathom
