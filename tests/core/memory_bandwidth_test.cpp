#include "core/memory_bandwidth.h"

#include <gtest/gtest.h>

namespace fathom {
namespace {

TEST(MemoryBandwidthTest, MeasuresAPositiveRate) {
  ThreadPool pool(2);
  Result<double> bw = MeasureReadBandwidth(pool, {.num_bytes = 16 << 20, .num_runs = 2});
  ASSERT_TRUE(bw.ok()) << bw.status().ToString();
  EXPECT_GT(*bw, 1e8);  // any machine reads faster than 100 MB/s
  EXPECT_FALSE(MeasureReadBandwidth(pool, {.num_bytes = 1024}).ok());
  EXPECT_FALSE(MeasureReadBandwidth(pool, {.num_bytes = 16 << 20, .num_runs = 0}).ok());
}

}  // namespace
}  // namespace fathom
