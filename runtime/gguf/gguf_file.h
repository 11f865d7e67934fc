// GGUF reader. The file is untrusted input: every count, offset, size and
// string is bounds-checked at Open() time, so that once a GgufFile exists all
// of its views are valid for the lifetime of the object. Tensor data is
// memory-mapped and never copied, or (GgufMemory::kHugePages, for weights a
// CPU backend streams every step) read once into huge pages.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cpu/ggml_types.h"

namespace tandem::gguf {

// Metadata value types, ids fixed by the GGUF format.
enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5,
  kFloat32 = 6, kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11,
  kFloat64 = 12,
};

std::string_view ValueTypeName(ValueType type);

// One metadata value. Strings are views into the mapped file.
//
// Arrays are stored by element kind so that a corrupt or huge array can never
// cost much more memory than the bytes it occupies in the file: arrays of
// numbers/bools stay a zero-copy view of their packed little-endian bytes
// (array_data, decoded with ScalarAt), arrays of strings are a vector of views
// (array_strings), and only nested arrays become Values (array).
struct Value {
  ValueType type = ValueType::kUint8;
  // For scalars exactly one of these is meaningful, chosen by `type`.
  uint64_t u = 0;          // unsigned integers and bool
  int64_t i = 0;           // signed integers
  double f = 0;            // float32 / float64
  std::string_view s;      // string

  // type == kArray:
  ValueType array_type = ValueType::kUint8;  // element type
  uint64_t array_size = 0;                   // element count, whatever the kind
  std::span<const uint8_t> array_data;       // scalar elements, packed, from the file
  std::vector<std::string_view> array_strings;  // array_type == kString
  std::vector<Value> array;                     // array_type == kArray (nested arrays)

  bool is_integer() const;  // any of the eight integer types (not bool)
  // Element `index` of an array of scalars, as a scalar Value of array_type.
  // Precondition: type == kArray, array_type is a scalar type, index < array_size.
  Value ScalarAt(uint64_t index) const;
};

struct TensorInfo {
  std::string name;
  kernels::GgmlType type;
  std::vector<int64_t> dims;   // ggml order: dims[0] is the contiguous (row) length
  uint64_t offset = 0;         // relative to the data section
  size_t size_bytes = 0;       // whole tensor
  size_t row_bytes = 0;        // one row of dims[0] elements
  const uint8_t* data = nullptr;  // into the mapping, already bounds-checked

  int64_t num_elements() const;
  int64_t row_length() const { return dims.empty() ? 1 : dims[0]; }
  int64_t num_rows() const;    // product of dims[1..]
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

class HugePageImage;

// How Open holds the file's bytes: a read-only mapping of the file (pages
// come in on first touch and are shared with other processes through the
// page cache), or a private copy on transparent huge pages
// (huge_page_image.h: faster to stream, read in full at Open).
enum class GgufMemory { kMapped, kHugePages };

class GgufFile {
 public:
  // Maps (or reads) and validates the file. Errors name the problem and the byte offset.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path,
                                                       GgufMemory memory = GgufMemory::kMapped);
  // Parses an in-memory image (tests, fuzzing). The buffer must outlive the object.
  static absl::StatusOr<std::unique_ptr<GgufFile>> FromBuffer(std::span<const uint8_t> bytes);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }
  // Byte offset of the tensor data section (tensor offsets are relative to it).
  size_t data_offset() const { return data_offset_; }
  size_t file_size() const { return size_; }
  GgufMemory memory() const { return image_ != nullptr ? GgufMemory::kHugePages : GgufMemory::kMapped; }

  // Metadata, in file order.
  const std::vector<std::pair<std::string_view, Value>>& metadata() const { return metadata_; }
  const Value* Find(std::string_view key) const;

  // Typed getters: NotFound if missing, InvalidArgument naming the key if the
  // type does not fit. Integer getters accept any integer type whose value fits.
  absl::StatusOr<std::string_view> GetString(std::string_view key) const;
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
  absl::StatusOr<uint32_t> GetUint32(std::string_view key) const;
  absl::StatusOr<double> GetFloat(std::string_view key) const;  // float32/float64
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  // Arrays. The string array is returned as views into the mapping.
  absl::StatusOr<std::vector<std::string_view>> GetStringArray(std::string_view key) const;
  absl::StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;
  absl::StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  absl::Status Parse();

  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;  // munmap in the destructor
  std::unique_ptr<HugePageImage> image_;  // the bytes, when read onto huge pages
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;     // start of the tensor data section
  std::vector<std::pair<std::string_view, Value>> metadata_;
  absl::flat_hash_map<std::string_view, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  absl::flat_hash_map<std::string_view, size_t> tensor_index_;
};

}  // namespace tandem::gguf
