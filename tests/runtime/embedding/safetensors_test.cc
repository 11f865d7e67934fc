// Safetensors reader on small synthetic images: a valid file reads back
// exactly, and every kind of corruption is rejected with a message naming it
// (never a crash; these also run under ASan+UBSan).
#include "runtime/embedding/safetensors.h"

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/runtime/embedding/embedding_test_util.h"

namespace tandem::embedding {
namespace {

using ::testing::HasSubstr;
using testing::SafetensorsImage;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

absl::Status ParseStatus(const std::string& image) { return SafetensorsFile::FromBuffer(Bytes(image)).status(); }

std::string Data(size_t n) { return std::string(n, '\x01'); }

TEST(Safetensors, ValidFileReadsBack) {
  const float w[6] = {1, 2, 3, 4, 5, 6};
  const int64_t ids[1] = {42};
  std::string data(reinterpret_cast<const char*>(ids), 8);
  data.append(reinterpret_cast<const char*>(w), sizeof w);
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b.ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
      R"("a.w":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]},"empty":{"dtype":"F16","shape":[0,4],"data_offsets":[32,32]}})";
  const std::string image = SafetensorsImage(header, data);
  auto file = SafetensorsFile::FromBuffer(Bytes(image));
  ASSERT_TRUE(file.ok()) << file.status();
  const auto& f = **file;
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "b.ids");  // header order is kept
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const SafetensorsTensor* a = f.Find("a.w");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, SafetensorsDtype::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->num_elements, 6);
  EXPECT_EQ(a->size_bytes, 24u);
  EXPECT_EQ(a->file_offset, 8 + header.size() + 8);
  float back[6];
  std::memcpy(back, a->data, sizeof back);
  EXPECT_EQ(0, std::memcmp(back, w, sizeof w));
  EXPECT_EQ(f.Find("empty")->num_elements, 0);
  EXPECT_EQ(f.Find("missing"), nullptr);
  EXPECT_EQ(DtypeName(SafetensorsDtype::kBF16), "BF16");
  EXPECT_EQ(DtypeSize(SafetensorsDtype::kF64), 8u);
}

TEST(Safetensors, OpenMapsARealFileAndReportsMissingOnes) {
  const std::string path = testing::ScratchDir() + "/ok.safetensors";
  testing::WriteFile(path, testing::F32Safetensors({{"x", {2}, {1.5f, -2.0f}}}));
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  float v[2];
  std::memcpy(v, (*file)->Find("x")->data, sizeof v);
  EXPECT_EQ(v[0], 1.5f);
  EXPECT_EQ(v[1], -2.0f);

  auto missing = SafetensorsFile::Open(testing::ScratchDir() + "/nope.safetensors");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  const std::string tiny = testing::ScratchDir() + "/tiny.safetensors";
  testing::WriteFile(tiny, "abc");
  auto t = SafetensorsFile::Open(tiny);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("too short"));

  // A truncated copy of a valid file: the tensor now runs past the end.
  const std::string full = testing::F32Safetensors({{"x", {4}, {1, 2, 3, 4}}});
  const std::string cut = testing::ScratchDir() + "/cut.safetensors";
  testing::WriteFile(cut, full.substr(0, full.size() - 3));
  auto c = SafetensorsFile::Open(cut);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("past the data section"));
  EXPECT_THAT(c.status().message(), HasSubstr(cut));  // the path is named
}

struct CorruptCase {
  const char* label;
  std::string image;
  const char* message;
};

TEST(Safetensors, RejectsCorruptImages) {
  std::string huge_len(8, '\xff');  // header length 2^64-1
  const CorruptCase cases[] = {
      {"short", "abc", "too short"},
      {"header past end", huge_len + "{}", "exceeds"},
      {"header length one past", SafetensorsImage("{}", "").substr(0, 9), "exceeds"},
      {"not json", SafetensorsImage("{not json", ""), "not valid JSON"},
      {"json array", SafetensorsImage("[1,2]", ""), "not a JSON object"},
      {"trailing garbage", SafetensorsImage("{} x", ""), "not valid JSON"},
      {"entry not object", SafetensorsImage(R"({"a":3})", ""), "not a JSON object"},
      {"unknown dtype", SafetensorsImage(R"({"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}})", Data(4)),
       "unknown dtype 'F31'"},
      {"dtype not string", SafetensorsImage(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", Data(4)),
       "'dtype'"},
      {"missing shape", SafetensorsImage(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", Data(4)), "'shape'"},
      {"negative dim", SafetensorsImage(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", Data(4)),
       "shape has a negative"},
      {"fractional dim", SafetensorsImage(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", Data(4)),
       "shape has a negative"},
      {"count overflow",
       SafetensorsImage(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", Data(4)),
       "element count overflows"},
      {"bytes overflow",
       SafetensorsImage(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}})", Data(4)),
       "byte size overflows"},
      {"offsets missing", SafetensorsImage(R"({"a":{"dtype":"F32","shape":[1]}})", Data(4)), "data_offsets"},
      {"offsets one", SafetensorsImage(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", Data(4)),
       "data_offsets"},
      {"offsets negative", SafetensorsImage(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", Data(4)),
       "not non-negative"},
      {"begin after end", SafetensorsImage(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", Data(4)),
       "begin 4 > end 0"},
      {"end past data", SafetensorsImage(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", Data(4)),
       "past the data section"},
      {"span vs shape", SafetensorsImage(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", Data(4)),
       "shape needs 8"},
      {"overlap",
       SafetensorsImage(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                        Data(8)),
       "overlaps"},
      {"hole",
       SafetensorsImage(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                        Data(12)),
       "hole"},
      {"trailing bytes", SafetensorsImage(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", Data(9)),
       "trailing bytes"},
      {"duplicate",
       SafetensorsImage(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                        Data(8)),
       "duplicate key 'a'"},
      {"metadata not object", SafetensorsImage(R"({"__metadata__":[1]})", ""), "__metadata__"},
      {"metadata value", SafetensorsImage(R"({"__metadata__":{"k":1}})", ""), "not a string"},
      {"empty name", SafetensorsImage(R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", Data(4)),
       "empty tensor name"},
  };
  for (const CorruptCase& c : cases) {
    const absl::Status s = ParseStatus(c.image);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.label << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << c.label;
  }
}

// Every truncation and every single-byte change of a valid image either
// parses or fails cleanly (ASan/UBSan watch for out-of-bounds reads).
TEST(Safetensors, TruncationsAndByteFlipsNeverCrash) {
  const std::string image = testing::F32Safetensors({{"w", {2, 2}, {1, 2, 3, 4}}, {"b", {2}, {5, 6}}});
  for (size_t n = 0; n < image.size(); ++n) {
    EXPECT_FALSE(ParseStatus(image.substr(0, n)).ok()) << "prefix of " << n << " bytes parsed";
  }
  int parsed = 0;
  for (size_t i = 0; i < image.size(); ++i) {
    for (int delta : {1, 0x40, 0x80}) {
      std::string bad = image;
      bad[i] = static_cast<char>(bad[i] + delta);
      parsed += ParseStatus(bad).ok();
    }
  }
  EXPECT_GT(parsed, 0);  // flips inside tensor data keep the file valid
}

}  // namespace
}  // namespace tandem::embedding
