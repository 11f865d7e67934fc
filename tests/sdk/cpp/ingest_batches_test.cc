// How AddDocuments cuts documents into messages.
#include "ingest_batches.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tandem::sdk_internal {
namespace {

std::string Join(const std::vector<IngestBatch>& batches, const std::vector<Document>& docs, size_t doc) {
  std::string out;
  for (const IngestBatch& b : batches) {
    for (const DocumentPart& p : b.parts) {
      if (p.document == doc) out += docs[doc].text.substr(p.begin, p.end - p.begin);
    }
  }
  return out;
}

TEST(IngestBatches, NoDocumentsStillMakeOneBatchToCommit) {
  const std::vector<IngestBatch> batches = SplitIntoBatches({});
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_TRUE(batches[0].parts.empty());
}

TEST(IngestBatches, CountLimitStartsNewBatches) {
  std::vector<Document> docs(5, Document{.text = "ab"});
  const std::vector<IngestBatch> batches = SplitIntoBatches(docs, 1000, 2);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].documents_done, 2u);
  EXPECT_EQ(batches[2].documents_done, 5u);
}

TEST(IngestBatches, LongDocumentsGoInPartsCutAtCharacterBoundaries) {
  std::string text;
  for (int i = 0; i < 50; ++i) text += "\xC3\xA9";  // é, two bytes each
  std::vector<Document> docs = {{.text = "x"}, {.text = text}, {.text = "y"}};
  const std::vector<IngestBatch> batches = SplitIntoBatches(docs, 7, 64);
  ASSERT_GT(batches.size(), 3u);
  for (const IngestBatch& b : batches) {
    for (const DocumentPart& p : b.parts) {
      EXPECT_NE(static_cast<unsigned char>(docs[p.document].text[p.begin]) & 0xC0, 0x80) << "cut inside a character";
      EXPECT_EQ(p.partial, p.end < docs[p.document].text.size());
    }
  }
  for (size_t d = 0; d < docs.size(); ++d) EXPECT_EQ(Join(batches, docs, d), docs[d].text);
  EXPECT_EQ(batches.back().documents_done, 3u);
}

}  // namespace
}  // namespace tandem::sdk_internal
