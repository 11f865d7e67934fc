// libFuzzer target for the safetensors reader: any byte string either fails
// to parse with a status or yields tensors whose every byte lies inside the
// input and whose sizes agree with dtype x shape (ASan/UBSan watch).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "runtime/embedding/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = tandem::embedding::SafetensorsFile::FromBuffer(std::span<const uint8_t>(data, size));
  if (!file.ok()) return 0;
  uint64_t sum = 0;
  for (const auto& t : (*file)->tensors()) {
    if (t.data < data || t.data + t.size_bytes > data + size) __builtin_trap();
    if (static_cast<uint64_t>(t.num_elements) * tandem::embedding::DtypeSize(t.dtype) != t.size_bytes) __builtin_trap();
    for (size_t i = 0; i < t.size_bytes; ++i) sum += t.data[i];  // touch every byte
    if ((*file)->Find(t.name) == nullptr) __builtin_trap();
  }
  return static_cast<int>(sum & 0);
}
