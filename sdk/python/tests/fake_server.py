"""An in-process tandem server for unit tests: the generated servicer interfaces implemented with
scripted behaviour (streaming, status codes, slow streams, UNAVAILABLE before success) and a record
of what each call received, so tests can assert on both sides of the wire."""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import grpc

from tandem._proto.tandem.v1 import (common_pb2, generation_pb2, generation_pb2_grpc, retrieval_pb2,
                                     retrieval_pb2_grpc, reward_pb2, reward_pb2_grpc)


@dataclass
class Record:
    """What the server saw: calls per method, requests, metadata, and cancellations."""
    attempts: Dict[str, int] = field(default_factory=dict)
    requests: List[object] = field(default_factory=list)
    metadata: List[Dict[str, str]] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, method: str, request: object, context: grpc.ServicerContext) -> None:
        with self.lock:
            self.attempts[method] = self.attempts.get(method, 0) + 1
            self.requests.append(request)
            self.metadata.append(dict(context.invocation_metadata()))


class Behaviour:
    """Knobs a test sets before calling: failures and pacing."""

    def __init__(self) -> None:
        self.unavailable_first: Dict[str, int] = {}  # method -> calls to fail with UNAVAILABLE first
        self.chunk_delay_s = 0.0                     # sleep before each Generate chunk
        self.unavailable_after_first_chunk = False   # Generate: one chunk, then UNAVAILABLE
        self.required_token: Optional[str] = None    # UNAUTHENTICATED unless "Bearer <token>" is sent

    def gate(self, method: str, record: Record, context: grpc.ServicerContext) -> None:
        """Applies the failure knobs (aborts the call when one fires)."""
        if self.required_token is not None:
            if dict(context.invocation_metadata()).get("authorization") != f"Bearer {self.required_token}":
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "authorization: missing or wrong bearer token")
        with record.lock:
            left = self.unavailable_first.get(method, 0)
            if left > 0:
                self.unavailable_first[method] = left - 1
        if left > 0:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{method}: backend restarting")


def _stats(request: generation_pb2.GenerateRequest, prompt_tokens: int, generated: int) -> common_pb2.Stats:
    strategy = request.strategy.decode() or "speculative"
    stats = common_pb2.Stats(strategy=strategy, prompt_tokens=prompt_tokens, generated_tokens=generated,
                             e2e_latency_ms=12.5, time_to_first_token_ms=1.5, target_calls=generated)
    if strategy == "speculative":
        stats.drafter = "model"
        sp = stats.speculation
        sp.num_drafts, sp.drafted_tokens, sp.accepted_tokens = 2, 8, 6
        sp.acceptance_rate, sp.mean_acceptance_length = 0.75, 4.0
        sp.accepted_per_position.extend([2, 2, 1, 1])
        sp.drafted_per_position.extend([2, 2, 2, 2])
        sp.acceptance_per_position.extend([1.0, 1.0, 0.5, 0.5])
        sp.final_gamma = 4
    if strategy == "best_of_n":
        stats.reward.final_reward = 0.875
        stats.reward.calls, stats.reward.items = 1, 4
        stats.flops.target, stats.flops.total = 1e9, 1e9
    return stats


