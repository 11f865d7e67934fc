"""The blocking client: :class:`Client` and its :class:`GenerationStream`."""

from __future__ import annotations

from typing import (Any, Callable, Dict, Iterable, Iterator, List, Literal, Mapping, Optional, Sequence, Union,
                    overload)

import grpc

from tandem import _channel, _convert, _generation, _requests, types
from tandem._channel import RetryPolicy, TLSArg
from tandem._proto.tandem.v1 import (generation_pb2, generation_pb2_grpc, retrieval_pb2, retrieval_pb2_grpc,
                                     reward_pb2, reward_pb2_grpc)
from tandem.errors import TandemError, from_rpc_error

_GENERATE = "/tandem.v1.Generation/Generate"


class GenerationStream(Iterator[types.Chunk]):
    """A running generation: iterate it for :class:`~tandem.types.Chunk` objects as they arrive.

    ``result()`` waits for the end and returns the :class:`~tandem.types.GenerationResult` (text,
    finish reason, statistics). ``close()`` (or leaving a ``with`` block, or dropping the stream)
    cancels the call; the server then aborts the request and frees its sessions. Errors raise the
    typed :class:`~tandem.errors.TandemError` subclasses.
    """

    def __init__(self, call: Any) -> None:
        self._call = call
        self._assembler = _generation.Assembler()
        self._done = False
        self._cancelled = False  # cancel() stopped the call before its end

    @property
    def request_id(self) -> str:
        """The request's id, known once the first message arrived ("" before)."""
        return self._assembler.request_id

    def __iter__(self) -> "GenerationStream":
        return self

    def __next__(self) -> types.Chunk:
        while not self._done:
            try:
                resp = next(self._call)
            except StopIteration:
                self._done = True
                self._assembler.finish()  # ProtocolError if the final message never came
                break
            except grpc.RpcError as e:
                self._done = True
                raise from_rpc_error(e, _GENERATE) from None
            chunk = self._assembler.add(resp)
            if chunk is None:  # the final message: its held-back text is the last chunk
                chunk = self._assembler.tail_chunk()
            if chunk is not None:
                return chunk
        raise StopIteration

    def result(self) -> types.GenerationResult:
        """Reads the rest of the stream and returns the whole result.

        Raises :class:`~tandem.errors.Cancelled` when ``cancel()`` stopped the call before its end.
        """
        for _ in self:
            pass
        _generation.raise_if_cancelled(self._cancelled, self._assembler, _GENERATE)
        return self._assembler.finish()

    def cancel(self) -> bool:
        """Cancels the call if it is still running; True if this cancelled it."""
        if self._done:
            return False
        self._done = True
        self._cancelled = True
        return bool(self._call.cancel())

    close = cancel

    def __enter__(self) -> "GenerationStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()

    def __del__(self) -> None:
        if not getattr(self, "_done", True):
            self._call.cancel()


