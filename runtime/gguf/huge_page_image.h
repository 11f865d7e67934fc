// A file's bytes read into anonymous memory on transparent huge pages.
//
// Why: a CPU decode step reads every weight once, and reading them through a
// file mapping walks 4 KiB pages: on a 2-vCPU Sapphire Rapids VM two threads
// streamed 23.7 GB/s from the mapped Qwen2.5-Coder-1.5B file and 27.4 GB/s
// from a huge-page copy, and tandem's decode went from 14.3 to 20.3 tokens/s
// (docs/benchmarks.md, "Weights on huge pages"). The cost: the file is read
// at load (from the page cache, ~0.2 s per GB) and the copy is private to the
// process, where a mapping shares the page cache between processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tandem::gguf {

// Whether the kernel may back an madvise(MADV_HUGEPAGE) region with huge
// pages (/sys/kernel/mm/transparent_hugepage/enabled is "always" or
// "madvise"); false where it cannot be read.
bool TransparentHugePagesAvailable();

class HugePageImage {
 public:
  // Reads `size` bytes of the open file `fd` (from offset 0) into a 2 MiB
  // aligned anonymous region advised MADV_HUGEPAGE. `path` names the file in
  // errors: ResourceExhausted when the memory cannot be had, DataLoss when
  // the file is shorter than `size` or cannot be read.
  static absl::StatusOr<std::unique_ptr<HugePageImage>> Read(int fd, size_t size, const std::string& path);
  // `size` writable bytes in the same kind of region, not yet touched (the
  // caller fills them: a model's re-quantized weights). `what` names the
  // region in the ResourceExhausted error.
  static absl::StatusOr<std::unique_ptr<HugePageImage>> Allocate(size_t size, const std::string& what);

  ~HugePageImage();
  HugePageImage(const HugePageImage&) = delete;
  HugePageImage& operator=(const HugePageImage&) = delete;

  const uint8_t* data() const { return data_; }
  uint8_t* mutable_data() { return data_; }  // writable until Read's mprotect (Allocate: always)
  size_t size() const { return size_; }

 private:
  HugePageImage(void* region, size_t region_bytes, uint8_t* data, size_t size)
      : region_(region), region_bytes_(region_bytes), data_(data), size_(size) {}

  void* region_;         // what mmap returned (munmap'd in the destructor)
  size_t region_bytes_;
  uint8_t* data_;        // the first 2 MiB boundary in the region
  size_t size_;
};

}  // namespace tandem::gguf
