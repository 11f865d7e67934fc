// The decoding layer's types as the orchestrator service names them. The
// service is an adapter: it implements the decoding ports over gRPC
// (remote/) and serves the strategies (server/), so it uses these names on
// almost every line; importing them here, by explicit using-declarations,
// keeps them short without pulling in the whole decoding namespace.
#pragma once

#include "decoding/generation/generation.h"
#include "decoding/ports/drafter.h"
#include "decoding/ports/generation_ports.h"
#include "decoding/ports/retriever.h"
#include "decoding/ports/reward_scorer.h"
#include "decoding/ports/verifier.h"
#include "decoding/ports/vocabulary.h"

namespace tandem::orchestrator {

namespace spec = ::tandem::decoding::spec;

using decoding::ChunkingOptions;
using decoding::DraftDelta;
using decoding::Drafter;
using decoding::DraftOptions;
using decoding::DraftProposal;
using decoding::DraftSession;
using decoding::FinishReason;
using decoding::GenerationPorts;
using decoding::GenerationRequest;
using decoding::GenerationResult;
using decoding::ModelDescription;
using decoding::NextTokenInfo;
using decoding::RequestPorts;
using decoding::kKeepAllScores;
using decoding::RetrievalMode;
using decoding::RetrievalQuery;
using decoding::RetrievalResult;
using decoding::RetrievedChunk;
using decoding::Retriever;
using decoding::RewardItem;
using decoding::RewardScorer;
using decoding::RewardSpec;
using decoding::StreamCallback;
using decoding::StreamChunk;
using decoding::TokenDecoder;
using decoding::Verifier;
using decoding::VerifyOptions;
using decoding::VerifyResult;
using decoding::VerifySession;
using decoding::Vocabulary;

}  // namespace tandem::orchestrator