class Client:
    """Blocking client of a tandem deployment.

    Args:
        address: ``host:port`` of the orchestrator (the Generation service).
        tls: None/False = plaintext; True = TLS with the system roots; a :class:`TLS` or
            ``grpc.ChannelCredentials`` for custom roots or mutual TLS.
        token: sent as ``authorization: Bearer <token>`` on every call.
        timeout: default deadline of every call, in seconds (None: none); each method's
            ``timeout=`` overrides it. An expired deadline raises ``DeadlineExceeded``.
        retry: the retry policy for safe calls on UNAVAILABLE (None: no retries).
        reward_address / retrieval_address: ``host:port`` of the Reward and Retrieval services
            (in a ``tandem up`` deployment they listen on their own ports); default ``address``.

    The client keeps one channel per distinct address; close it (or use ``with``) when done.
    """

    def __init__(self, address: str, *, tls: TLSArg = None, token: Optional[str] = None,
                 timeout: Optional[float] = None, retry: Optional[RetryPolicy] = RetryPolicy(),
                 reward_address: Optional[str] = None, retrieval_address: Optional[str] = None) -> None:
        self._timeout = _channel.deadline(None, timeout)
        self._metadata = _channel.call_metadata(token)
        self._channels: Dict[str, grpc.Channel] = {}

        def channel(addr: str) -> grpc.Channel:
            if addr not in self._channels:
                self._channels[addr] = _channel.make_channel(addr, tls, retry, aio=False)
            return self._channels[addr]

        self._generation = generation_pb2_grpc.GenerationStub(channel(address))
        self._reward = reward_pb2_grpc.RewardStub(channel(reward_address or address))
        self._retrieval = retrieval_pb2_grpc.RetrievalStub(channel(retrieval_address or address))
        self._stubs: Dict[str, Any] = {"Generation": self._generation, "Reward": self._reward, "Retrieval": self._retrieval}

    def close(self) -> None:
        """Closes the channels; running calls are cancelled."""
        for ch in self._channels.values():
            ch.close()
        self._channels.clear()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _unary(self, service: str, method: str, request: Any, timeout: Optional[float]) -> Any:
        """Calls tandem.v1.<service>/<method>, raising the typed error on failure."""
        call = getattr(self._stubs[service], method)
        try:
            return call(request, timeout=_channel.deadline(timeout, self._timeout), metadata=self._metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e, f"/tandem.v1.{service}/{method}") from None

    # ----------------------------------------------------------------------------- generation

    @overload
    def generate(self, prompt: _generation.Prompt, *, stream: Literal[True] = ..., **kwargs: Any) -> GenerationStream: ...

    @overload
    def generate(self, prompt: _generation.Prompt, *, stream: Literal[False], **kwargs: Any) -> types.GenerationResult: ...

    def generate(
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
    ) -> Union[GenerationStream, types.GenerationResult]:
        """Generates a completion of ``prompt`` (text, or a list of token ids).

        Args:
            stream: True returns a :class:`GenerationStream` (iterate it for chunks, then
                ``result()``); False waits and returns the :class:`GenerationResult`.
            strategy: "target_only", "speculative", "rapid", "rsd", "cards", "best_of_n", "args"
                or "draft_only"; None = the deployment's default (see :meth:`info`).
            model: a target model name from :meth:`models`; None = the deployment's default.
            max_tokens: most tokens to generate (server default 256).
            temperature, top_k, top_p, min_p, repetition_penalty, repetition_window, seed:
                sampling; everything unset is greedy decoding.
            presence_penalty / frequency_penalty: OpenAI's additive penalties (-2..2) over the
                last repetition_window tokens, prompt included.
            logit_bias: {token id: bias (-100..100)} added to those tokens' logits.
            stop: stop string(s); the output is cut before the first match.
            gamma / adaptive_gamma: speculation draft length and its adaptation. adaptive_gamma
                unset: adaptive, except with gamma or a seed at temperature > 0 (then fixed, so the
                draft length is the one given and the sample reproducible from the seed).
            context / collection: RAPID's long document, or a stored collection to search.
            ignore_eos: keep generating past end-of-generation tokens (benchmarks).
            tokens_only: send token ids without text.
            logprobs / top_logprobs: each token's log-probability under the target model (raw
                logits, temperature 1) in ``Chunk.logprobs`` / ``GenerationResult.logprobs``, and
                the top_logprobs (0..20) most likely tokens at each position; target_only and
                speculative report them, other strategies refuse (InvalidArgument).
            prompt_logprobs: with logprobs, also score the prompt (what an evaluation's
                loglikelihood needs): ``prompt_token_ids`` as the target read them, and for each
                token after the first its log-probability given the ones before it
                (``prompt_logprobs``, one fewer entry) with top_logprobs alternatives
                (``prompt_top_logprobs``), on the first Chunk and the GenerationResult.
            suffix: fill in the middle (code models with FIM tokens, e.g. Qwen2.5-Coder): the code
                after the gap, with ``prompt`` (text) the code before it; the completion is what
                goes between. A model without FIM tokens refuses it (InvalidArgument).
            request_id: client-chosen id (for :meth:`abort`); None = server-assigned.
            params: strategy parameters by their documented names (:meth:`info` lists them),
                e.g. ``{"gamma": 5, "lambda": 24}`` (``lambda`` is not a valid keyword).
            timeout: deadline in seconds for the whole generation (default: the client's).
            **strategy_params: more strategy parameters, e.g. ``drafter="ngram", n=8``.

        Raises:
            InvalidArgument: an unknown strategy or parameter, or an out-of-range value (the
                message names the field). Other TandemError subclasses per status code.
        """
        req = _generation.build_request(
            prompt=prompt, strategy=strategy, model=model, max_tokens=max_tokens, temperature=temperature,
            top_k=top_k, top_p=top_p, min_p=min_p, repetition_penalty=repetition_penalty,
            repetition_window=repetition_window, presence_penalty=presence_penalty,
            frequency_penalty=frequency_penalty, logit_bias=logit_bias, seed=seed, stop=stop, gamma=gamma, adaptive_gamma=adaptive_gamma,
            context=context, collection=collection, ignore_eos=ignore_eos, tokens_only=tokens_only,
            logprobs=logprobs, top_logprobs=top_logprobs, prompt_logprobs=prompt_logprobs, suffix=suffix,
            request_id=request_id, params=params, extra_params=strategy_params)
        return self._start(req, stream, timeout)

    def chat(self, messages: Sequence[types.MessageLike], *, stream: bool = True, timeout: Optional[float] = None,
             **kwargs: Any) -> Union[GenerationStream, types.GenerationResult]:
        """Generates the assistant's reply to a conversation, rendered with the model's chat template.

        ``messages`` are :class:`Message` objects, ``{"role": ..., "content": ...}`` mappings or
        ``(role, content)`` pairs (roles "system", "user", "assistant"). Every keyword of
        :meth:`generate` applies.
        """
        return self._start(_generation.build_request(messages=messages, **_generation.split_options(kwargs)),
                           stream, timeout)

    def _start(self, req: generation_pb2.GenerateRequest, stream: bool,
               timeout: Optional[float]) -> Union[GenerationStream, types.GenerationResult]:
        call = self._generation.Generate(req, timeout=_channel.deadline(timeout, self._timeout),
                                         metadata=self._metadata)
        gen = GenerationStream(call)
        if stream:
            return gen
        with gen:
            return gen.result()

    def abort(self, request_id: str, *, timeout: Optional[float] = None) -> bool:
        """Aborts a running request by id (its stream ends with finish_reason "aborted"); True if found."""
        resp = self._unary("Generation", "Abort", generation_pb2.AbortRequest(request_id=request_id), timeout)
        return resp.found

    def models(self, *, timeout: Optional[float] = None) -> types.ModelList:
        """The target models (names for ``model=``) and draft models of the deployment."""
        return _convert.model_list(self._unary("Generation", "ListModels", generation_pb2.ListModelsRequest(), timeout))

    def info(self, *, timeout: Optional[float] = None) -> types.ServerInfo:
        """Version, defaults and the strategy catalog with every strategy's parameters."""
        return _convert.server_info(self._unary("Generation", "GetInfo", generation_pb2.GetInfoRequest(), timeout))

    # ----------------------------------------------------------------------------- reward

    def score(self, prompt: str, responses: Union[str, Sequence[str]], *, reference: Optional[str] = None,
              backend: Optional[str] = None, options: Optional[Mapping[str, object]] = None,
              timeout: Optional[float] = None) -> types.ScoreResult:
        """Rewards of one or more responses to ``prompt`` (one call: the backend batches them).

        ``backend`` and ``options`` select the reward backend (services/reward/README.md);
        None = the Reward service's default.
        """
        req = _requests.score_request(prompt, responses, reference, backend, options)
        return _convert.score_result(self._unary("Reward", "Score", req, timeout))

    def score_steps(self, prompt: str, steps: Sequence[str], *, backend: Optional[str] = None,
                    options: Optional[Mapping[str, object]] = None,
                    timeout: Optional[float] = None) -> types.ScoreResult:
        """Process rewards: ``scores[i]`` rates ``steps[i]`` given the prompt and the steps before it."""
        req = _requests.score_steps_request(prompt, steps, backend, options)
        return _convert.score_result(self._unary("Reward", "ScoreSteps", req, timeout))

    def reward_backends(self, *, timeout: Optional[float] = None) -> List[types.RewardBackend]:
        """The Reward service's backends."""
        return _convert.reward_backends(
            self._unary("Reward", "ListBackends", reward_pb2.ListBackendsRequest(), timeout))

    # ----------------------------------------------------------------------------- retrieval

    def create_collection(self, name: str, *, chunk_tokens: Optional[int] = None,
                          timeout: Optional[float] = None) -> types.CollectionStats:
        """Creates an empty collection (chunks of ``chunk_tokens`` target tokens; None = 512)."""
        req = retrieval_pb2.CreateCollectionRequest(name=name, chunk_tokens=chunk_tokens or 0)
        return _convert.collection_stats(self._unary("Retrieval", "CreateCollection", req, timeout))

    def delete_collection(self, name: str, *, timeout: Optional[float] = None) -> None:
        """Deletes a collection and its files (NotFound if it does not exist)."""
        self._unary("Retrieval", "DeleteCollection", retrieval_pb2.DeleteCollectionRequest(name=name), timeout)

    def ingest(self, collection: str, documents: Iterable[types.DocumentLike], *,
               on_progress: Optional[Callable[[types.IngestProgress], None]] = None,
               batch_documents: int = 64, batch_bytes: int = _requests.DEFAULT_PART_BYTES,
               timeout: Optional[float] = None) -> types.CollectionStats:
        """Streams documents into a collection and commits them atomically.

        ``documents`` (Document, text, or ``(id, text)``) is read lazily; large documents are sent in
        parts. ``on_progress`` gets the server's running totals after every message, then the final,
        committed one. If anything fails before that final report (the server, reading
        ``documents``, an exception in ``on_progress``), nothing is committed and the error is
        raised as it is. Returns the collection's stats after the commit.
        """
        lock_step = _requests.IngestLockStep(_requests.ingest_requests(
            collection, documents, batch_bytes=batch_bytes, batch_documents=batch_documents))
        call = self._retrieval.AddDocuments(iter(lock_step), timeout=_channel.deadline(timeout, self._timeout),
                                            metadata=self._metadata)
        final: Optional[types.IngestProgress] = None
        try:
            for resp in call:
                final = _convert.ingest_progress(resp)
                if on_progress is not None:
                    on_progress(final)
                lock_step.answered()
        except grpc.RpcError as e:
            if lock_step.error is not None:  # the documents' iterator failed: the stream ended uncommitted
                raise lock_step.error from None
            raise from_rpc_error(e, "/tandem.v1.Retrieval/AddDocuments") from None
        finally:
            lock_step.stop()  # no commit after a failure here
            call.cancel()  # no-op after a clean end
        if final is None or not final.committed or final.stats is None:
            raise TandemError("AddDocuments ended without a committed response; nothing may have been committed")
        return final.stats

    def search(self, query: str, *, collection: Optional[str] = None, context: Optional[str] = None,
               top_k: int = 5, mode: str = "dense", min_score: Optional[float] = None,
               chunk_tokens: Optional[int] = None, timeout: Optional[float] = None) -> types.SearchResult:
        """The ``top_k`` best chunks for ``query`` in a stored ``collection`` or an inline ``context``.

        ``mode`` is "dense" (sentence embeddings), "bm25" (alias "lexical") or "hybrid";
        ``min_score`` drops chunks scoring below it; ``chunk_tokens`` sizes the chunks of an inline
        context.
        """
        req = _requests.search_request(query, collection=collection, context=context, top_k=top_k, mode=mode,
                                       min_score=min_score, chunk_tokens=chunk_tokens)
        return _convert.search_result(self._unary("Retrieval", "Search", req, timeout))

    def collection_stats(self, name: str, *, timeout: Optional[float] = None) -> types.CollectionStats:
        """A collection's size and index (NotFound if it does not exist)."""
        req = retrieval_pb2.GetCollectionStatsRequest(name=name)
        return _convert.collection_stats(self._unary("Retrieval", "GetCollectionStats", req, timeout))

    def list_collections(self, *, timeout: Optional[float] = None) -> List[types.CollectionStats]:
        """Every collection of the Retrieval service."""
        resp = self._unary("Retrieval", "ListCollections", retrieval_pb2.ListCollectionsRequest(), timeout)
        return [_convert.collection_stats(c) for c in resp.collections]

