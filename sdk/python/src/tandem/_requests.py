"""Request building for the Reward and Retrieval services (shared by Client and AsyncClient)."""

from __future__ import annotations

import asyncio
import threading
from typing import AsyncIterator, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from tandem import types
from tandem._proto.tandem.v1 import retrieval_pb2, reward_pb2

#: Largest document part sent in one message. gRPC servers refuse messages over their receive
#: limit (4 MiB by default), so larger documents go as several parts (Document.partial).
DEFAULT_PART_BYTES = 1 << 20

_SEARCH_MODES = {
    "dense": retrieval_pb2.SEARCH_MODE_DENSE,
    "bm25": retrieval_pb2.SEARCH_MODE_BM25,
    "lexical": retrieval_pb2.SEARCH_MODE_BM25,
    "hybrid": retrieval_pb2.SEARCH_MODE_HYBRID,
}


def reward_spec(backend: Optional[str], options: Optional[Mapping[str, object]]) -> reward_pb2.RewardSpec:
    spec = reward_pb2.RewardSpec(backend=backend or "")
    for key, value in (options or {}).items():
        spec.options[key] = str(value)
    return spec


def score_request(prompt: str, responses: Union[str, Sequence[str]], reference: Optional[str],
                  backend: Optional[str], options: Optional[Mapping[str, object]]) -> reward_pb2.ScoreRequest:
    items = [responses] if isinstance(responses, str) else list(responses)
    return reward_pb2.ScoreRequest(
        spec=reward_spec(backend, options),
        items=[reward_pb2.RewardItem(prompt=prompt, response=r, reference=reference or "") for r in items])


def score_steps_request(prompt: str, steps: Sequence[str], backend: Optional[str],
                        options: Optional[Mapping[str, object]]) -> reward_pb2.ScoreStepsRequest:
    return reward_pb2.ScoreStepsRequest(spec=reward_spec(backend, options), prompt=prompt, steps=list(steps))


def search_request(query: str, *, collection: Optional[str], context: Optional[str], top_k: int, mode: str,
                   min_score: Optional[float], chunk_tokens: Optional[int]) -> retrieval_pb2.SearchRequest:
    if mode not in _SEARCH_MODES:
        raise ValueError(f"search: mode must be one of {', '.join(_SEARCH_MODES)}, got '{mode}'")
    req = retrieval_pb2.SearchRequest(query=query.encode("utf-8"), top_k=top_k, mode=_SEARCH_MODES[mode])
    if collection is not None and context is None:
        req.collection = collection
    elif context is not None and collection is None:
        req.context.text = context.encode("utf-8")
        req.context.chunk_tokens = chunk_tokens or 0
    else:
        raise TypeError("search: give exactly one of collection and context")
    if min_score is not None:
        req.min_score = min_score
    return req


def _to_document(d: types.DocumentLike) -> types.Document:
    if isinstance(d, types.Document):
        return d
    if isinstance(d, str):
        return types.Document(text=d)
    if isinstance(d, tuple) and len(d) == 2:
        return types.Document(id=d[0], text=d[1])
    raise TypeError(f"document: expected Document, str or (id, text), got {type(d).__name__}")


def split_utf8(data: bytes, limit: int) -> List[bytes]:
    """Cuts UTF-8 bytes into parts of at most ``limit`` bytes, never inside a character."""
    if limit < 4:
        raise ValueError("part size must be at least 4 bytes (one UTF-8 character)")
    parts = []
    start = 0
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:  # a continuation byte: back up to the character's start
            end -= 1
        parts.append(data[start:end])
        start = end
    parts.append(data[start:])
    return parts


def ingest_requests(collection: str, documents: Iterable[types.DocumentLike], *, batch_bytes: int,
                    batch_documents: int) -> Iterator[retrieval_pb2.AddDocumentsRequest]:
    """The AddDocuments request stream: documents in batches, then the commit message.

    Documents are read lazily, so an iterator over files streams without holding them all. A
    message carries at most ``batch_documents`` documents and about ``batch_bytes`` of text;
    longer documents are sent as consecutive parts of the same id.
    """
    pending: List[retrieval_pb2.Document] = []
    size = 0
    for d in documents:
        doc = _to_document(d)
        doc_id = doc.id.encode("utf-8")
        parts = split_utf8(doc.text.encode("utf-8"), batch_bytes)
        for i, part in enumerate(parts):
            if pending and (size + len(part) > batch_bytes or len(pending) >= batch_documents):
                yield retrieval_pb2.AddDocumentsRequest(collection=collection, documents=pending)
                pending, size = [], 0
            pending.append(retrieval_pb2.Document(id=doc_id, text=part, partial=i + 1 < len(parts)))
            size += len(part)
    if pending:
        yield retrieval_pb2.AddDocumentsRequest(collection=collection, documents=pending)
    # The commit is a message of its own, sent (in lock step, IngestLockStep) only after the
    # caller's on_progress accepted the report of the last documents: an exception there, or in
    # reading the documents, then commits nothing.
    yield retrieval_pb2.AddDocumentsRequest(collection=collection, commit=True)


class _LockStep:
    """What the two lock-step streams share: the turn the next message waits for, the stop flag and
    the documents' error."""

    def __init__(self, requests: Iterator[retrieval_pb2.AddDocumentsRequest], turn) -> None:
        self._requests = requests
        self._turn = turn  # a semaphore at 0: threading's or asyncio's
        self._stopped = False
        self.error: Optional[BaseException] = None

    def answered(self) -> None:
        """The previous message's report was handled: the next message may go."""
        self._turn.release()

    def stop(self) -> None:
        """No more messages (no commit); wakes a stream waiting for its turn."""
        self._stopped = True
        self._turn.release()


class IngestLockStep(_LockStep):
    """An AddDocuments request stream sent in lock step with the handling of its answers.

    gRPC sends a request stream on its own, ahead of the answers, so the commit could reach the
    server (which commits as it reads it) while the caller's on_progress was still refusing an
    earlier report. Here each message after the first waits for ``answered()`` (the previous
    message's report was handled), ``stop()`` ends the stream without sending more (no commit),
    and an exception of the documents' iterator ends it too and is kept in ``error`` (gRPC would
    otherwise log it and end the call with UNKNOWN).
    """

    def __init__(self, requests: Iterator[retrieval_pb2.AddDocumentsRequest]) -> None:
        super().__init__(requests, threading.Semaphore(0))

    def __iter__(self) -> Iterator[retrieval_pb2.AddDocumentsRequest]:
        first = True
        while True:
            if not first:
                self._turn.acquire()
                if self._stopped:
                    return
            first = False
            try:
                message = next(self._requests)
            except StopIteration:
                return
            except BaseException as e:  # noqa: BLE001 -- re-raised by the caller
                self.error = e
                return
            yield message


class AsyncIngestLockStep(_LockStep):
    """IngestLockStep for grpc.aio: the documents are read in a worker thread (files, generators)
    so the event loop never blocks on them."""

    _END = object()

    def __init__(self, requests: Iterator[retrieval_pb2.AddDocumentsRequest]) -> None:
        super().__init__(requests, asyncio.Semaphore(0))

    async def __aiter__(self) -> AsyncIterator[retrieval_pb2.AddDocumentsRequest]:
        first = True
        while True:
            if not first:
                await self._turn.acquire()
                if self._stopped:
                    return
            first = False
            try:
                message = await asyncio.to_thread(next, self._requests, self._END)
            except BaseException as e:  # noqa: BLE001 -- re-raised by the caller
                self.error = e
                return
            if message is self._END:
                return
            yield message
