// The type table: sizes of every ggml type id tandem knows, so the GGUF reader
// can size and bounds-check tensors even of types it cannot compute with.
#include "kernels/cpu/ggml_types.h"

#include <array>
#include <cstdint>

namespace tandem::kernels {
namespace {

struct Entry {
  uint32_t id;
  TypeTraits traits;
};

// ids 4, 5 (q4_2, q4_3) and 31..33 (removed repacked q4_0 variants) are gone
// from the format and stay unknown on purpose.
constexpr std::array kEntries = {
    Entry{0, {"f32", 1, 4, true}},
    Entry{1, {"f16", 1, 2, true}},
    Entry{2, {"q4_0", kQK4_0, sizeof(BlockQ4_0), true}},
    Entry{3, {"q4_1", kQK4_1, sizeof(BlockQ4_1), true}},
    Entry{6, {"q5_0", kQK5_0, sizeof(BlockQ5_0), true}},
    Entry{7, {"q5_1", kQK5_1, sizeof(BlockQ5_1), true}},
    Entry{8, {"q8_0", kQK8_0, sizeof(BlockQ8_0), true}},
    Entry{9, {"q8_1", kQK8_1, sizeof(BlockQ8_1), false}},
    Entry{10, {"q2_K", kQK_K, sizeof(BlockQ2_K), true}},
    Entry{11, {"q3_K", kQK_K, sizeof(BlockQ3_K), true}},
    Entry{12, {"q4_K", kQK_K, sizeof(BlockQ4_K), true}},
    Entry{13, {"q5_K", kQK_K, sizeof(BlockQ5_K), true}},
    Entry{14, {"q6_K", kQK_K, sizeof(BlockQ6_K), true}},
    Entry{15, {"q8_K", kQK_K, sizeof(BlockQ8_K), true}},
    Entry{16, {"iq2_xxs", kQK_K, 2 + kQK_K / 4, false}},
    Entry{17, {"iq2_xs", kQK_K, 2 + kQK_K / 4 + kQK_K / 32, false}},
    Entry{18, {"iq3_xxs", kQK_K, 2 + 3 * kQK_K / 8, false}},
    Entry{19, {"iq1_s", kQK_K, 2 + kQK_K / 8 + kQK_K / 16, false}},
    Entry{20, {"iq4_nl", 32, 2 + 16, false}},
    Entry{21, {"iq3_s", kQK_K, 2 + kQK_K / 4 + kQK_K / 8 + kQK_K / 32 + 4, false}},
    Entry{22, {"iq2_s", kQK_K, 2 + kQK_K / 4 + kQK_K / 16, false}},
    Entry{23, {"iq4_xs", kQK_K, 2 + 2 + kQK_K / 2 + kQK_K / 64, false}},
    Entry{24, {"i8", 1, 1, false}},
    Entry{25, {"i16", 1, 2, false}},
    Entry{26, {"i32", 1, 4, false}},
    Entry{27, {"i64", 1, 8, false}},
    Entry{28, {"f64", 1, 8, false}},
    Entry{29, {"iq1_m", kQK_K, kQK_K / 8 + kQK_K / 16 + kQK_K / 32, false}},
    Entry{30, {"bf16", 1, 2, true}},
};

}  // namespace

const TypeTraits* FindTypeTraits(uint32_t type_id) {
  for (const Entry& e : kEntries) {
    if (e.id == type_id) return &e.traits;
  }
  return nullptr;
}

size_t RowBytes(GgmlType type, int64_t n) {
  const TypeTraits* t = FindTypeTraits(static_cast<uint32_t>(type));
  if (t == nullptr || n < 0 || n % t->block_elems != 0) return 0;
  const uint64_t blocks = static_cast<uint64_t>(n / t->block_elems);
  if (blocks > SIZE_MAX / t->block_bytes) return 0;  // a row this large cannot exist
  return static_cast<size_t>(blocks) * t->block_bytes;
}

}  // namespace tandem::kernels
