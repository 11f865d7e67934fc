#include "runtime/embedding/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace tandem::embedding {
namespace {

using Json = nlohmann::ordered_json;  // keeps the header's tensor order

// Debian's Abseil has its own absl::string_view; StrCat needs it.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Corrupt(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("safetensors: ", A(what)));
}

struct DtypeInfo {
  SafetensorsDtype dtype;
  std::string_view name;
  size_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {SafetensorsDtype::kBool, "BOOL", 1},      {SafetensorsDtype::kU8, "U8", 1},
    {SafetensorsDtype::kI8, "I8", 1},          {SafetensorsDtype::kF8E5M2, "F8_E5M2", 1},
    {SafetensorsDtype::kF8E4M3, "F8_E4M3", 1}, {SafetensorsDtype::kI16, "I16", 2},
    {SafetensorsDtype::kU16, "U16", 2},        {SafetensorsDtype::kF16, "F16", 2},
    {SafetensorsDtype::kBF16, "BF16", 2},      {SafetensorsDtype::kI32, "I32", 4},
    {SafetensorsDtype::kU32, "U32", 4},        {SafetensorsDtype::kF32, "F32", 4},
    {SafetensorsDtype::kF64, "F64", 8},        {SafetensorsDtype::kI64, "I64", 8},
    {SafetensorsDtype::kU64, "U64", 8},
};

std::optional<DtypeInfo> ParseDtype(std::string_view name) {
  for (const DtypeInfo& d : kDtypes) {
    if (d.name == name) return d;
  }
  return std::nullopt;
}

// A non-negative JSON integer that fits in uint64_t.
std::optional<uint64_t> AsUnsigned(const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

absl::Status ParseTensor(const std::string& name, const Json& entry, size_t data_size,
                         SafetensorsTensor* t) {
  const std::string where = absl::StrCat("tensor '", name, "': ");
  if (name.empty()) return Corrupt("empty tensor name");
  if (!entry.is_object()) return Corrupt(absl::StrCat(where, "entry is not a JSON object"));
  t->name = name;

  const auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    return Corrupt(absl::StrCat(where, "missing or non-string 'dtype'"));
  }
  const std::string& dtype_name = dtype_it->get_ref<const std::string&>();
  const std::optional<DtypeInfo> dtype = ParseDtype(dtype_name);
  if (!dtype) return Corrupt(absl::StrCat(where, "unknown dtype '", dtype_name, "'"));
  t->dtype = dtype->dtype;

  const auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array()) {
    return Corrupt(absl::StrCat(where, "missing or non-array 'shape'"));
  }
  // Element count with overflow checks: a dimension can be anything a JSON
  // number holds, and the product must not wrap around into a small size.
  uint64_t count = 1;
  for (const Json& d : *shape_it) {
    const std::optional<uint64_t> dim = AsUnsigned(d);
    if (!dim || *dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Corrupt(absl::StrCat(where, "shape has a negative, non-integer or huge dimension"));
    }
    if (__builtin_mul_overflow(count, *dim, &count)) {
      return Corrupt(absl::StrCat(where, "element count overflows"));
    }
    t->shape.push_back(static_cast<int64_t>(*dim));
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(count, static_cast<uint64_t>(dtype->size), &bytes) ||
      count > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Corrupt(absl::StrCat(where, "byte size overflows"));
  }
  t->num_elements = static_cast<int64_t>(count);

  const auto off_it = entry.find("data_offsets");
  if (off_it == entry.end() || !off_it->is_array() || off_it->size() != 2) {
    return Corrupt(absl::StrCat(where, "'data_offsets' must be an array [begin, end]"));
  }
  const std::optional<uint64_t> begin = AsUnsigned((*off_it)[0]);
  const std::optional<uint64_t> end = AsUnsigned((*off_it)[1]);
  if (!begin || !end) return Corrupt(absl::StrCat(where, "data_offsets are not non-negative integers"));
  if (*begin > *end) {
    return Corrupt(absl::StrCat(where, "data_offsets begin ", *begin, " > end ", *end));
  }
  if (*end > data_size) {
    return Corrupt(absl::StrCat(where, "data_offsets end ", *end, " is past the data section (",
                                data_size, " bytes)"));
  }
  if (*end - *begin != bytes) {
    return Corrupt(absl::StrCat(where, "data_offsets span ", *end - *begin, " bytes but ", dtype_name,
                                " shape needs ", bytes));
  }
  t->size_bytes = static_cast<size_t>(bytes);
  t->file_offset = static_cast<size_t>(*begin);  // made absolute by the caller
  return absl::OkStatus();
}

}  // namespace

