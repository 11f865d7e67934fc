// GGUF parsing and validation. Layout (all little-endian):
//   magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x (string key | u32 value_type | value)
//   tensor_count x (string name | u32 n_dims | n_dims x u64 dim | u32 type | u64 offset)
//   padding to `general.alignment` | tensor data (offsets relative to here)
// where string = u64 length + bytes, and array = u32 element type + u64 count +
// elements. Every read goes through Cursor, which checks the remaining bytes
// first, and every count is checked against the bytes left before anything is
// allocated for it, so no input can read out of bounds or allocate much more
// than the file's own size.
#include "runtime/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/gguf/huge_page_image.h"

namespace tandem::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxDims = 4;
constexpr size_t kMaxTensorName = 64;  // GGML_MAX_NAME: longer names never load in ggml either
constexpr size_t kMaxKeyLength = 65535;
constexpr int kMaxArrayDepth = 8;      // bounds the parser's recursion
// Nested arrays are the one shape that costs a Value per element; nothing real
// uses many of them, so a cap keeps a hostile file from costing ~7x its size.
constexpr size_t kMaxNestedValues = size_t{1} << 20;
constexpr uint64_t kDefaultAlignment = 32;

// Debian's Abseil has its own absl::string_view (not std::string_view), which
// StrCat accepts; this converts our std views for it.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Corrupt(size_t offset, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("gguf: ", A(what), " (at byte offset ", offset, ")"));
}

bool IsScalarType(ValueType t) {
  return t != ValueType::kString && t != ValueType::kArray;
}

// Bytes of one scalar value; 0 for strings and arrays.
size_t ScalarSize(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    default: return 0;
  }
}

// Smallest encoding of one value of type t: used to cap counts before allocating.
size_t MinEncodedSize(ValueType t) {
  if (t == ValueType::kString) return 8;        // u64 length, empty string
  if (t == ValueType::kArray) return 4 + 8;     // element type + count, no elements
  return ScalarSize(t);
}

uint64_t LoadLe(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(p[k]) << (8 * k);
  return v;
}

// Decodes one scalar from its packed little-endian bytes (already bounds-checked).
Value DecodeScalar(ValueType t, const uint8_t* p) {
  Value v;
  v.type = t;
  const uint64_t raw = LoadLe(p, ScalarSize(t));
  switch (t) {
    case ValueType::kUint8: case ValueType::kUint16: case ValueType::kUint32:
    case ValueType::kUint64: case ValueType::kBool:
      v.u = raw;
      break;
    case ValueType::kInt8: v.i = static_cast<int8_t>(raw); break;
    case ValueType::kInt16: v.i = static_cast<int16_t>(raw); break;
    case ValueType::kInt32: v.i = static_cast<int32_t>(raw); break;
    case ValueType::kInt64: v.i = static_cast<int64_t>(raw); break;
    case ValueType::kFloat32: {
      const uint32_t bits = static_cast<uint32_t>(raw);
      float x;
      std::memcpy(&x, &bits, sizeof x);
      v.f = x;
      break;
    }
    case ValueType::kFloat64: std::memcpy(&v.f, &raw, sizeof v.f); break;
    default: break;
  }
  return v;
}

// Bounds-checked little-endian reader over the file image.
class Cursor {
 public:
  Cursor(const uint8_t* base, size_t size) : base_(base), size_(size) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  const uint8_t* here() const { return base_ + pos_; }

