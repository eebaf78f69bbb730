// FATHOM_ISA parsing and the in-process override.
#include "kernels/cpu/isa.h"

#include <gtest/gtest.h>

#include <string>

namespace fathom::cpu {
namespace {

TEST(IsaTest, NamesRoundTrip) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) EXPECT_EQ(IsaFromName(IsaName(isa)), isa);
  EXPECT_FALSE(IsaFromName("AVX2").has_value());
  EXPECT_FALSE(IsaFromName("").has_value());
}

TEST(IsaTest, ResolveHonoursLowerChoicesAndWarnsOtherwise) {
  std::string warning = "stale";
  EXPECT_EQ(ResolveIsa(nullptr, Isa::kAvx512, &warning), Isa::kAvx512);
  EXPECT_TRUE(warning.empty());
  EXPECT_EQ(ResolveIsa("scalar", Isa::kAvx512, &warning), Isa::kScalar);
  EXPECT_TRUE(warning.empty());
  EXPECT_EQ(ResolveIsa("avx2", Isa::kAvx512, &warning), Isa::kAvx2);
  EXPECT_EQ(ResolveIsa("avx512", Isa::kAvx512, &warning), Isa::kAvx512);
  EXPECT_TRUE(warning.empty());

  EXPECT_EQ(ResolveIsa("avx512", Isa::kAvx2, &warning), Isa::kAvx2);
  EXPECT_NE(warning.find("not supported"), std::string::npos) << warning;
  EXPECT_EQ(ResolveIsa("garbage", Isa::kAvx2, &warning), Isa::kAvx2);
  EXPECT_NE(warning.find("garbage"), std::string::npos) << warning;
  EXPECT_EQ(warning.find('\n'), std::string::npos) << "one line";
  EXPECT_EQ(ResolveIsa("", Isa::kScalar, &warning), Isa::kScalar);
  EXPECT_FALSE(warning.empty());
}

TEST(IsaTest, OverrideNestsAndRestores) {
  const Isa before = ActiveIsa();
  EXPECT_LE(before, DetectedIsa());
  {
    ScopedIsaOverride outer(Isa::kScalar);
    EXPECT_EQ(ActiveIsa(), Isa::kScalar);
    {
      ScopedIsaOverride inner(DetectedIsa());
      EXPECT_EQ(ActiveIsa(), DetectedIsa());
    }
    EXPECT_EQ(ActiveIsa(), Isa::kScalar);
  }
  EXPECT_EQ(ActiveIsa(), before);
}

}  // namespace
}  // namespace fathom::cpu
