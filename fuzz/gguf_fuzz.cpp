// libFuzzer target for the GGUF reader. A parse must either fail with a Status or
// yield a file whose every promise holds: each tensor's bytes readable (ASan checks
// the reads), each metadata value printable as JSON. Seeds in fuzz/corpus/gguf/:
// tools/check_gguf.py write-seeds, plus sample_all_types.gguf from
// `FATHOM_INTEROP_DIR=... fathom_tests --gtest_filter=GgufInteropTest.WriteSampleForPython`.
// Run with a scratch corpus first so new units stay out of the repository:
//   ./build/fuzz/gguf_fuzz -max_total_time=120 /tmp/gguf_corpus fuzz/corpus/gguf
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/gguf_config.h"
#include "formats/gguf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fathom::Result<fathom::GgufFile> file = fathom::GgufFile::Parse(std::span<const uint8_t>(data, size));
  if (!file.ok()) return 0;
  const uint8_t* end = data + size;
  unsigned sum = 0;
  for (const fathom::GgufTensorInfo& t : file->tensors()) {
    FATHOM_CHECK(t.data >= data && t.data <= end && t.num_bytes <= static_cast<uint64_t>(end - t.data));
    FATHOM_CHECK(file->FindTensor(t.name) == &t);
    for (uint64_t i = 0; i < t.num_bytes; ++i) sum += t.data[i];
    (void)t.RowMajorShape();
    FATHOM_CHECK(t.num_elements() >= 0);
  }
  for (const auto& [key, value] : file->metadata()) {
    FATHOM_CHECK(file->Find(key) == &value);
    sum += static_cast<unsigned>(value.ToJson(64).dump().size());
  }
  // The metadata must also turn into a valid config or a Status.
  fathom::Result<fathom::ModelConfig> config = fathom::ConfigFromGguf(*file);
  if (config.ok()) FATHOM_CHECK(config->Validate().ok());
  volatile unsigned sink = sum;
  (void)sink;
  return 0;
}
