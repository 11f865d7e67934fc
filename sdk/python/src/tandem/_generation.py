"""GenerateRequest building and GenerateResponse stream assembly (shared by Client and AsyncClient)."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import grpc

from tandem import _convert, types
from tandem._proto.tandem.v1 import common_pb2, generation_pb2
from tandem.errors import Cancelled, ProtocolError

_FINISH_REASONS = {
    common_pb2.FINISH_REASON_STOP: "stop",
    common_pb2.FINISH_REASON_LENGTH: "length",
    common_pb2.FINISH_REASON_STOP_STRING: "stop_string",
    common_pb2.FINISH_REASON_CONTEXT_LENGTH: "context_length",
    common_pb2.FINISH_REASON_ABORTED: "aborted",
    common_pb2.FINISH_REASON_ERROR: "error",
}

#: A prompt: text, or pre-tokenized ids.
Prompt = Union[str, Sequence[int]]


def param_text(key: str, value: Any) -> bytes:
    """A strategy parameter value as the text the server parses (booleans as true/false)."""
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, (int, float, str)):
        return str(value).encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"params.{key}: expected str, int, float or bool, got {type(value).__name__}")


def to_message(m: types.MessageLike) -> types.Message:
    if isinstance(m, types.Message):
        return m
    if isinstance(m, Mapping):
        try:
            return types.Message(role=m["role"], content=m["content"])
        except KeyError as e:
            raise TypeError(f"chat message {dict(m)!r}: needs 'role' and 'content'") from e
    if isinstance(m, tuple) and len(m) == 2:
        return types.Message(role=m[0], content=m[1])
    raise TypeError(f"chat message: expected Message, mapping or (role, content), got {type(m).__name__}")


def build_request(
    *,
    prompt: Optional[Prompt] = None,
    messages: Optional[Sequence[types.MessageLike]] = None,
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
    extra_params: Optional[Mapping[str, Any]] = None,
) -> generation_pb2.GenerateRequest:
    """A GenerateRequest; None leaves a field unset (the server's documented default).

    Validation of values is the server's job (it names the offending field); only Python-level
    type mistakes are caught here.
    """
    req = generation_pb2.GenerateRequest()
    if messages is not None and prompt is None:
        for m in messages:
            msg = to_message(m)
            req.messages.messages.add(role=msg.role.encode("utf-8"), content=msg.content.encode("utf-8"))
        if not req.messages.messages:
            raise TypeError("messages: at least one message is needed")
    elif prompt is not None and messages is None:
        if isinstance(prompt, str):
            req.prompt = prompt.encode("utf-8")
        elif isinstance(prompt, bytes):
            req.prompt = prompt
        else:
            req.prompt_tokens.ids.extend(int(t) for t in prompt)
    else:
        raise TypeError("give exactly one of prompt and messages")
    if request_id:
        req.request_id = request_id.encode("utf-8")
    if model:
        req.model = model.encode("utf-8")
    if strategy:
        req.strategy = strategy.encode("utf-8")
    merged: Dict[str, Any] = {**(params or {}), **(extra_params or {})}
    for key, value in merged.items():
        if value is not None:
            req.params[key] = param_text(key, value)
    if gamma is not None:
        req.gamma = gamma
    if adaptive_gamma is not None:
        req.adaptive_gamma = adaptive_gamma
    if max_tokens is not None:
        req.max_tokens = max_tokens
    stops: List[str] = [stop] if isinstance(stop, str) else list(stop or [])
    req.stop.extend(s.encode("utf-8") for s in stops)
    sampling = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "min_p": min_p,
                "repetition_penalty": repetition_penalty, "seed": seed, "repetition_window": repetition_window,
                "presence_penalty": presence_penalty, "frequency_penalty": frequency_penalty}
    for name, value in sampling.items():
        if value is not None:
            setattr(req.sampling, name, value)
    for token, bias in (logit_bias or {}).items():
        # OpenAI's JSON form has the ids as strings; accept both.
        req.sampling.logit_bias[int(token)] = float(bias)
    if context is not None:
        req.context = context.encode("utf-8")
    if collection:
        req.collection = collection.encode("utf-8")
    req.ignore_eos = ignore_eos
    req.tokens_only = tokens_only
    req.logprobs = logprobs
    if top_logprobs is not None:
        req.top_logprobs = top_logprobs
    req.prompt_logprobs = prompt_logprobs
    if suffix is not None:
        req.suffix = suffix.encode("utf-8")
    return req


#: generate()'s named options (every other keyword is a strategy parameter).
OPTION_NAMES = frozenset(inspect.signature(build_request).parameters) - {"prompt", "messages", "extra_params"}


def split_options(kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """build_request() keywords from chat()'s **kwargs: named options, the rest as strategy parameters."""
    options = {k: v for k, v in kwargs.items() if k in OPTION_NAMES}
    options["extra_params"] = {k: v for k, v in kwargs.items() if k not in OPTION_NAMES}
    return options


def _alternatives(lists: Any) -> Tuple[Tuple[types.TokenLogprob, ...], ...]:
    """TopLogprobs messages as tuples of TokenLogprob, best first."""
    return tuple(tuple(types.TokenLogprob(token_id=t, logprob=lp) for t, lp in zip(p.token_ids, p.logprobs))
                 for p in lists)


class Assembler:
    """Consumes the GenerateResponse stream: turns chunks into Chunk and builds the final result."""

    def __init__(self) -> None:
        self.request_id = ""
        self._text: List[str] = []
        self._token_ids: List[int] = []
        self._logprobs: List[float] = []
        self._top: List[Tuple[types.TokenLogprob, ...]] = []
        self._prompt: Dict[str, Any] = {}  # the first chunk's prompt_* fields, for the result
        self.result: Optional[types.GenerationResult] = None

    def add(self, resp: generation_pb2.GenerateResponse) -> Optional[types.Chunk]:
        """The Chunk for a chunk message; None for the final message (which sets ``result``)."""
        if self.result is not None:
            raise ProtocolError("a message arrived after the final 'complete' message")
        self.request_id = resp.request_id or self.request_id
        kind = resp.WhichOneof("kind")
        if kind == "chunk":
            self._text.append(resp.chunk.text)
            self._token_ids.extend(resp.chunk.token_ids)
            logprobs = tuple(resp.chunk.logprobs)
            top = _alternatives(resp.chunk.top_logprobs)
            self._logprobs.extend(logprobs)
            self._top.extend(top)
            prompt: Dict[str, Any] = {}
            if resp.chunk.prompt_token_ids:
                prompt = dict(prompt_token_ids=tuple(resp.chunk.prompt_token_ids),
                              prompt_logprobs=tuple(resp.chunk.prompt_logprobs),
                              prompt_top_logprobs=_alternatives(resp.chunk.prompt_top_logprobs))
                self._prompt = prompt
            return types.Chunk(text=resp.chunk.text, token_ids=tuple(resp.chunk.token_ids),
                               request_id=self.request_id, logprobs=logprobs, top_logprobs=top, **prompt)
        if kind == "complete":
            done = resp.complete
            self._text.append(done.text_tail)
            self.result = types.GenerationResult(
                text="".join(self._text), token_ids=tuple(self._token_ids),
                finish_reason=_FINISH_REASONS.get(done.finish_reason, "unspecified"),
                stats=_convert.stats_from_proto(done.stats), request_id=self.request_id,
                matched_stop=done.matched_stop, logprobs=tuple(self._logprobs), top_logprobs=tuple(self._top),
                **self._prompt)
            return None
        raise ProtocolError(f"a response without chunk or complete (kind {kind!r})")

    def tail_chunk(self) -> Optional[types.Chunk]:
        """The final message's held-back text as a last chunk (None when it is empty)."""
        if self.result is None:
            return None
        tail = self._text[-1]
        return types.Chunk(text=tail, token_ids=(), request_id=self.request_id) if tail else None

    def finish(self) -> types.GenerationResult:
        """The result once the stream ended; ProtocolError if the final message never came."""
        if self.result is None:
            raise ProtocolError("the stream ended without its final 'complete' message")
        return self.result


def raise_if_cancelled(cancelled: bool, assembler: Assembler, method: str) -> None:
    """Cancelled when the stream's own cancel() stopped it before its final message.

    Without it ``result()`` after ``cancel()`` reported a ProtocolError ("the server broke the
    protocol") for what the caller did.
    """
    if cancelled and assembler.result is None:
        raise Cancelled("the stream was cancelled by this client before its end (cancel() / close())",
                        code=grpc.StatusCode.CANCELLED, method=method)
