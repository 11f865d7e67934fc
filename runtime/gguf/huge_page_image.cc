#include "runtime/gguf/huge_page_image.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tandem::gguf {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

bool TransparentHugePagesAvailable() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  if (!std::getline(in, line)) return false;
  // The active choice is bracketed: "always [madvise] never".
  return line.find("[always]") != std::string::npos || line.find("[madvise]") != std::string::npos;
}

absl::StatusOr<std::unique_ptr<HugePageImage>> HugePageImage::Allocate(size_t size, const std::string& what) {
  // One spare huge page so the data can start on a 2 MiB boundary (the
  // kernel only backs whole aligned 2 MiB ranges with huge pages).
  const size_t region_bytes = (size + kHugePage - 1) / kHugePage * kHugePage + kHugePage;
  void* region = ::mmap(nullptr, region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) {
    const int err = errno;
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", region_bytes >> 20, " MiB for ", what,
                                                     " on huge pages: ", std::strerror(err)));
  }
  const auto base = reinterpret_cast<uintptr_t>(region);
  auto* data = reinterpret_cast<uint8_t*>((base + kHugePage - 1) / kHugePage * kHugePage);
  std::unique_ptr<HugePageImage> image(new HugePageImage(region, region_bytes, data, size));
  // Advice, not a requirement: without it the bytes are still correct, on
  // small pages. Before the first touch, so the pages are huge from the start.
  (void)::madvise(data, region_bytes - (data - static_cast<uint8_t*>(region)), MADV_HUGEPAGE);
  return image;
}

absl::StatusOr<std::unique_ptr<HugePageImage>> HugePageImage::Read(int fd, size_t size, const std::string& path) {
  absl::StatusOr<std::unique_ptr<HugePageImage>> allocated = Allocate(size, absl::StrCat("'", path, "'"));
  if (!allocated.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat("gguf: ", allocated.status().message(),
                                                     " (TANDEM_WEIGHTS=mmap maps the file instead)"));
  }
  std::unique_ptr<HugePageImage> image = *std::move(allocated);
  uint8_t* data = image->data_;
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, data + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return absl::DataLossError(absl::StrCat("gguf: cannot read '", path, "' at byte ", done, ": ", std::strerror(err)));
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrCat("gguf: '", path, "' ended at byte ", done, " of ", size,
                                              " while it was read (changed on disk?)"));
    }
    done += static_cast<size_t>(n);
  }
  // The weights are read-only from here on, as through the mapping.
  if (::mprotect(data, size, PROT_READ) != 0) {
    const int err = errno;
    return absl::InternalError(absl::StrCat("gguf: cannot protect the copy of '", path, "': ", std::strerror(err)));
  }
  return image;
}

HugePageImage::~HugePageImage() { ::munmap(region_, region_bytes_); }

}  // namespace tandem::gguf