class FakeGeneration(generation_pb2_grpc.GenerationServicer):
    """Generate echoes the prompt's words as one chunk each (token id = word index), then the final
    message; strategy "bogus" or a "gamma" outside [1, 32] is INVALID_ARGUMENT like the real server."""

    def __init__(self, record: Record, behaviour: Behaviour) -> None:
        self.record, self.behaviour = record, behaviour

    def Generate(self, request, context):
        self.record.seen("Generate", request, context)
        self.behaviour.gate("Generate", self.record, context)
        if request.strategy == b"bogus":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "strategy: unknown strategy 'bogus' (known: target_only, speculative)")
        if request.HasField("gamma") and not 1 <= request.gamma <= 32:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"gamma: must be in [1, 32], got {request.gamma}")
        kind = request.WhichOneof("input")
        if kind == "messages":
            words = [m.content.decode() for m in request.messages.messages]
        elif kind == "prompt_tokens":
            words = [f"<{t}>" for t in request.prompt_tokens.ids]
        else:
            words = request.prompt.decode().split()
        if request.HasField("max_tokens"):
            words = words[:request.max_tokens]
        request_id = request.request_id.decode() or "srv-1"
        # The call ends while the handler sleeps, or while it waits in `yield` (then the generator is
        # simply closed): the termination callback sees both; `done` tells a normal end apart.
        done = threading.Event()
        context.add_callback(lambda: None if done.is_set() else self.record.cancelled.set())
        for i, word in enumerate(words):
            if self.behaviour.chunk_delay_s:
                time.sleep(self.behaviour.chunk_delay_s)
            if not context.is_active():  # the client cancelled or its deadline passed
                return
            yield generation_pb2.GenerateResponse(
                request_id=request_id, chunk=generation_pb2.GenerateChunk(token_ids=[i], text=word + " "))
            if self.behaviour.unavailable_after_first_chunk:
                context.abort(grpc.StatusCode.UNAVAILABLE, "target service went away mid-stream")
        done.set()
        yield generation_pb2.GenerateResponse(request_id=request_id, complete=generation_pb2.GenerateComplete(
            finish_reason=common_pb2.FINISH_REASON_LENGTH if request.HasField("max_tokens") else common_pb2.FINISH_REASON_STOP,
            stats=_stats(request, len(words), len(words)), text_tail="\u2026"))

    def Abort(self, request, context):
        self.record.seen("Abort", request, context)
        return generation_pb2.AbortResponse(found=request.request_id == "running")

    def ListModels(self, request, context):
        self.record.seen("ListModels", request, context)
        self.behaviour.gate("ListModels", self.record, context)
        model = common_pb2.ModelInfo(name="smollm2-135m", arch="llama", vocab_size=49152, context_length=8192,
                                     role="target", eos_token_id=2, parameters=134_515_008)
        return generation_pb2.ListModelsResponse(models=[model], draft_models=[model])

    def GetInfo(self, request, context):
        self.record.seen("GetInfo", request, context)
        self.behaviour.gate("GetInfo", self.record, context)
        gamma = generation_pb2.StrategyParam(name="gamma", description="draft length, 1..32", default_value="4")
        return generation_pb2.GetInfoResponse(
            version="0.1.0", default_strategy="speculative", default_model="smollm2-135m", drafter="model",
            mode="remote", strategies=[generation_pb2.StrategyInfo(name="target_only", description="baseline"),
                                       generation_pb2.StrategyInfo(name="speculative", description="lossless",
                                                                   params=[gamma])])


class FakeReward(reward_pb2_grpc.RewardServicer):
    """Score: the response's length in characters (backend "length" by default)."""

    def __init__(self, record: Record, behaviour: Behaviour) -> None:
        self.record, self.behaviour = record, behaviour

    def Score(self, request, context):
        self.record.seen("Score", request, context)
        self.behaviour.gate("Score", self.record, context)
        if not request.items:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "items: at least one item is needed")
        return reward_pb2.ScoreResponse(scores=[float(len(i.response)) for i in request.items],
                                        backend=request.spec.backend or "length")

    def ScoreSteps(self, request, context):
        self.record.seen("ScoreSteps", request, context)
        return reward_pb2.ScoreStepsResponse(scores=[1.0 / (i + 1) for i in range(len(request.steps))],
                                             backend=request.spec.backend or "judge")

    def ListBackends(self, request, context):
        self.record.seen("ListBackends", request, context)
        return reward_pb2.ListBackendsResponse(
            backends=[reward_pb2.RewardBackendInfo(name="judge", supports_steps=True, is_default=True),
                      reward_pb2.RewardBackendInfo(name="length")], default_backend="judge")


