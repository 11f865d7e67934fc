"""The asyncio client: :class:`AsyncClient` and its :class:`AsyncGenerationStream` (same surface as
:class:`tandem.Client`, with coroutines and async iterators)."""

from __future__ import annotations

from typing import (Any, AsyncIterator, Callable, Dict, Iterable, List, Literal, Mapping, Optional, Sequence,
                    Union, overload)

import grpc
import grpc.aio

from tandem import _channel, _convert, _generation, _requests, types
from tandem._channel import RetryPolicy, TLSArg
from tandem._proto.tandem.v1 import (generation_pb2, generation_pb2_grpc, retrieval_pb2, retrieval_pb2_grpc,
                                     reward_pb2, reward_pb2_grpc)
from tandem.errors import TandemError, from_rpc_error

_GENERATE = "/tandem.v1.Generation/Generate"


class AsyncGenerationStream(AsyncIterator[types.Chunk]):
    """A running generation: ``async for chunk in stream``, then ``await stream.result()``.

    ``cancel()`` / ``aclose()`` (or leaving ``async with``, or cancelling the task that reads it)
    cancels the call, and the server aborts the request.
    """

    def __init__(self, call: grpc.aio.UnaryStreamCall) -> None:
        self._call = call
        self._assembler = _generation.Assembler()
        self._done = False
        self._cancelled = False  # cancel() stopped the call before its end

    @property
    def request_id(self) -> str:
        """The request's id, known once the first message arrived ("" before)."""
        return self._assembler.request_id

    def __aiter__(self) -> "AsyncGenerationStream":
        return self

    async def __anext__(self) -> types.Chunk:
        while not self._done:
            try:
                resp = await self._call.read()
            except grpc.aio.AioRpcError as e:
                self._done = True
                raise from_rpc_error(e, _GENERATE) from None
            except BaseException:  # e.g. asyncio.CancelledError of the reading task
                self.cancel()
                raise
            if resp is grpc.aio.EOF:
                self._done = True
                self._assembler.finish()  # ProtocolError if the final message never came
                break
            chunk = self._assembler.add(resp)
            if chunk is None:
                chunk = self._assembler.tail_chunk()
            if chunk is not None:
                return chunk
        raise StopAsyncIteration

    async def result(self) -> types.GenerationResult:
        """Reads the rest of the stream and returns the whole result.

        Raises :class:`~tandem.errors.Cancelled` when ``cancel()`` stopped the call before its end.
        """
        async for _ in self:
            pass
        _generation.raise_if_cancelled(self._cancelled, self._assembler, _GENERATE)
        return self._assembler.finish()

    def cancel(self) -> bool:
        """Cancels the call if it is still running; True if this cancelled it."""
        if self._done:
            return False
        self._done = True
        self._cancelled = True
        return self._call.cancel()

    async def aclose(self) -> None:
        self.cancel()

    async def __aenter__(self) -> "AsyncGenerationStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.cancel()


