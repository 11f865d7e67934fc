#include "services/retrieval/dense_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <exception>

#include "absl/strings/str_cat.h"

namespace tandem::retrieval {
namespace {

// FAISS reports errors by throwing; nothing may escape into the service.
template <typename F>
absl::Status Guard(const char* what, F&& f) {
  try {
    f();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("dense index ", what, ": ", e.what()));
  }
}

absl::Status CheckVectors(int dim, std::span<const float> vectors) {
  if (dim <= 0) return absl::InvalidArgumentError(absl::StrCat("dense index: dim must be > 0, got ", dim));
  if (vectors.size() % static_cast<size_t>(dim) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dense index: ", vectors.size(), " floats are not rows of ", dim));
  }
  return absl::OkStatus();
}

void SetEfSearch(faiss::Index* index, const DenseIndexOptions& options) {
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index)) hnsw->hnsw.efSearch = options.hnsw_ef_search;
}

}  // namespace

DenseIndex::DenseIndex(int dim, std::unique_ptr<faiss::Index> index, bool exact)
    : dim_(dim), index_(std::move(index)), exact_(exact) {}

DenseIndex::~DenseIndex() = default;

int64_t DenseIndex::size() const { return index_->ntotal; }

absl::StatusOr<std::unique_ptr<DenseIndex>> DenseIndex::Build(int dim, std::span<const float> vectors,
                                                              const DenseIndexOptions& options) {
  if (absl::Status s = CheckVectors(dim, vectors); !s.ok()) return s;
  const int64_t n = static_cast<int64_t>(vectors.size()) / dim;
  const bool exact = n < options.hnsw_min_vectors;
  std::unique_ptr<faiss::Index> index;
  absl::Status s = Guard("build", [&] {
    if (exact) {
      index = std::make_unique<faiss::IndexFlatIP>(dim);
    } else {
      auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(dim, options.hnsw_m, faiss::METRIC_INNER_PRODUCT);
      hnsw->hnsw.efConstruction = options.hnsw_ef_construction;
      index = std::move(hnsw);
    }
    if (n > 0) index->add(n, vectors.data());
    SetEfSearch(index.get(), options);
  });
  if (!s.ok()) return s;
  return std::unique_ptr<DenseIndex>(new DenseIndex(dim, std::move(index), exact));
}

absl::StatusOr<std::unique_ptr<DenseIndex>> DenseIndex::Deserialize(std::string_view bytes, int dim,
                                                                    int64_t expected_vectors,
                                                                    const DenseIndexOptions& options) {
  std::unique_ptr<faiss::Index> index;
  absl::Status s = Guard("load", [&] {
    faiss::VectorIOReader reader;
    reader.data.assign(bytes.begin(), bytes.end());
    index.reset(faiss::read_index(&reader));
  });
  if (!s.ok()) return s;
  if (index->d != dim || index->ntotal != expected_vectors) {
    return absl::DataLossError(absl::StrCat("dense index: holds ", index->ntotal, " vectors of dim ", index->d,
                                            ", expected ", expected_vectors, " of dim ", dim));
  }
  const bool exact = dynamic_cast<faiss::IndexFlat*>(index.get()) != nullptr;
  if (!exact && dynamic_cast<faiss::IndexHNSW*>(index.get()) == nullptr) {
    return absl::DataLossError("dense index: neither a flat nor an HNSW index");
  }
  SetEfSearch(index.get(), options);
  return std::unique_ptr<DenseIndex>(new DenseIndex(dim, std::move(index), exact));
}

absl::StatusOr<std::unique_ptr<DenseIndex>> DenseIndex::Extend(std::span<const float> all_vectors,
                                                               const DenseIndexOptions& options) const {
  if (absl::Status s = CheckVectors(dim_, all_vectors); !s.ok()) return s;
  const int64_t n = static_cast<int64_t>(all_vectors.size()) / dim_;
  if (n < size()) return absl::InvalidArgumentError("dense index: Extend with fewer vectors than indexed");
  if (exact_) return Build(dim_, all_vectors, options);
  std::unique_ptr<faiss::Index> index;
  // Copied through FAISS's own serialization: faiss::clone_index (1.7.3)
  // turns an IndexHNSWFlat into a type write_index cannot save.
  auto bytes = Serialize();
  if (!bytes.ok()) return bytes.status();
  absl::Status s = Guard("extend", [&] {
    faiss::VectorIOReader reader;
    reader.data.assign(bytes->begin(), bytes->end());
    index.reset(faiss::read_index(&reader));
    const int64_t old = index->ntotal;
    if (n > old) index->add(n - old, all_vectors.data() + static_cast<size_t>(old) * dim_);
    SetEfSearch(index.get(), options);
  });
  if (!s.ok()) return s;
  return std::unique_ptr<DenseIndex>(new DenseIndex(dim_, std::move(index), false));
}

absl::StatusOr<std::vector<DenseHit>> DenseIndex::Search(std::span<const float> query, int64_t k) const {
  if (static_cast<int>(query.size()) != dim_) {
    return absl::InvalidArgumentError(absl::StrCat("dense index: query has ", query.size(), " floats, dim ", dim_));
  }
  k = std::min(k, size());
  std::vector<DenseHit> hits;
  if (k <= 0) return hits;
  std::vector<float> distances(static_cast<size_t>(k));
  std::vector<faiss::Index::idx_t> labels(static_cast<size_t>(k));
  absl::Status s = Guard("search", [&] { index_->search(1, query.data(), k, distances.data(), labels.data()); });
  if (!s.ok()) return s;
  for (int64_t i = 0; i < k; ++i) {
    if (labels[i] < 0) continue;  // HNSW may find fewer than k
    hits.push_back(DenseHit{labels[i], distances[i]});
  }
  return hits;
}

absl::StatusOr<std::string> DenseIndex::Serialize() const {
  faiss::VectorIOWriter writer;
  absl::Status s = Guard("save", [&] { faiss::write_index(index_.get(), &writer); });
  if (!s.ok()) return s;
  return std::string(writer.data.begin(), writer.data.end());
}

}  // namespace tandem::retrieval
