#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace fathom {
namespace {

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

Result<MappedFile> MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string m = path + ": cannot open: " + std::strerror(err);
    return err == ENOENT ? NotFound(m) : IoError(m);
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    std::string m = path + ": cannot stat: " + ErrnoText();
    ::close(fd);
    return IoError(m);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  MappedFile f;
  f.path_ = path;
  f.size_ = static_cast<uint64_t>(st.st_size);
  if (f.size_ > 0) {
    void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      std::string m = path + ": cannot map: " + ErrnoText();
      ::close(fd);
      return IoError(m);
    }
    f.data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(other.data_), size_(other.size_), path_(std::move(other.path_)) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = other.data_;
    size_ = other.size_;
    path_ = std::move(other.path_);
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

MappedFile::~MappedFile() { Reset(); }

void MappedFile::Reset() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

Result<std::string> ReadTextFile(const std::string& path, uint64_t max_bytes) {
  FATHOM_ASSIGN_OR_RETURN(MappedFile f, MappedFile::Open(path));
  if (f.size() > max_bytes) {
    return OutOfRange(path + ": " + std::to_string(f.size()) + " bytes is more than the limit of " +
                      std::to_string(max_bytes));
  }
  return std::string(reinterpret_cast<const char*>(f.data()), f.size());
}

Status WriteFileAtomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  FILE* fp = std::fopen(tmp.c_str(), "wb");
  if (fp == nullptr) return IoError(tmp + ": cannot create: " + ErrnoText());
  bool ok = std::fwrite(data.data(), 1, data.size(), fp) == data.size();
  ok = (std::fclose(fp) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    return IoError(tmp + ": write failed: " + ErrnoText());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return IoError(path + ": cannot rename into place: " + ErrnoText());
  }
  return Status::Ok();
}

}  // namespace fathom
