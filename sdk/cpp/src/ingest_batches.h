// How AddDocuments cuts documents into stream messages: at most 64 documents
// or about 1 MiB of text per message (the server's 4 MiB receive limit stays
// far away), a longer document sent in parts (Document.partial) cut at UTF-8
// character boundaries.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "tandem/sdk/retrieval.h"
#include "tandem/v1/retrieval.pb.h"

namespace tandem::sdk_internal {

inline constexpr size_t kMaxBatchBytes = 1 << 20;
inline constexpr size_t kMaxBatchDocuments = 64;

// A byte range of one document.
struct DocumentPart {
  size_t document = 0;
  size_t begin = 0;
  size_t end = 0;
  bool partial = false;  // more of this document follows
};

struct IngestBatch {
  std::vector<DocumentPart> parts;
  size_t documents_done = 0;  // documents complete after this batch
  v1::AddDocumentsRequest ToRequest(const std::vector<Document>& documents, std::string_view collection,
                                    bool commit) const;
};

// At least one batch (an empty one for no documents, which still commits).
std::vector<IngestBatch> SplitIntoBatches(const std::vector<Document>& documents, size_t max_bytes = kMaxBatchBytes,
                                          size_t max_documents = kMaxBatchDocuments);

}  // namespace tandem::sdk_internal