class FakeRetrieval(retrieval_pb2_grpc.RetrievalServicer):
    """Collections in memory, one chunk per document, search = count of query words in the chunk.
    AddDocuments follows the real protocol: parts joined, progress per message, atomic commit."""

    def __init__(self, record: Record, behaviour: Behaviour) -> None:
        self.record, self.behaviour = record, behaviour
        self.collections: Dict[str, Dict[str, str]] = {}

    def _stats(self, name: str) -> retrieval_pb2.CollectionStats:
        docs = self.collections[name]
        return retrieval_pb2.CollectionStats(name=name, documents=len(docs), chunks=len(docs),
                                             tokens=sum(len(t.split()) for t in docs.values()), chunk_tokens=512,
                                             index_type="flat")

    def CreateCollection(self, request, context):
        self.record.seen("CreateCollection", request, context)
        self.behaviour.gate("CreateCollection", self.record, context)
        if not request.name or request.name.startswith("."):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"name: invalid collection name '{request.name}'")
        if request.name in self.collections:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"name: collection '{request.name}' exists")
        self.collections[request.name] = {}
        return self._stats(request.name)

    def DeleteCollection(self, request, context):
        self.record.seen("DeleteCollection", request, context)
        if self.collections.pop(request.name, None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"name: no collection '{request.name}'")
        return retrieval_pb2.DeleteCollectionResponse()

    def AddDocuments(self, request_iterator, context):
        staged: Dict[str, str] = {}
        name, pending_id, pending_text, n = "", None, b"", 0
        for req in request_iterator:
            self.record.seen("AddDocuments", req, context)
            if not name:
                name = req.collection
                if name not in self.collections:
                    context.abort(grpc.StatusCode.NOT_FOUND, f"collection: no collection '{name}'")
            for doc in req.documents:
                if b"FAIL" in doc.text:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"documents[{n}].text: rejected")
                pending_id = doc.id if pending_id is None else pending_id
                pending_text += doc.text
                if not doc.partial:
                    staged[pending_id.decode() or f"doc-{len(self.collections[name]) + len(staged)}"] = \
                        pending_text.decode()
                    pending_id, pending_text, n = None, b"", n + 1
            if req.commit:
                self.collections[name].update(staged)
                yield retrieval_pb2.AddDocumentsResponse(documents=len(staged), chunks=len(staged), committed=True,
                                                         stats=self._stats(name))
                return
            yield retrieval_pb2.AddDocumentsResponse(documents=len(staged), chunks=len(staged))
        context.abort(grpc.StatusCode.ABORTED, "commit: the stream ended without a commit")

    def Search(self, request, context):
        self.record.seen("Search", request, context)
        self.behaviour.gate("Search", self.record, context)
        if request.WhichOneof("source") == "collection":
            if request.collection not in self.collections:
                context.abort(grpc.StatusCode.NOT_FOUND, f"collection: no collection '{request.collection}'")
            docs = list(self.collections[request.collection].items())
        else:
            docs = [("", p) for p in request.context.text.decode().split("\n\n")]
        words = request.query.decode().lower().split()
        scored = [(sum(w in text.lower() for w in words), i, doc_id, text) for i, (doc_id, text) in enumerate(docs)]
        scored.sort(key=lambda s: (-s[0], s[1]))
        chunks = [retrieval_pb2.RetrievedChunk(text=t.encode(), position=i, score=float(s), document_id=d.encode(),
                                               token_count=len(t.split()))
                  for s, i, d, t in scored[:request.top_k]
                  if not request.HasField("min_score") or s >= request.min_score]
        return retrieval_pb2.SearchResponse(chunks=chunks, total_chunks=len(docs), elapsed_ms=0.1)

    def GetCollectionStats(self, request, context):
        self.record.seen("GetCollectionStats", request, context)
        if request.name not in self.collections:
            context.abort(grpc.StatusCode.NOT_FOUND, f"name: no collection '{request.name}'")
        return self._stats(request.name)

    def ListCollections(self, request, context):
        self.record.seen("ListCollections", request, context)
        return retrieval_pb2.ListCollectionsResponse(collections=[self._stats(n) for n in sorted(self.collections)])


class FakeServer:
    """The three fake services on one loopback port (plaintext, or TLS with the given key pair)."""

    def __init__(self, tls_key_pair: Optional[tuple] = None) -> None:
        self.record = Record()
        self.behaviour = Behaviour()
        self.retrieval = FakeRetrieval(self.record, self.behaviour)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        generation_pb2_grpc.add_GenerationServicer_to_server(FakeGeneration(self.record, self.behaviour), self.server)
        reward_pb2_grpc.add_RewardServicer_to_server(FakeReward(self.record, self.behaviour), self.server)
        retrieval_pb2_grpc.add_RetrievalServicer_to_server(self.retrieval, self.server)
        if tls_key_pair is None:
            port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            creds = grpc.ssl_server_credentials([tls_key_pair])
            port = self.server.add_secure_port("127.0.0.1:0", creds)
        self.address = f"127.0.0.1:{port}"
        self.port = port
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)