  absl::Status Need(size_t n, std::string_view what) const {
    if (n > remaining()) {
      return Corrupt(pos_, absl::StrCat("truncated file: ", A(what), " needs ", n, " bytes but only ",
                                        remaining(), " remain"));
    }
    return absl::OkStatus();
  }
  absl::Status Skip(size_t n, std::string_view what) {
    if (auto s = Need(n, what); !s.ok()) return s;
    pos_ += n;
    return absl::OkStatus();
  }
  absl::Status U32(uint32_t* out, std::string_view what) {
    if (auto s = Need(4, what); !s.ok()) return s;
    *out = static_cast<uint32_t>(LoadLe(here(), 4));
    pos_ += 4;
    return absl::OkStatus();
  }
  absl::Status U64(uint64_t* out, std::string_view what) {
    if (auto s = Need(8, what); !s.ok()) return s;
    *out = LoadLe(here(), 8);
    pos_ += 8;
    return absl::OkStatus();
  }
  absl::Status String(std::string_view* out, std::string_view what) {
    const size_t at = pos_;
    uint64_t len;
    if (auto s = U64(&len, absl::StrCat(A(what), " length")); !s.ok()) return s;
    if (len > remaining()) {
      return Corrupt(at, absl::StrCat(A(what), " has length ", len, " but only ", remaining(),
                                      " bytes remain in the file"));
    }
    *out = std::string_view(reinterpret_cast<const char*>(here()), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return absl::OkStatus();
  }

 private:
  const uint8_t* base_;
  size_t size_;
  size_t pos_ = 0;
};

struct ParseState {
  Cursor cur;
  size_t nested_values = 0;
};

std::string KeyContext(std::string_view key) { return absl::StrCat("value of key '", A(key), "'"); }

absl::Status ParseValue(ParseState& st, ValueType type, int depth, std::string_view key, Value* out) {
  Cursor& cur = st.cur;
  out->type = type;
  if (IsScalarType(type)) {
    const size_t n = ScalarSize(type);
    if (auto s = cur.Need(n, KeyContext(key)); !s.ok()) return s;
    const size_t at = cur.pos();
    *out = DecodeScalar(type, cur.here());
    if (type == ValueType::kBool && out->u > 1) {
      return Corrupt(at, absl::StrCat("key '", A(key), "': bool value ", out->u, " is not 0 or 1"));
    }
    return cur.Skip(n, KeyContext(key));
  }
  if (type == ValueType::kString) return cur.String(&out->s, KeyContext(key));

  // Array.
  if (depth >= kMaxArrayDepth) {
    return Corrupt(cur.pos(), absl::StrCat("key '", A(key), "': arrays nested deeper than ",
                                           kMaxArrayDepth));
  }
  const size_t type_at = cur.pos();
  uint32_t elem_type_raw;
  if (auto s = cur.U32(&elem_type_raw, absl::StrCat("array element type of key '", A(key), "'"));
      !s.ok()) {
    return s;
  }
  if (elem_type_raw > static_cast<uint32_t>(ValueType::kFloat64)) {
    return Corrupt(type_at, absl::StrCat("key '", A(key), "': unknown array element type ",
                                         elem_type_raw));
  }
  const auto elem_type = static_cast<ValueType>(elem_type_raw);
  const size_t count_at = cur.pos();
  uint64_t count;
  if (auto s = cur.U64(&count, absl::StrCat("array count of key '", A(key), "'")); !s.ok()) return s;
  // Every element takes at least MinEncodedSize bytes, so a count above this
  // cannot be genuine; checking it first keeps reserve() bounded by the file.
  if (count > cur.remaining() / MinEncodedSize(elem_type)) {
    return Corrupt(count_at, absl::StrCat("key '", A(key), "': array of ", count, " ",
                                          A(ValueTypeName(elem_type)), " elements cannot fit in the ",
                                          cur.remaining(), " bytes that remain"));
  }
  out->array_type = elem_type;
  out->array_size = count;
  const size_t n = static_cast<size_t>(count);
  if (IsScalarType(elem_type)) {
    const size_t bytes = n * ScalarSize(elem_type);  // <= remaining, no overflow
    out->array_data = std::span<const uint8_t>(cur.here(), bytes);
    if (elem_type == ValueType::kBool) {
      for (size_t k = 0; k < n; ++k) {
        if (cur.here()[k] > 1) {
          return Corrupt(cur.pos() + k, absl::StrCat("key '", A(key), "': bool array element ", k,
                                                     " is not 0 or 1"));
        }
      }
    }
    return cur.Skip(bytes, KeyContext(key));
  }
  if (elem_type == ValueType::kString) {
    out->array_strings.reserve(n);
    for (size_t k = 0; k < n; ++k) {
      std::string_view sv;
      if (auto s = cur.String(&sv, absl::StrCat("element ", k, " of key '", A(key), "'")); !s.ok()) {
        return s;
      }
      out->array_strings.push_back(sv);
    }
    return absl::OkStatus();
  }
  // Nested arrays.
  if (n > kMaxNestedValues - st.nested_values) {
    return Corrupt(count_at, absl::StrCat("key '", A(key), "': more than ", kMaxNestedValues,
                                          " nested array values in the file"));
  }
  st.nested_values += n;
  out->array.resize(n);
  for (size_t k = 0; k < n; ++k) {
    if (auto s = ParseValue(st, ValueType::kArray, depth + 1, key, &out->array[k]); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// a * b for positive int64 factors; false on overflow.
bool MulPositive(int64_t a, int64_t b, int64_t* out) {
  if (a > std::numeric_limits<int64_t>::max() / b) return false;
  *out = a * b;
  return true;
}

}  // namespace

std::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "unknown";
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kUint16:
    case ValueType::kInt16: case ValueType::kUint32: case ValueType::kInt32:
    case ValueType::kUint64: case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

Value Value::ScalarAt(uint64_t index) const {
  const size_t n = ScalarSize(array_type);
  return DecodeScalar(array_type, array_data.data() + static_cast<size_t>(index) * n);
}

int64_t TensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;  // validated at load: no overflow
  return n;
}

int64_t TensorInfo::num_rows() const {
  int64_t n = 1;
  for (size_t k = 1; k < dims.size(); ++k) n *= dims[k];
  return n;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path, GgufMemory memory) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = absl::StrCat("gguf: cannot open '", path, "': ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::PermissionDeniedError(msg);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("gguf: cannot stat '", path, "': ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("gguf: '", path, "' is not a regular file"));
  }
  if (st.st_size == 0) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("gguf: '", path, "' is empty"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->size_ = size;
  if (memory == GgufMemory::kHugePages) {
    absl::StatusOr<std::unique_ptr<HugePageImage>> image = HugePageImage::Read(fd, size, path);
    ::close(fd);
    if (!image.ok()) return image.status();
    file->image_ = std::move(*image);
    file->base_ = file->image_->data();
  } else {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int map_err = errno;
    ::close(fd);  // the mapping keeps the file alive
    if (map == MAP_FAILED) {
      return absl::InternalError(absl::StrCat("gguf: cannot map '", path, "': ", std::strerror(map_err)));
    }
    file->base_ = static_cast<const uint8_t*>(map);
    file->mapped_ = true;
  }
  if (auto s = file->Parse(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(s.message(), " in '", path, "'"));
  }
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBuffer(std::span<const uint8_t> bytes) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = "<buffer>";
  file->base_ = bytes.data();
  file->size_ = bytes.size();
  if (auto s = file->Parse(); !s.ok()) return s;
  return file;
}

GgufFile::~GgufFile() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

absl::Status GgufFile::Parse() {
  ParseState st{Cursor(base_, size_)};
  Cursor& cur = st.cur;

  // Header.
  uint32_t magic;
  if (auto s = cur.U32(&magic, "magic"); !s.ok()) return s;
  if (magic != kMagic) {
    return Corrupt(0, absl::StrFormat("bad magic 0x%08x, not a GGUF file", magic));
  }
  if (auto s = cur.U32(&version_, "version"); !s.ok()) return s;
  if (version_ == 1) {
    return absl::UnimplementedError(
        "gguf: version 1 files are not supported (32-bit counts); re-convert the model to GGUF v3");
  }
  if ((version_ & 0xffffu) == 0 && (version_ >> 16) != 0) {
    return absl::UnimplementedError(absl::StrCat(
        "gguf: big-endian GGUF (version ", __builtin_bswap32(version_), ") is not supported"));
  }
  if (version_ != 2 && version_ != 3) {
    return Corrupt(4, absl::StrCat("unsupported GGUF version ", version_, " (expected 2 or 3)"));
  }
  uint64_t tensor_count, kv_count;
  if (auto s = cur.U64(&tensor_count, "tensor count"); !s.ok()) return s;
  if (auto s = cur.U64(&kv_count, "metadata count"); !s.ok()) return s;
  // Minimum encodings: a kv is an empty key (8) + type (4) + one byte; a tensor
  // info is an empty name (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
  if (kv_count > cur.remaining() / 13) {
    return Corrupt(16, absl::StrCat("metadata count ", kv_count, " cannot fit in the ",
                                    cur.remaining(), " bytes that remain"));
  }
  if (tensor_count > cur.remaining() / 32) {
    return Corrupt(8, absl::StrCat("tensor count ", tensor_count, " cannot fit in the ",
                                   cur.remaining(), " bytes that remain"));
  }

  // Metadata.
  metadata_.reserve(static_cast<size_t>(kv_count));
  metadata_index_.reserve(static_cast<size_t>(kv_count));
  for (uint64_t k = 0; k < kv_count; ++k) {
    const size_t key_at = cur.pos();
    std::string_view key;
    if (auto s = cur.String(&key, absl::StrCat("key of metadata entry ", k)); !s.ok()) return s;
    if (key.empty() || key.size() > kMaxKeyLength) {
      return Corrupt(key_at, absl::StrCat("metadata entry ", k, " has a key of length ", key.size()));
    }
    const size_t type_at = cur.pos();
    uint32_t type_raw;
    if (auto s = cur.U32(&type_raw, absl::StrCat("type of key '", A(key), "'")); !s.ok()) return s;
    if (type_raw > static_cast<uint32_t>(ValueType::kFloat64)) {
      return Corrupt(type_at, absl::StrCat("key '", A(key), "' has unknown value type ", type_raw));
    }
    Value value;
    if (auto s = ParseValue(st, static_cast<ValueType>(type_raw), 0, key, &value); !s.ok()) {
      return s;
    }
    if (!metadata_index_.emplace(key, metadata_.size()).second) {
      return Corrupt(key_at, absl::StrCat("duplicate metadata key '", A(key), "'"));
    }
    metadata_.emplace_back(key, std::move(value));
  }

  // Alignment (power of two; the format's default when absent).
  alignment_ = kDefaultAlignment;
  if (const Value* a = Find("general.alignment"); a != nullptr) {
    if (!a->is_integer() || (a->type != ValueType::kUint64 && a->type != ValueType::kUint32 &&
                             a->type != ValueType::kUint16 && a->type != ValueType::kUint8)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gguf: general.alignment must be an unsigned integer, got ", A(ValueTypeName(a->type))));
    }
    // Capped so that aligning any in-file offset cannot overflow.
    if (a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > (uint64_t{1} << 30)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gguf: general.alignment ", a->u, " is not a power of two between 1 and 2^30"));
    }
    alignment_ = static_cast<size_t>(a->u);
  }

  // Tensor infos.
  tensors_.reserve(static_cast<size_t>(tensor_count));
  absl::flat_hash_set<std::string_view> names;
  names.reserve(static_cast<size_t>(tensor_count));
  for (uint64_t t = 0; t < tensor_count; ++t) {
    const size_t name_at = cur.pos();
    std::string_view name;
    if (auto s = cur.String(&name, absl::StrCat("name of tensor ", t)); !s.ok()) return s;
    if (name.empty() || name.size() > kMaxTensorName) {
      return Corrupt(name_at, absl::StrCat("tensor ", t, " has a name of length ", name.size(),
                                           " (must be 1..", kMaxTensorName, ")"));
    }
    if (!names.insert(name).second) {
      return Corrupt(name_at, absl::StrCat("duplicate tensor name '", A(name), "'"));
    }
    const std::string ctx = absl::StrCat("tensor '", A(name), "'");
    const size_t ndims_at = cur.pos();
    uint32_t n_dims;
    if (auto s = cur.U32(&n_dims, absl::StrCat("dimension count of ", ctx)); !s.ok()) return s;
    if (n_dims == 0 || n_dims > kMaxDims) {
      return Corrupt(ndims_at, absl::StrCat(ctx, " has ", n_dims, " dimensions (must be 1..",
                                            kMaxDims, ")"));
    }
    TensorInfo info;
    info.name = std::string(name);
    int64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const size_t dim_at = cur.pos();
      uint64_t dim;
      if (auto s = cur.U64(&dim, absl::StrCat("dimension ", d, " of ", ctx)); !s.ok()) return s;
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Corrupt(dim_at, absl::StrCat(ctx, " dimension ", d, " is ", dim,
                                            " (must be positive and fit int64)"));
      }
      if (!MulPositive(elements, static_cast<int64_t>(dim), &elements)) {
        return Corrupt(dim_at, absl::StrCat(ctx, " has more elements than fit in int64"));
      }
      info.dims.push_back(static_cast<int64_t>(dim));
    }
    const size_t type_at = cur.pos();
    uint32_t type_id;
    if (auto s = cur.U32(&type_id, absl::StrCat("type of ", ctx)); !s.ok()) return s;
    const kernels::TypeTraits* traits = kernels::FindTypeTraits(type_id);
    if (traits == nullptr) {
      return Corrupt(type_at, absl::StrCat(ctx, " has unknown ggml type id ", type_id));
    }
    info.type = static_cast<kernels::GgmlType>(type_id);
    if (info.dims[0] % traits->block_elems != 0) {
      return Corrupt(type_at, absl::StrCat(ctx, " of type ", traits->name, " has row length ",
                                           info.dims[0], ", not a multiple of its block size ",
                                           traits->block_elems));
    }
    // Bytes = blocks per row * block bytes * rows, all checked for overflow.
    const uint64_t row_blocks = static_cast<uint64_t>(info.dims[0] / traits->block_elems);
    const uint64_t rows = static_cast<uint64_t>(elements / info.dims[0]);
    const uint64_t limit = std::numeric_limits<size_t>::max();
    if (row_blocks > limit / traits->block_bytes ||
        row_blocks * traits->block_bytes > limit / rows) {
      return Corrupt(type_at, absl::StrCat(ctx, " is too large to address"));
    }
    info.row_bytes = static_cast<size_t>(row_blocks * traits->block_bytes);
    info.size_bytes = info.row_bytes * static_cast<size_t>(rows);
    const size_t offset_at = cur.pos();
    if (auto s = cur.U64(&info.offset, absl::StrCat("data offset of ", ctx)); !s.ok()) return s;
    if (info.offset % alignment_ != 0) {
      return Corrupt(offset_at, absl::StrCat(ctx, " data offset ", info.offset,
                                             " is not a multiple of the alignment ", alignment_));
    }
    tensors_.push_back(std::move(info));
  }

  // Data section: starts at the next multiple of the alignment. Files without
  // tensors may end before it.
  const size_t infos_end = cur.pos();
  data_offset_ = (infos_end + alignment_ - 1) / alignment_ * alignment_;  // no overflow: both < 2^62
  if (!tensors_.empty() && data_offset_ > size_) {
    return Corrupt(infos_end, absl::StrCat("truncated file: tensor data section would start at byte ",
                                           data_offset_, " but the file has ", size_, " bytes"));
  }
  const size_t data_size = tensors_.empty() ? 0 : size_ - data_offset_;
  for (TensorInfo& info : tensors_) {
    if (info.offset > data_size || info.size_bytes > data_size - info.offset) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gguf: tensor '", info.name, "' data [", info.offset, ", +", info.size_bytes,
          ") lies outside the data section of ", data_size, " bytes starting at byte offset ",
          data_offset_, " (truncated file?)"));
    }
    info.data = base_ + data_offset_ + info.offset;
  }
  // Overlap check: sorted by offset, each tensor must end before the next starts.
  std::vector<size_t> order(tensors_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = tensors_[order[k - 1]];
    const TensorInfo& next = tensors_[order[k]];
    if (prev.offset + prev.size_bytes > next.offset) {
      return absl::InvalidArgumentError(absl::StrCat("gguf: tensors '", prev.name, "' and '",
                                                     next.name, "' overlap in the data section"));
    }
  }
  // Index last: names are stable now that tensors_ no longer grows.
  tensor_index_.reserve(tensors_.size());
  for (size_t k = 0; k < tensors_.size(); ++k) tensor_index_.emplace(tensors_[k].name, k);
  return absl::OkStatus();
}

