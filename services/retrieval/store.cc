#include "services/retrieval/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/util/absl_compat.h"

namespace tandem::retrieval {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFormat = "tandem-retrieval-collection";
constexpr int kVersion = 1;
constexpr const char* kFiles[] = {"documents.bin", "chunks.bin", "vectors.f32", "vector_chunks.i32",
                                  "dense.faiss"};

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(AbslView(what), " ", path, ": ", std::strerror(errno)));
}

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

absl::Status FsyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return Errno("open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : Errno("fsync", path);
}

// Creates `path` (must not exist), writes `bytes`, fsyncs.
absl::Status WriteFileSynced(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", path);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status s = Errno("write", path);
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    absl::Status s = Errno("fsync", path);
    ::close(fd);
    return s;
  }
  return ::close(fd) == 0 ? absl::OkStatus() : Errno("close", path);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::DataLossError(absl::StrCat("cannot read ", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Little-endian binary writer/reader (x86-64 and aarch64 are little endian;
// the format says so, so a big-endian port must byte-swap here).
class Writer {
 public:
  template <typename T>
  void Put(T v) {
    out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(std::string_view bytes, std::string file) : in_(bytes), file_(std::move(file)) {}
  template <typename T>
  bool Get(T* v) {
    if (in_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool GetString(std::string* s) {
    uint32_t n = 0;
    if (!Get(&n) || in_.size() - pos_ < n) return false;
    s->assign(in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == in_.size(); }
  absl::Status Truncated() const { return absl::DataLossError(absl::StrCat(file_, ": truncated record")); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  std::string file_;
};

std::string GenerationName(uint64_t generation) { return absl::StrFormat("gen-%010d", generation); }

bool ParseGenerationName(std::string_view name, uint64_t* generation) {
  if (!absl::StartsWith(AbslView(name), "gen-") || name.size() != 14) return false;
  uint64_t g = 0;
  for (char c : name.substr(4)) {
    if (c < '0' || c > '9') return false;
    g = g * 10 + static_cast<uint64_t>(c - '0');
  }
  *generation = g;
  return true;
}

// Serializes `data` into its files (name -> bytes).
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Encode(const CollectionData& data) {
  Writer docs, chunks, vectors, vector_chunks;
  for (const DocumentRecord& d : data.documents) {
    docs.PutString(d.id);
    docs.Put<int64_t>(d.tokens);
    docs.Put<int64_t>(d.bytes);
    docs.Put<int64_t>(d.first_chunk);
    docs.Put<int64_t>(d.chunk_count);
  }
  for (const ChunkRecord& c : data.chunks) {
    chunks.Put<int32_t>(c.document);
    chunks.Put<int64_t>(c.token_offset);
    chunks.Put<int32_t>(c.token_count);
    chunks.PutString(c.text);
  }
  if (!data.vectors.empty()) {
    vectors.str().assign(reinterpret_cast<const char*>(data.vectors.data()), data.vectors.size() * sizeof(float));
    vector_chunks.str().assign(reinterpret_cast<const char*>(data.vector_chunk.data()),
                               data.vector_chunk.size() * sizeof(int32_t));
  }
  std::string index;
  if (data.index != nullptr) {
    auto s = data.index->Serialize();
    if (!s.ok()) return s.status();
    index = std::move(*s);
  }
  std::vector<std::pair<std::string, std::string>> files;
  files.emplace_back("documents.bin", std::move(docs.str()));
  files.emplace_back("chunks.bin", std::move(chunks.str()));
  files.emplace_back("vectors.f32", std::move(vectors.str()));
  files.emplace_back("vector_chunks.i32", std::move(vector_chunks.str()));
  files.emplace_back("dense.faiss", std::move(index));
  return files;
}

// Writes generation `data.generation` into the folder `dir` (created here).
absl::Status WriteGeneration(const std::string& dir, const CollectionData& data, uint64_t* bytes) {
  std::error_code ec;
  if (!fs::create_directory(dir, ec) || ec) return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", ec.message()));
  auto files = Encode(data);
  if (!files.ok()) return files.status();
  nlohmann::json manifest;
  manifest["format"] = kFormat;
  manifest["version"] = kVersion;
  manifest["name"] = data.name;
  manifest["generation"] = data.generation;
  manifest["chunk_tokens"] = data.config.chunk_tokens;
  manifest["embed_window_tokens"] = data.config.embed_window_tokens;
  manifest["embedder"] = data.config.embedder;
  manifest["dim"] = data.config.dim;
  manifest["documents"] = data.documents.size();
  manifest["chunks"] = data.chunks.size();
  manifest["vectors"] = data.vector_chunk.size();
  manifest["tokens"] = data.tokens;
  manifest["index_type"] = data.index != nullptr ? std::string(data.index->type()) : "flat";
  uint64_t total = 0;
  for (const auto& [name, content] : *files) {
    if (absl::Status s = WriteFileSynced(dir + "/" + name, content); !s.ok()) return s;
    manifest["files"][name] = {{"bytes", content.size()}, {"fnv1a64", absl::StrFormat("%016x", Fnv1a64(content))}};
    total += content.size();
  }
  const std::string text = manifest.dump(2) + "\n";
  if (absl::Status s = WriteFileSynced(dir + "/manifest.json", text); !s.ok()) return s;
  total += text.size();
  *bytes = total;
  return FsyncPath(dir, /*directory=*/true);
}

// Atomically replaces `dir`/CURRENT with `generation_name`.
absl::Status WriteCurrent(const std::string& dir, const std::string& generation_name) {
  const std::string tmp = dir + "/CURRENT.tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  if (absl::Status s = WriteFileSynced(tmp, generation_name + "\n"); !s.ok()) return s;
  const std::string current = dir + "/CURRENT";
  if (::rename(tmp.c_str(), current.c_str()) != 0) return Errno("rename to", current);
  return FsyncPath(dir, /*directory=*/true);
}

absl::StatusOr<std::string> ReadCurrent(const std::string& dir, uint64_t* generation) {
  auto text = ReadFile(dir + "/CURRENT");
  if (!text.ok()) return text.status();
  std::string name = *text;
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  if (!ParseGenerationName(name, generation)) {
    return absl::DataLossError(absl::StrCat(dir, "/CURRENT: not a generation name: '", name.substr(0, 64), "'"));
  }
  return name;
}

absl::Status Decode(const std::string& gen_dir, const nlohmann::json& manifest,
                    const std::vector<std::string>& files, CollectionData* data) {
  const int dim = data->config.dim;
  const size_t n_docs = manifest.at("documents").get<size_t>();
  const size_t n_chunks = manifest.at("chunks").get<size_t>();
  const size_t n_vectors = manifest.at("vectors").get<size_t>();
  {
    Reader r(files[0], gen_dir + "/documents.bin");
    for (size_t i = 0; i < n_docs; ++i) {
      DocumentRecord d;
      if (!r.GetString(&d.id) || !r.Get(&d.tokens) || !r.Get(&d.bytes) || !r.Get(&d.first_chunk) ||
          !r.Get(&d.chunk_count)) {
        return r.Truncated();
      }
      if (d.first_chunk < 0 || d.chunk_count < 0 || static_cast<size_t>(d.first_chunk + d.chunk_count) > n_chunks) {
        return absl::DataLossError(absl::StrCat(gen_dir, "/documents.bin: document ", i, " has chunks outside [0, ",
                                                n_chunks, ")"));
      }
      data->documents.push_back(std::move(d));
    }
    if (!r.done()) return absl::DataLossError(absl::StrCat(gen_dir, "/documents.bin: trailing bytes"));
  }
  {
    Reader r(files[1], gen_dir + "/chunks.bin");
    for (size_t i = 0; i < n_chunks; ++i) {
      ChunkRecord c;
      if (!r.Get(&c.document) || !r.Get(&c.token_offset) || !r.Get(&c.token_count) || !r.GetString(&c.text)) {
        return r.Truncated();
      }
      if (c.document < 0 || static_cast<size_t>(c.document) >= n_docs) {
        return absl::DataLossError(absl::StrCat(gen_dir, "/chunks.bin: chunk ", i, " names document ", c.document));
      }
      data->chunks.push_back(std::move(c));
    }
    if (!r.done()) return absl::DataLossError(absl::StrCat(gen_dir, "/chunks.bin: trailing bytes"));
  }
  if (files[2].size() != n_vectors * static_cast<size_t>(dim) * sizeof(float) ||
      files[3].size() != n_vectors * sizeof(int32_t)) {
    return absl::DataLossError(absl::StrCat(gen_dir, ": vector files do not hold ", n_vectors, " rows of dim ", dim));
  }
  data->vectors.resize(n_vectors * static_cast<size_t>(dim));
  data->vector_chunk.resize(n_vectors);
  if (n_vectors > 0) {  // memcpy from/to an empty vector's null data() is undefined
    std::memcpy(data->vectors.data(), files[2].data(), files[2].size());
    std::memcpy(data->vector_chunk.data(), files[3].data(), files[3].size());
  }
  for (int32_t c : data->vector_chunk) {
    if (c < 0 || static_cast<size_t>(c) >= n_chunks) {
      return absl::DataLossError(absl::StrCat(gen_dir, "/vector_chunks.i32: chunk ", c, " out of range"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCollectionName(std::string_view name, std::string_view field) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": must be 1..128 bytes, got ", name.size()));
  }
  if (name[0] == '.') return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": must not start with '.'"));
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) return absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": only [A-Za-z0-9_.-] allowed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CollectionStore>> CollectionStore::Open(std::string data_dir, bool read_only) {
  if (data_dir.empty()) return absl::InvalidArgumentError("data_dir: must not be empty");
  std::error_code ec;
  if (read_only) {
    if (!fs::is_directory(data_dir, ec)) return absl::NotFoundError(absl::StrCat("data_dir: no folder ", data_dir));
    return std::unique_ptr<CollectionStore>(new CollectionStore(std::move(data_dir), true));
  }
  fs::create_directories(data_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("data_dir: cannot create ", data_dir, ": ", ec.message()));
  std::unique_ptr<CollectionStore> store(new CollectionStore(std::move(data_dir), false));
  for (const fs::directory_entry& e : fs::directory_iterator(store->dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (absl::StartsWith(name, ".tmp-") || absl::StartsWith(name, ".deleted-")) {
      fs::remove_all(e.path(), ec);  // an interrupted create or delete
      if (ec) return absl::InternalError(absl::StrCat("cannot remove ", e.path().string(), ": ", ec.message()));
    } else if (e.is_directory() && ValidateCollectionName(name, "").ok()) {
      if (absl::Status s = store->CleanCollection(name); !s.ok()) return s;
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("data_dir: cannot list ", store->dir_, ": ", ec.message()));
  return store;
}

absl::Status CollectionStore::CleanCollection(const std::string& name) const {
  const std::string dir = dir_ + "/" + name;
  if (!fs::exists(dir + "/CURRENT")) return absl::OkStatus();  // not a collection: not ours to touch
  uint64_t current = 0;
  auto current_name = ReadCurrent(dir, &current);
  if (!current_name.ok()) return current_name.status();  // never delete data we cannot account for
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    uint64_t g = 0;
    const bool stale = absl::StartsWith(f, ".tmp-") || f == "CURRENT.tmp" ||
                       (ParseGenerationName(f, &g) && f != *current_name);
    if (stale) fs::remove_all(e.path(), ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot remove ", e.path().string(), ": ", ec.message()));
  }
  return ec ? absl::InternalError(absl::StrCat("cannot list ", dir, ": ", ec.message())) : absl::OkStatus();
}

absl::Status CollectionStore::CheckWritable() const {
  if (!read_only_) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("collections in ", dir_, " are read-only here (the retrieval "
                                                    "service owns them)"));
}

std::string CollectionStore::TempName(std::string_view prefix) {
  return absl::StrCat(AbslView(prefix), ::getpid(), "-", temp_counter_.fetch_add(1));
}

absl::StatusOr<std::vector<std::string>> CollectionStore::List() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && ValidateCollectionName(name, "").ok() && fs::exists(e.path() / "CURRENT")) {
      names.push_back(name);
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", dir_, ": ", ec.message()));
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status CollectionStore::Create(const CollectionData& empty) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  const std::string final_dir = dir_ + "/" + empty.name;
  if (fs::exists(final_dir)) {
    return absl::AlreadyExistsError(absl::StrCat("name: collection '", empty.name, "' already exists"));
  }
  const std::string tmp = dir_ + "/" + TempName(".tmp-create-");
  std::error_code ec;
  if (!fs::create_directory(tmp, ec) || ec) return absl::InternalError(absl::StrCat("mkdir ", tmp, ": ", ec.message()));
  uint64_t bytes = 0;
  absl::Status s = WriteGeneration(tmp + "/" + GenerationName(empty.generation), empty, &bytes);
  if (s.ok()) s = WriteCurrent(tmp, GenerationName(empty.generation));
  if (s.ok() && ::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    s = (errno == EEXIST || errno == ENOTEMPTY)
            ? absl::AlreadyExistsError(absl::StrCat("name: collection '", empty.name, "' already exists"))
            : Errno("rename to", final_dir);
  }
  if (s.ok()) s = FsyncPath(dir_, /*directory=*/true);
  if (!s.ok()) fs::remove_all(tmp, ec);
  return s;
}

absl::Status CollectionStore::Commit(CollectionData& data) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  const std::string dir = dir_ + "/" + data.name;
  uint64_t current = 0;
  auto current_name = ReadCurrent(dir, &current);
  if (!current_name.ok()) return current_name.status();
  if (data.generation <= current) {
    return absl::InternalError(absl::StrCat("commit of generation ", data.generation, " over ", current));
  }
  const std::string tmp = dir + "/" + TempName(".tmp-");
  const std::string gen_name = GenerationName(data.generation);
  uint64_t bytes = 0;
  absl::Status s = WriteGeneration(tmp, data, &bytes);
  if (s.ok() && ::rename(tmp.c_str(), (dir + "/" + gen_name).c_str()) != 0) s = Errno("rename to", dir + "/" + gen_name);
  if (s.ok()) s = FsyncPath(dir, /*directory=*/true);
  if (s.ok()) s = WriteCurrent(dir, gen_name);  // the commit point
  std::error_code ec;
  if (!s.ok()) {
    fs::remove_all(tmp, ec);
    return s;
  }
  data.disk_bytes = bytes;
  // The previous generation is garbage now; a failure here only leaves files
  // that the next Open removes.
  fs::remove_all(dir + "/" + *current_name, ec);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<CollectionData>> CollectionStore::Load(const std::string& name,
                                                                      const DenseIndexOptions& index_options) const {
  const std::string dir = dir_ + "/" + name;
  if (!fs::exists(dir + "/CURRENT")) return absl::NotFoundError(absl::StrCat("collection '", name, "' not found"));
  uint64_t generation = 0;
  auto gen_name = ReadCurrent(dir, &generation);
  if (!gen_name.ok()) return gen_name.status();
  const std::string gen_dir = dir + "/" + *gen_name;
  auto manifest_text = ReadFile(gen_dir + "/manifest.json");
  if (!manifest_text.ok()) return manifest_text.status();
  auto data = std::make_shared<CollectionData>();
  data->name = name;
  data->generation = generation;
  std::vector<std::string> files;
  try {
    const nlohmann::json manifest = nlohmann::json::parse(*manifest_text);
    if (manifest.at("format").get<std::string>() != kFormat || manifest.at("version").get<int>() != kVersion) {
      return absl::DataLossError(absl::StrCat(gen_dir, "/manifest.json: unknown format or version"));
    }
    data->config.chunk_tokens = manifest.at("chunk_tokens").get<int>();
    data->config.embed_window_tokens = manifest.at("embed_window_tokens").get<int>();
    data->config.embedder = manifest.at("embedder").get<std::string>();
    data->config.dim = manifest.at("dim").get<int>();
    data->tokens = manifest.at("tokens").get<int64_t>();
    uint64_t total = manifest_text->size();
    for (const char* f : kFiles) {
      const nlohmann::json& entry = manifest.at("files").at(f);
      auto content = ReadFile(gen_dir + "/" + f);
      if (!content.ok()) return content.status();
      if (content->size() != entry.at("bytes").get<uint64_t>() ||
          absl::StrFormat("%016x", Fnv1a64(*content)) != entry.at("fnv1a64").get<std::string>()) {
        return absl::DataLossError(absl::StrCat(gen_dir, "/", f, ": size or checksum differs from the manifest"));
      }
      total += content->size();
      files.push_back(std::move(*content));
    }
    data->disk_bytes = total;
    if (absl::Status s = Decode(gen_dir, manifest, files, data.get()); !s.ok()) return s;
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(gen_dir, "/manifest.json: ", e.what()));
  }
  if (data->config.dim <= 0 || data->config.chunk_tokens <= 0) {
    return absl::DataLossError(absl::StrCat(gen_dir, "/manifest.json: bad dim or chunk_tokens"));
  }
  auto index = DenseIndex::Deserialize(files[4], data->config.dim, data->vector_count(), index_options);
  if (!index.ok()) return absl::DataLossError(absl::StrCat(gen_dir, "/dense.faiss: ", index.status().message()));
  data->index = std::move(*index);
  if (absl::Status s = RebuildDerived(data.get(), index_options); !s.ok()) return s;
  return data;
}

absl::Status CollectionStore::Remove(const std::string& name) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  const std::string dir = dir_ + "/" + name;
  const std::string doomed = dir_ + "/" + TempName(".deleted-");
  if (::rename(dir.c_str(), doomed.c_str()) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("collection '", name, "' not found"));
    return Errno("rename", dir);
  }
  if (absl::Status s = FsyncPath(dir_, /*directory=*/true); !s.ok()) return s;
  std::error_code ec;
  fs::remove_all(doomed, ec);  // leftovers are removed by the next Open
  return absl::OkStatus();
}

}  // namespace tandem::retrieval
