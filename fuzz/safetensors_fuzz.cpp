// libFuzzer target for the safetensors header parser: any input must either be
// rejected with a Status or yield tensors whose every byte lies inside the input.
// Reading each tensor's first and last byte lets ASan catch a range that escaped.
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/safetensors_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fathom::Result<fathom::SafetensorsFile> file = fathom::SafetensorsFile::Parse(std::span<const uint8_t>(data, size));
  if (!file.ok()) return 0;
  volatile uint8_t sink = 0;
  for (const fathom::SafetensorsTensor& t : file->tensors()) {
    if (t.end > t.begin) sink = sink + t.data[0] + t.data[t.end - t.begin - 1];
    if (file->Find(t.name) != &t) __builtin_trap();
  }
  return 0;
}
