// Safetensors reader. The file is untrusted input: the header length, the JSON
// header, every dtype, shape and data offset is validated at Open() time
// (overflow-checked sizes, offsets inside the data section, tensors neither
// overlapping nor leaving holes, as the format requires), so that once a
// SafetensorsFile exists every tensor view is valid for its lifetime. Tensor
// data is memory-mapped and never copied.
//
// Layout: u64 little-endian N | N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {str: str}} | data section
// (offsets relative to its start).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace tandem::embedding {

enum class SafetensorsDtype {
  kBool, kU8, kI8, kF8E5M2, kF8E4M3, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64,
};

// "F32", "BF16", ... as the format spells them.
std::string_view DtypeName(SafetensorsDtype dtype);
size_t DtypeSize(SafetensorsDtype dtype);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;
  int64_t num_elements = 0;
  size_t size_bytes = 0;
  size_t file_offset = 0;         // absolute byte offset of the data in the file
  const uint8_t* data = nullptr;  // into the mapping, already bounds-checked
};

class SafetensorsFile {
 public:
  // Largest header accepted (the reference implementation's limit).
  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;

  // Maps and validates the file. Errors are INVALID_ARGUMENT naming the
  // problem (and the tensor), NOT_FOUND if the file does not exist.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  // Parses an in-memory image (tests). The buffer must outlive the object.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> FromBuffer(std::span<const uint8_t> bytes);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Tensors in header order.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* Find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  absl::Status Parse();

  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::vector<SafetensorsTensor> tensors_;
  absl::flat_hash_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace tandem::embedding
