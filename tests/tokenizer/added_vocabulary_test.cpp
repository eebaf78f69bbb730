#include "tokenizer/added_vocabulary.h"

#include <gtest/gtest.h>

namespace fathom {
namespace {

using Segments = std::vector<AddedTokenMatcher::Segment>;

std::vector<std::string> Cut(const AddedTokenMatcher& m, std::string_view text) {
  Segments segs;
  m.Split(text, &segs);
  std::vector<std::string> out;
  for (const auto& s : segs) {
    out.push_back((s.id >= 0 ? "#" + std::to_string(s.id) + ":" : "") +
                  std::string(text.substr(s.begin, s.end - s.begin)));
  }
  return out;
}

AddedToken Token(int32_t id, std::string content) {
  AddedToken t;
  t.id = id;
  t.content = std::move(content);
  return t;
}

TEST(AddedTokenMatcherTest, LongestMatchAtTheLeftmostPosition) {
  AddedTokenMatcher m({Token(1, "<a>"), Token(2, "<a><b>"), Token(3, "b>")});
  EXPECT_EQ(Cut(m, "x<a><b>y<a>"), (std::vector<std::string>{"x", "#2:<a><b>", "y", "#1:<a>"}));
  EXPECT_EQ(Cut(m, "<a"), (std::vector<std::string>{"<a"}));
  EXPECT_EQ(Cut(m, ""), (std::vector<std::string>{}));
}

TEST(AddedTokenMatcherTest, LstripAndRstripSwallowWhitespace) {
  AddedToken t = Token(7, "<m>");
  t.lstrip = true;
  t.rstrip = true;
  AddedTokenMatcher m({t});
  EXPECT_EQ(Cut(m, "a  <m> \u3000b"), (std::vector<std::string>{"a", "#7:  <m> \u3000", "b"}));
}

TEST(AddedTokenMatcherTest, SingleWordMatchesOnlyBetweenNonWordCharacters) {
  AddedToken t = Token(5, "cat");
  t.single_word = true;
  AddedTokenMatcher m({t});
  EXPECT_EQ(Cut(m, "a cat!"), (std::vector<std::string>{"a ", "#5:cat", "!"}));
  EXPECT_EQ(Cut(m, "concat"), (std::vector<std::string>{"concat"}));
  EXPECT_EQ(Cut(m, "cats"), (std::vector<std::string>{"cats"}));
  EXPECT_EQ(Cut(m, "écat"), (std::vector<std::string>{"écat"}));  // é is a word character
}

TEST(AddedTokenMatcherTest, MultiByteContent) {
  AddedTokenMatcher m({Token(0, "<｜begin▁of▁sentence｜>")});
  EXPECT_EQ(Cut(m, "你<｜begin▁of▁sentence｜>好"),
            (std::vector<std::string>{"你", "#0:<｜begin▁of▁sentence｜>", "好"}));
}

}  // namespace
}  // namespace fathom
