// Inner-product index over L2-normalized embeddings (inner product = cosine),
// on FAISS: exact (IndexFlatIP) below `hnsw_min_vectors` vectors, HNSW
// (IndexHNSWFlat, inner-product metric) from there on. Why the switch: an
// exact scan of 20k 384-d vectors is ~8M multiply-adds (well under a
// millisecond to a few ms), and exact results need no recall tuning; beyond
// that the scan grows linearly while HNSW stays logarithmic.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace faiss {
struct Index;
}

namespace tandem::retrieval {

struct DenseIndexOptions {
  int64_t hnsw_min_vectors = 20000;  // fewer vectors: exact flat index
  int hnsw_m = 32;                   // graph degree
  int hnsw_ef_construction = 200;
  int hnsw_ef_search = 256;          // search breadth (recall vs time)
};

struct DenseHit {
  int64_t id = 0;     // vector index in insertion order
  float score = 0;    // inner product
};

class DenseIndex {
 public:
  // `vectors`: n rows of `dim` floats.
  static absl::StatusOr<std::unique_ptr<DenseIndex>> Build(int dim, std::span<const float> vectors,
                                                           const DenseIndexOptions& options);
  // FAISS's own serialization (what Serialize wrote); checks dim and count.
  // Pass verified bytes (the store checks size and checksum first):
  // faiss::read_index (1.7.3) leaks the half-built index when it throws on
  // truncated input.
  static absl::StatusOr<std::unique_ptr<DenseIndex>> Deserialize(std::string_view bytes, int dim,
                                                                 int64_t expected_vectors,
                                                                 const DenseIndexOptions& options);
  ~DenseIndex();

  // A new index over `all_vectors` whose first size() rows are this index's
  // vectors: an HNSW index is copied and extended (no rebuild), a flat one
  // rebuilt (switching to HNSW once large enough). This index is unchanged.
  absl::StatusOr<std::unique_ptr<DenseIndex>> Extend(std::span<const float> all_vectors,
                                                     const DenseIndexOptions& options) const;

  // Up to k best vectors, best first. Thread-safe (const search).
  absl::StatusOr<std::vector<DenseHit>> Search(std::span<const float> query, int64_t k) const;

  absl::StatusOr<std::string> Serialize() const;

  int dim() const { return dim_; }
  int64_t size() const;
  bool exact() const { return exact_; }
  std::string_view type() const { return exact_ ? "flat" : "hnsw"; }

 private:
  DenseIndex(int dim, std::unique_ptr<faiss::Index> index, bool exact);
  int dim_;
  std::unique_ptr<faiss::Index> index_;
  bool exact_;
};

}  // namespace tandem::retrieval