std::string_view DtypeName(SafetensorsDtype dtype) {
  for (const DtypeInfo& d : kDtypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

size_t DtypeSize(SafetensorsDtype dtype) {
  for (const DtypeInfo& d : kDtypes) {
    if (d.dtype == dtype) return d.size;
  }
  return 0;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = absl::StrCat("safetensors: cannot open '", path, "': ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::PermissionDeniedError(msg);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("safetensors: '", path, "' is not a regular file"));
  }
  if (st.st_size < 8) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("safetensors: '", path, "' is ", st.st_size,
                                                   " bytes, too short for the 8-byte header length"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) {
    return absl::InternalError(absl::StrCat("safetensors: cannot map '", path, "': ", std::strerror(map_err)));
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->base_ = static_cast<const uint8_t*>(map);
  file->size_ = size;
  file->mapped_ = true;
  if (absl::Status s = file->Parse(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(s.message(), " in '", path, "'"));
  }
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::FromBuffer(std::span<const uint8_t> bytes) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = "<buffer>";
  file->base_ = bytes.data();
  file->size_ = bytes.size();
  if (absl::Status s = file->Parse(); !s.ok()) return s;
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

const SafetensorsTensor* SafetensorsFile::Find(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::Status SafetensorsFile::Parse() {
  if (size_ < 8) return Corrupt(absl::StrCat(size_, " bytes, too short for the 8-byte header length"));
  uint64_t header_len = 0;
  for (int k = 0; k < 8; ++k) header_len |= static_cast<uint64_t>(base_[k]) << (8 * k);
  if (header_len > size_ - 8) {
    return Corrupt(absl::StrCat("header length ", header_len, " exceeds the ", size_ - 8,
                                " bytes after the length field"));
  }
  if (header_len > kMaxHeaderBytes) {
    return Corrupt(absl::StrCat("header length ", header_len, " exceeds the limit of ", kMaxHeaderBytes));
  }
  if (header_len < 2 || base_[8] != '{') return Corrupt("header is not a JSON object");
  const char* hb = reinterpret_cast<const char*>(base_ + 8);
  const size_t data_start = 8 + static_cast<size_t>(header_len);
  const size_t data_size = size_ - data_start;

  // Duplicate top-level keys would silently shadow each other in the parsed
  // object; the callback sees every key as it is read.
  absl::flat_hash_set<std::string> seen;
  std::string duplicate;
  const Json::parser_callback_t on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second) duplicate = key;
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(hb, hb + header_len, on_event, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    return Corrupt(absl::StrCat("header is not valid JSON: ", e.what()));
  }
  if (!header.is_object()) return Corrupt("header is not a JSON object");
  if (!duplicate.empty()) return Corrupt(absl::StrCat("duplicate key '", duplicate, "' in the header"));

  tensors_.reserve(header.size());
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) return Corrupt("__metadata__ is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) return Corrupt(absl::StrCat("__metadata__ value of '", mk, "' is not a string"));
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    SafetensorsTensor t;
    if (absl::Status s = ParseTensor(key, value, data_size, &t); !s.ok()) return s;
    t.data = base_ + data_start + t.file_offset;
    t.file_offset += data_start;
    index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  // The format requires the data section to be covered exactly: sorted by
  // offset, each tensor starts where the previous one ended and the last one
  // ends at the end of the file. This also rules out overlapping tensors.
  std::vector<const SafetensorsTensor*> by_offset;
  for (const SafetensorsTensor& t : tensors_) by_offset.push_back(&t);
  std::stable_sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->file_offset != b->file_offset ? a->file_offset < b->file_offset : a->size_bytes < b->size_bytes;
  });
  size_t expect = data_start;
  for (const SafetensorsTensor* t : by_offset) {
    if (t->file_offset < expect) {
      return Corrupt(absl::StrCat("tensor '", t->name, "' overlaps the previous tensor (data_offsets begin ",
                                  t->file_offset - data_start, ", previous end ", expect - data_start, ")"));
    }
    if (t->file_offset > expect) {
      return Corrupt(absl::StrCat("hole in the data section before tensor '", t->name, "' (bytes ",
                                  expect - data_start, "..", t->file_offset - data_start, ")"));
    }
    expect += t->size_bytes;
  }
  if (expect != size_) {
    return Corrupt(absl::StrCat("data section has ", size_ - expect, " trailing bytes no tensor covers"));
  }
  return absl::OkStatus();
}

}  // namespace tandem::embedding
