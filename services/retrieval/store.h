// On-disk collections with atomic commits. Layout under the data dir:
//
//   <data_dir>/<name>/CURRENT                 "gen-0000000007\n": the committed generation
//   <data_dir>/<name>/gen-0000000007/
//       manifest.json     format, version, config, counts, and for every file
//                         below its size and FNV-1a 64 checksum
//       documents.bin     per document: u32 id length, id, i64 tokens, i64 bytes,
//                         i64 first_chunk, i64 chunk_count
//       chunks.bin        per chunk: i32 document, i64 token_offset, i32 token_count,
//                         u32 text length, text
//       vectors.f32       window embeddings, row-major float32 (little endian)
//       vector_chunks.i32 chunk index of every row
//       dense.faiss       the FAISS index (faiss::write_index)
//
// A commit writes generation N+1 into a ".tmp-*" folder, fsyncs every file
// and the folder, renames it to gen-N+1, then replaces CURRENT the same way
// (write CURRENT.tmp, fsync, rename, fsync the folder). A crash at any point
// leaves CURRENT naming a complete generation; the leftovers (.tmp-*, a newer
// gen-* CURRENT does not name, CURRENT.tmp) are removed when the store opens.
// Collections are created the same way (a ".tmp-create-*" folder renamed to
// <name>) and deleted by renaming to ".deleted-*" before removing the files.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/retrieval/collection.h"

namespace tandem::retrieval {

// 1..128 bytes of [A-Za-z0-9_.-], not starting with '.' (so it never clashes
// with the store's own .tmp-/.deleted- names). INVALID_ARGUMENT naming
// `field` otherwise.
absl::Status ValidateCollectionName(std::string_view name, std::string_view field);

class CollectionStore {
 public:
  // Creates data_dir if needed and removes the leftovers of interrupted
  // creates, deletes and commits. read_only: another process (the retrieval
  // service) owns the folder; nothing is removed or written, and Create,
  // Commit and Remove answer FAILED_PRECONDITION.
  static absl::StatusOr<std::unique_ptr<CollectionStore>> Open(std::string data_dir, bool read_only = false);

  // Names of the stored collections, sorted.
  absl::StatusOr<std::vector<std::string>> List() const;
  // ALREADY_EXISTS if the name is taken.
  absl::Status Create(const CollectionData& empty);
  // Writes `data` as generation data.generation (> the committed one) and
  // makes it current. Sets data.disk_bytes.
  absl::Status Commit(CollectionData& data);
  // The committed generation (DATA_LOSS naming the file if a committed file
  // is missing, truncated or corrupt).
  absl::StatusOr<std::shared_ptr<CollectionData>> Load(const std::string& name,
                                                       const DenseIndexOptions& index_options) const;
  absl::Status Remove(const std::string& name);

  const std::string& data_dir() const { return dir_; }

 private:
  CollectionStore(std::string dir, bool read_only) : dir_(std::move(dir)), read_only_(read_only) {}
  absl::Status CheckWritable() const;
  absl::Status CleanCollection(const std::string& name) const;
  std::string TempName(std::string_view prefix);

  std::string dir_;
  bool read_only_ = false;
  std::atomic<uint64_t> temp_counter_{0};  // unique temp names within this process
};

}  // namespace tandem::retrieval
