#include "ingest_batches.h"

#include <algorithm>
#include <string>

namespace tandem::sdk_internal {
namespace {

bool Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The largest cut in (begin, limit] that does not split a UTF-8 character;
// when the room is smaller than the character at `begin`, the first boundary
// after it (a part always makes progress and never splits a character).
size_t CharBoundary(const std::string& text, size_t begin, size_t limit) {
  if (limit >= text.size()) return text.size();
  size_t cut = limit;
  while (cut > begin && Continuation(text[cut])) --cut;
  if (cut > begin) return cut;
  cut = begin + 1;
  while (cut < text.size() && Continuation(text[cut])) ++cut;
  return cut;
}

}  // namespace

v1::AddDocumentsRequest IngestBatch::ToRequest(const std::vector<Document>& documents, std::string_view collection,
                                               bool commit) const {
  v1::AddDocumentsRequest request;
  request.set_collection(std::string(collection));
  for (const DocumentPart& part : parts) {
    const Document& d = documents[part.document];
    v1::Document* out = request.add_documents();
    out->set_id(d.id);
    out->set_text(d.text.substr(part.begin, part.end - part.begin));
    out->set_partial(part.partial);
  }
  request.set_commit(commit);
  return request;
}

std::vector<IngestBatch> SplitIntoBatches(const std::vector<Document>& documents, size_t max_bytes,
                                          size_t max_documents) {
  std::vector<IngestBatch> batches(1);
  size_t bytes = 0;
  for (size_t i = 0; i < documents.size(); ++i) {
    const std::string& text = documents[i].text;
    size_t begin = 0;
    do {
      if (batches.back().parts.size() == max_documents || (bytes >= max_bytes && !batches.back().parts.empty())) {
        batches.emplace_back();
        batches.back().documents_done = batches[batches.size() - 2].documents_done;
        bytes = 0;
      }
      const size_t room = max_bytes > bytes ? max_bytes - bytes : 1;
      const size_t end = CharBoundary(text, begin, begin + room);
      const bool partial = end < text.size();
      batches.back().parts.push_back({i, begin, end, partial});
      if (!partial) batches.back().documents_done += 1;
      bytes += end - begin;
      begin = end;
    } while (begin < text.size());
  }
  return batches;
}

}  // namespace tandem::sdk_internal
