#include "decoding/generation/open_target.h"

#include <span>
#include <utility>
#include <vector>

namespace tandem::decoding {

absl::StatusOr<std::unique_ptr<VerifySession>> OpenTarget(Verifier& verifier, const GenerationRequest& request,
                                                          Output& out) {
  VerifyOptions options;
  options.return_logprobs = request.logprobs;
  options.top_logprobs = request.top_logprobs;
  if (!request.prompt_logprobs) return verifier.Open(request.prompt, request.sampling, options);
  const std::span<const int32_t> prompt(request.prompt);
  auto session = verifier.Open(prompt.first(1), request.sampling, options);
  if (!session.ok()) return session.status();
  std::vector<float> logprobs;
  std::vector<std::vector<runtime::TokenLogprob>> top;
  if (absl::Status s = (*session)->AppendScoredWithAlternatives(prompt.subspan(1), request.top_logprobs, &logprobs,
                                                                request.top_logprobs > 0 ? &top : nullptr);
      !s.ok()) {
    return s;  // the session closes as it goes out of scope
  }
  out.SetPromptLogprobs(std::move(logprobs), std::move(top));
  return session;
}

}  // namespace tandem::decoding
