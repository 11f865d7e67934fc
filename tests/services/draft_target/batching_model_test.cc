// BatchingLanguageModel on the real SmolLM2-135M: four concurrent greedy
// decodes give bit-identical logits and tokens to each run alone.
#include "gtest/gtest.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/services/draft_target/batching_check.h"

namespace tandem::dt_test {
namespace {

TEST(BatchingModelTest, FourConcurrentSessionsMatchAlone) {
  runtime::ModelOptions options;
  options.n_threads = 2;
  auto model = runtime::Model::Load(RealModelPath("smollm2-135m"), options);
  ASSERT_TRUE(model.ok()) << model.status();
  const auto& tok = (*model)->tokenizer();
  std::vector<std::vector<int32_t>> prompts;
  for (const char* text : {"The capital of France is", "def fibonacci(n):",
                           "Once upon a time, in a small village by the sea, there lived an old fisherman who",
                           "1, 2, 3, 4,"}) {
    prompts.push_back(tok.Encode(text, /*add_special=*/true, /*parse_special=*/false));
    ASSERT_FALSE(prompts.back().empty());
  }
  batching::BatchingOptions batching;
  batching.prefill_chunk_tokens = 8;
  CheckBatchedEqualsAlone(**model, prompts, 16, batching);
}

}  // namespace
}  // namespace tandem::dt_test