const Value* GgufFile::Find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

absl::Status Missing(std::string_view key) {
  return absl::NotFoundError(absl::StrCat("gguf: metadata key '", A(key), "' not found"));
}

absl::Status WrongType(std::string_view key, const Value& v, std::string_view wanted) {
  std::string got(A(ValueTypeName(v.type)));
  if (v.type == ValueType::kArray) absl::StrAppend(&got, " of ", A(ValueTypeName(v.array_type)));
  return absl::InvalidArgumentError(
      absl::StrCat("gguf: metadata key '", A(key), "' is ", got, ", expected ", A(wanted)));
}

bool IsUnsigned(ValueType t) {
  return t == ValueType::kUint8 || t == ValueType::kUint16 || t == ValueType::kUint32 ||
         t == ValueType::kUint64;
}

// An integer Value as int64; false if it is unsigned and above INT64_MAX.
bool IntegerAsInt64(const Value& v, int64_t* out) {
  if (IsUnsigned(v.type)) {
    if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(v.u);
    return true;
  }
  *out = v.i;
  return true;
}

}  // namespace

absl::StatusOr<std::string_view> GgufFile::GetString(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != ValueType::kString) return WrongType(key, *v, "string");
  return v->s;
}

absl::StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return Missing(key);
  int64_t out;
  if (!v->is_integer()) return WrongType(key, *v, "an integer");
  if (!IntegerAsInt64(*v, &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gguf: metadata key '", A(key), "' value ", v->u, " does not fit int64"));
  }
  return out;
}

