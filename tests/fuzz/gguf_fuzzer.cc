// libFuzzer entry point for the GGUF reader: any input must parse or fail with
// a status, and whatever parses must be safe to read in full.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu/dequantize.h"
#include "runtime/gguf/gguf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = tandem::gguf::GgufFile::FromBuffer(std::span<const uint8_t>(data, size));
  if (!file.ok()) return 0;
  for (const auto& [key, value] : (*file)->metadata()) {
    if (value.type == tandem::gguf::ValueType::kArray && !value.array_data.empty()) {
      for (uint64_t k = 0; k < value.array_size; ++k) (void)value.ScalarAt(k);
    }
  }
  std::vector<float> row;
  for (const auto& t : (*file)->tensors()) {
    const auto* traits = tandem::kernels::FindTypeTraits(static_cast<uint32_t>(t.type));
    if (!traits->can_dequantize || t.row_length() > (1 << 16)) continue;
    row.resize(static_cast<size_t>(t.row_length()));
    for (int64_t r = 0; r < t.num_rows(); ++r) {
      tandem::kernels::DequantizeRow(t.type, t.row(r), row.data(), t.row_length());
    }
  }
  return 0;
}
