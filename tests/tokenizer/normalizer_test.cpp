#include "tokenizer/normalizer.h"

#include <gtest/gtest.h>

namespace fathom {
namespace {

TEST(NormalizerTest, NfcComposes) {
  Result<Normalizer> n = Normalizer::FromJson({{"type", "NFC"}});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->Normalize("e\u0301"), "\u00e9");
  EXPECT_EQ(n->Normalize("\u212b"), "\u00c5");  // ANGSTROM SIGN has a singleton decomposition
  EXPECT_EQ(n->Normalize("\u1100\u1161\u11a8"), "\uac01");
  EXPECT_EQ(n->Normalize("plain ascii"), "plain ascii");
}

TEST(NormalizerTest, NullAndEmptySequenceAreIdentity) {
  EXPECT_TRUE(Normalizer::FromJson(nullptr)->is_identity());
  EXPECT_TRUE(Normalizer::FromJson({{"type", "Sequence"}, {"normalizers", nlohmann::json::array()}})->is_identity());
  Result<Normalizer> seq = Normalizer::FromJson({{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}}}});
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(seq->Normalize("a\u0308"), "\u00e4");
}

TEST(NormalizerTest, UnknownTypeIsUnsupported) {
  Result<Normalizer> n = Normalizer::FromJson({{"type", "Lowercase"}});
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(n.status().message().find("Lowercase"), std::string::npos);
}

}  // namespace
}  // namespace fathom
