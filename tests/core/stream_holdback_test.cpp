#include "core/stream_holdback.h"

#include "core/utf8.h"

#include <gtest/gtest.h>

namespace fathom {
namespace {

TEST(StreamHoldbackTest, PartialMarkerSuffix) {
  EXPECT_EQ(PartialMarkerSuffixLength("abc", "</think>"), 0u);
  EXPECT_EQ(PartialMarkerSuffixLength("abc<", "</think>"), 1u);
  EXPECT_EQ(PartialMarkerSuffixLength("abc</thin", "</think>"), 6u);
  // A whole marker is not a proper prefix: the caller finds it first.
  EXPECT_EQ(PartialMarkerSuffixLength("</think>", "</think>"), 0u);
  EXPECT_EQ(PartialMarkerSuffixLength("", "</think>"), 0u);
  EXPECT_EQ(PartialMarkerSuffixLength("<<", "<<a"), 2u);
}

TEST(StreamHoldbackTest, HoldsOnlyCompletableUtf8Tails) {
  EXPECT_EQ(utf8::IncompleteSuffixLength("abc"), 0u);
  EXPECT_EQ(utf8::IncompleteSuffixLength("a\xEF"), 1u);          // lead of a 3-byte char
  EXPECT_EQ(utf8::IncompleteSuffixLength("a\xEF\xBD"), 2u);      // two of three bytes
  EXPECT_EQ(utf8::IncompleteSuffixLength("a\xEF\xBD\x9C"), 0u);  // ｜ complete
  EXPECT_EQ(utf8::IncompleteSuffixLength("\xF0\x9F\x98"), 3u);   // three of four bytes
  EXPECT_EQ(utf8::IncompleteSuffixLength("\xC3"), 1u);
  EXPECT_EQ(utf8::IncompleteSuffixLength("\xC3\xA9"), 0u);
  // Bytes that can never complete are passed through, not held forever.
  EXPECT_EQ(utf8::IncompleteSuffixLength("a\x80"), 0u);
  EXPECT_EQ(utf8::IncompleteSuffixLength("a\xFF"), 0u);
  EXPECT_EQ(utf8::IncompleteSuffixLength("\x80\x80\x80"), 0u);
}

TEST(StreamHoldbackTest, TakesTheLongerHold) {
  EXPECT_EQ(StreamHoldbackLength("x<｜to", {"<｜tool▁calls▁begin｜>"}), std::string_view("<｜to").size());
  EXPECT_EQ(StreamHoldbackLength("x\xEF\xBD", {"</think>"}), 2u);
  EXPECT_EQ(StreamHoldbackLength("x", {"</think>", "<think>"}), 0u);
}

}  // namespace
}  // namespace fathom
