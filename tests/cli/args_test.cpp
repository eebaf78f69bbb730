#include "cli/args.h"

#include <gtest/gtest.h>

namespace fathom::cli {
namespace {

TEST(ArgsTest, LongShortInlineAndPositional) {
  Result<ParsedArgs> p = ParsedArgs::Parse({"model.gguf", "--seed", "7", "--out=dir", "-n", "3", "--quiet"},
                                           {{"seed"}, {"out"}, {"count", true, "n"}, {"quiet", false}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->positional(), std::vector<std::string>{"model.gguf"});
  EXPECT_EQ(p->Get("out"), "dir");
  EXPECT_EQ(**p->GetInt("seed"), 7);
  EXPECT_EQ(**p->GetInt("count"), 3);
  EXPECT_TRUE(p->Has("quiet"));
}

TEST(ArgsTest, ErrorsNameTheOption) {
  EXPECT_EQ(ParsedArgs::Parse({"--bogus"}, {}).status().message(), "unknown option '--bogus'");
  EXPECT_EQ(ParsedArgs::Parse({"--seed"}, {{"seed"}}).status().message(), "option '--seed' needs a value");
  EXPECT_EQ(ParsedArgs::Parse({"--quiet=1"}, {{"quiet", false}}).status().message(),
            "option '--quiet' takes no value");
  Result<ParsedArgs> p = ParsedArgs::Parse({"--seed", "7x"}, {{"seed"}});
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->GetInt("seed").ok());
}

TEST(ArgsTest, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("5GB"), 5'000'000'000u);
  EXPECT_EQ(*ParseByteSize("200MB"), 200'000'000u);
  EXPECT_EQ(*ParseByteSize("64KiB"), 65536u);
  EXPECT_EQ(*ParseByteSize("1000"), 1000u);
  EXPECT_FALSE(ParseByteSize("0").ok());
  EXPECT_FALSE(ParseByteSize("5XB").ok());
  EXPECT_FALSE(ParseByteSize("GB").ok());
  EXPECT_FALSE(ParseByteSize("99999999999999GB").ok());
}

TEST(ArgsTest, RepeatedOptionsKeepEveryValue) {
  Result<ParsedArgs> p = ParsedArgs::Parse({"--var", "a=1", "--var=b=2", "--model", "m"}, {{"var"}, {"model"}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->GetAll("var"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(*p->Get("var"), "b=2");
  EXPECT_EQ(p->GetAll("model"), std::vector<std::string>{"m"});
  EXPECT_TRUE(p->GetAll("absent").empty());
}

}  // namespace
}  // namespace fathom::cli
