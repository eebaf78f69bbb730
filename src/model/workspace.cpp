#include "model/workspace.h"

namespace fathom {

void* Workspace::Grow(std::unique_ptr<DeviceBuffer>& buf, int64_t num_bytes, const char* what) {
  if (buf != nullptr && buf->num_bytes() >= num_bytes) return buf->data();
  buf.reset();  // free first: the old contents need not survive
  Result<std::unique_ptr<DeviceBuffer>> grown = memory_.Allocate(num_bytes);
  FATHOM_CHECK_MSG(grown.ok(), "workspace: cannot allocate " + std::to_string(num_bytes) + " bytes of " + what +
                                   "s: " + grown.status().message());
  buf = std::move(*grown);
  ++generation_;
  return buf->data();
}

int64_t Workspace::num_bytes() const {
  int64_t total = 0;
  for (const auto& b : floats_) total += b == nullptr ? 0 : b->num_bytes();
  for (const auto& b : ints_) total += b == nullptr ? 0 : b->num_bytes();
  return total;
}

}  // namespace fathom