absl::StatusOr<uint32_t> GgufFile::GetUint32(std::string_view key) const {
  auto i = GetInt(key);
  if (!i.ok()) return i.status();
  if (*i < 0 || *i > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gguf: metadata key '", A(key), "' value ", *i, " does not fit uint32"));
  }
  return static_cast<uint32_t>(*i);
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != ValueType::kFloat32 && v->type != ValueType::kFloat64) {
    return WrongType(key, *v, "float32 or float64");
  }
  return v->f;
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != ValueType::kBool) return WrongType(key, *v, "bool");
  return v->u != 0;
}

absl::StatusOr<std::vector<std::string_view>> GgufFile::GetStringArray(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != ValueType::kArray || v->array_type != ValueType::kString) {
    return WrongType(key, *v, "array of string");
  }
  return v->array_strings;
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return Missing(key);
  Value probe;
  probe.type = v->array_type;
  if (v->type != ValueType::kArray || !probe.is_integer()) {
    return WrongType(key, *v, "array of integers");
  }
  std::vector<int64_t> out(static_cast<size_t>(v->array_size));
  for (uint64_t k = 0; k < v->array_size; ++k) {
    if (!IntegerAsInt64(v->ScalarAt(k), &out[k])) {
      return absl::InvalidArgumentError(absl::StrCat("gguf: metadata key '", A(key), "' element ", k,
                                                     " does not fit int64"));
    }
  }
  return out;
}

absl::StatusOr<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != ValueType::kArray ||
      (v->array_type != ValueType::kFloat32 && v->array_type != ValueType::kFloat64)) {
    return WrongType(key, *v, "array of float32 or float64");
  }
  std::vector<float> out(static_cast<size_t>(v->array_size));
  for (uint64_t k = 0; k < v->array_size; ++k) {
    const double x = v->ScalarAt(k).f;
    // A float64 beyond float's range becomes +-inf (the cast itself would be UB).
    if (std::isfinite(x) && std::fabs(x) > std::numeric_limits<float>::max()) {
      out[k] = x > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
    } else {
      out[k] = static_cast<float>(x);
    }
  }
  return out;
}

}  // namespace tandem::gguf