class AsyncClient:
    """asyncio client of a tandem deployment; arguments as for :class:`tandem.Client`.

    Create it inside a running event loop, and ``await client.close()`` (or ``async with``) when done.
    """

    def __init__(self, address: str, *, tls: TLSArg = None, token: Optional[str] = None,
                 timeout: Optional[float] = None, retry: Optional[RetryPolicy] = RetryPolicy(),
                 reward_address: Optional[str] = None, retrieval_address: Optional[str] = None) -> None:
        self._timeout = _channel.deadline(None, timeout)
        self._metadata = _channel.call_metadata(token)
        self._channels: Dict[str, grpc.aio.Channel] = {}

        def channel(addr: str) -> grpc.aio.Channel:
            if addr not in self._channels:
                self._channels[addr] = _channel.make_channel(addr, tls, retry, aio=True)
            return self._channels[addr]

        self._stubs: Dict[str, Any] = {
            "Generation": generation_pb2_grpc.GenerationStub(channel(address)),
            "Reward": reward_pb2_grpc.RewardStub(channel(reward_address or address)),
            "Retrieval": retrieval_pb2_grpc.RetrievalStub(channel(retrieval_address or address)),
        }

    async def close(self) -> None:
        """Closes the channels; running calls are cancelled."""
        for ch in self._channels.values():
            await ch.close()
        self._channels.clear()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _unary(self, service: str, method: str, request: Any, timeout: Optional[float]) -> Any:
        """Calls tandem.v1.<service>/<method>, raising the typed error on failure."""
        call = getattr(self._stubs[service], method)
        try:
            return await call(request, timeout=_channel.deadline(timeout, self._timeout), metadata=self._metadata)
        except grpc.aio.AioRpcError as e:
            raise from_rpc_error(e, f"/tandem.v1.{service}/{method}") from None

    # ----------------------------------------------------------------------------- generation

    @overload
    async def generate(self, prompt: _generation.Prompt, *, stream: Literal[True] = ...,
                       **kwargs: Any) -> AsyncGenerationStream: ...

    @overload
    async def generate(self, prompt: _generation.Prompt, *, stream: Literal[False],
                       **kwargs: Any) -> types.GenerationResult: ...

    async def generate(
        self,
        prompt: _generation.Prompt,
        *,
        stream: bool = True,
        strategy: Optional[str] = None,
        model: Optional[str] = None,
        max_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        min_p: Optional[float] = None,
        repetition_penalty: Optional[float] = None,
        repetition_window: Optional[int] = None,
        presence_penalty: Optional[float] = None,
        frequency_penalty: Optional[float] = None,
        logit_bias: Optional[Mapping[int, float]] = None,
        seed: Optional[int] = None,
        stop: Union[str, Sequence[str], None] = None,
        gamma: Optional[int] = None,
        adaptive_gamma: Optional[bool] = None,
        context: Optional[str] = None,
        collection: Optional[str] = None,
        ignore_eos: bool = False,
        tokens_only: bool = False,
        logprobs: bool = False,
        top_logprobs: Optional[int] = None,
        prompt_logprobs: bool = False,
        suffix: Optional[str] = None,
        request_id: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
        **strategy_params: Any,
    ) -> Union[AsyncGenerationStream, types.GenerationResult]:
        """Generates a completion of ``prompt``; arguments as for :meth:`tandem.Client.generate`.

        ``await client.generate(..., stream=False)`` returns the :class:`GenerationResult`;
        with ``stream=True`` (the default) it returns an :class:`AsyncGenerationStream`.
        """
        req = _generation.build_request(
            prompt=prompt, strategy=strategy, model=model, max_tokens=max_tokens, temperature=temperature,
            top_k=top_k, top_p=top_p, min_p=min_p, repetition_penalty=repetition_penalty,
            repetition_window=repetition_window, presence_penalty=presence_penalty,
            frequency_penalty=frequency_penalty, logit_bias=logit_bias, seed=seed, stop=stop, gamma=gamma, adaptive_gamma=adaptive_gamma,
            context=context, collection=collection, ignore_eos=ignore_eos, tokens_only=tokens_only,
            logprobs=logprobs, top_logprobs=top_logprobs, prompt_logprobs=prompt_logprobs, suffix=suffix,
            request_id=request_id, params=params, extra_params=strategy_params)
        return await self._start(req, stream, timeout)

    async def chat(self, messages: Sequence[types.MessageLike], *, stream: bool = True,
                   timeout: Optional[float] = None,
                   **kwargs: Any) -> Union[AsyncGenerationStream, types.GenerationResult]:
        """The assistant's reply to a conversation; arguments as for :meth:`tandem.Client.chat`."""
        req = _generation.build_request(messages=messages, **_generation.split_options(kwargs))
        return await self._start(req, stream, timeout)

    async def _start(self, req: generation_pb2.GenerateRequest, stream: bool,
                     timeout: Optional[float]) -> Union[AsyncGenerationStream, types.GenerationResult]:
        call = self._stubs["Generation"].Generate(req, timeout=_channel.deadline(timeout, self._timeout),
                                                  metadata=self._metadata)
        gen = AsyncGenerationStream(call)
        if stream:
            return gen
        async with gen:
            return await gen.result()

    async def abort(self, request_id: str, *, timeout: Optional[float] = None) -> bool:
        """Aborts a running request by id; True if it was found."""
        resp = await self._unary("Generation", "Abort", generation_pb2.AbortRequest(request_id=request_id), timeout)
        return resp.found

    async def models(self, *, timeout: Optional[float] = None) -> types.ModelList:
        """The target models and draft models of the deployment."""
        return _convert.model_list(
            await self._unary("Generation", "ListModels", generation_pb2.ListModelsRequest(), timeout))

    async def info(self, *, timeout: Optional[float] = None) -> types.ServerInfo:
        """Version, defaults and the strategy catalog."""
        return _convert.server_info(await self._unary("Generation", "GetInfo", generation_pb2.GetInfoRequest(), timeout))

    # ----------------------------------------------------------------------------- reward

    async def score(self, prompt: str, responses: Union[str, Sequence[str]], *, reference: Optional[str] = None,
                    backend: Optional[str] = None, options: Optional[Mapping[str, object]] = None,
                    timeout: Optional[float] = None) -> types.ScoreResult:
        """Rewards of one or more responses to ``prompt``; see :meth:`tandem.Client.score`."""
        req = _requests.score_request(prompt, responses, reference, backend, options)
        return _convert.score_result(await self._unary("Reward", "Score", req, timeout))

    async def score_steps(self, prompt: str, steps: Sequence[str], *, backend: Optional[str] = None,
                          options: Optional[Mapping[str, object]] = None,
                          timeout: Optional[float] = None) -> types.ScoreResult:
        """Process rewards, one per step; see :meth:`tandem.Client.score_steps`."""
        req = _requests.score_steps_request(prompt, steps, backend, options)
        return _convert.score_result(await self._unary("Reward", "ScoreSteps", req, timeout))

    async def reward_backends(self, *, timeout: Optional[float] = None) -> List[types.RewardBackend]:
        """The Reward service's backends."""
        return _convert.reward_backends(
            await self._unary("Reward", "ListBackends", reward_pb2.ListBackendsRequest(), timeout))

    # ----------------------------------------------------------------------------- retrieval

    async def create_collection(self, name: str, *, chunk_tokens: Optional[int] = None,
                                timeout: Optional[float] = None) -> types.CollectionStats:
        """Creates an empty collection; see :meth:`tandem.Client.create_collection`."""
        req = retrieval_pb2.CreateCollectionRequest(name=name, chunk_tokens=chunk_tokens or 0)
        return _convert.collection_stats(await self._unary("Retrieval", "CreateCollection", req, timeout))

    async def delete_collection(self, name: str, *, timeout: Optional[float] = None) -> None:
        """Deletes a collection and its files."""
        await self._unary("Retrieval", "DeleteCollection", retrieval_pb2.DeleteCollectionRequest(name=name), timeout)

    async def ingest(self, collection: str, documents: Iterable[types.DocumentLike], *,
                     on_progress: Optional[Callable[[types.IngestProgress], None]] = None,
                     batch_documents: int = 64, batch_bytes: int = _requests.DEFAULT_PART_BYTES,
                     timeout: Optional[float] = None) -> types.CollectionStats:
        """Streams documents into a collection and commits them; see :meth:`tandem.Client.ingest`."""
        lock_step = _requests.AsyncIngestLockStep(_requests.ingest_requests(
            collection, documents, batch_bytes=batch_bytes, batch_documents=batch_documents))
        call = self._stubs["Retrieval"].AddDocuments(lock_step.__aiter__(),
                                                     timeout=_channel.deadline(timeout, self._timeout),
                                                     metadata=self._metadata)
        final: Optional[types.IngestProgress] = None
        try:
            async for resp in call:
                final = _convert.ingest_progress(resp)
                if on_progress is not None:
                    on_progress(final)
                lock_step.answered()
        except grpc.aio.AioRpcError as e:
            if lock_step.error is not None:  # the documents' iterator failed: the stream ended uncommitted
                raise lock_step.error from None
            raise from_rpc_error(e, "/tandem.v1.Retrieval/AddDocuments") from None
        finally:
            lock_step.stop()  # no commit after a failure here
            call.cancel()  # no-op after a clean end
        if final is None or not final.committed or final.stats is None:
            raise TandemError("AddDocuments ended without a committed response; nothing may have been committed")
        return final.stats

    async def search(self, query: str, *, collection: Optional[str] = None, context: Optional[str] = None,
                     top_k: int = 5, mode: str = "dense", min_score: Optional[float] = None,
                     chunk_tokens: Optional[int] = None, timeout: Optional[float] = None) -> types.SearchResult:
        """Best chunks for ``query``; see :meth:`tandem.Client.search`."""
        req = _requests.search_request(query, collection=collection, context=context, top_k=top_k, mode=mode,
                                       min_score=min_score, chunk_tokens=chunk_tokens)
        return _convert.search_result(await self._unary("Retrieval", "Search", req, timeout))

    async def collection_stats(self, name: str, *, timeout: Optional[float] = None) -> types.CollectionStats:
        """A collection's size and index."""
        req = retrieval_pb2.GetCollectionStatsRequest(name=name)
        return _convert.collection_stats(await self._unary("Retrieval", "GetCollectionStats", req, timeout))

    async def list_collections(self, *, timeout: Optional[float] = None) -> List[types.CollectionStats]:
        """Every collection of the Retrieval service."""
        resp = await self._unary("Retrieval", "ListCollections", retrieval_pb2.ListCollectionsRequest(), timeout)
        return [_convert.collection_stats(c) for c in resp.collections]
