"""Plain result types of the SDK (dataclasses, independent of the generated stubs)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union


@dataclass(frozen=True)
class Message:
    """One chat message: ``role`` is "system", "user" or "assistant"."""
    role: str
    content: str


#: What ``chat()`` accepts per message: a Message, ``{"role": ..., "content": ...}`` or ``(role, content)``.
MessageLike = Union[Message, Mapping[str, str], Tuple[str, str]]


@dataclass(frozen=True)
class TokenLogprob:
    """A token and its natural-log probability under the target model (raw logits, temperature 1)."""
    token_id: int
    logprob: float


@dataclass(frozen=True)
class Chunk:
    """A piece of streamed output: new token ids and their text (may be empty while bytes of a
    multi-byte character are held back). With ``logprobs=True``: one log-probability per token id,
    and with ``top_logprobs`` the most likely tokens at each of their positions, best first."""
    text: str
    token_ids: Tuple[int, ...]
    request_id: str
    logprobs: Tuple[float, ...] = ()
    top_logprobs: Tuple[Tuple[TokenLogprob, ...], ...] = ()
    #: With ``prompt_logprobs=True``, on the first chunk only: the prompt's token ids as the target
    #: read them, each one after the first's log-probability given the ones before it (one fewer
    #: entry), and with ``top_logprobs`` the alternatives at those positions.
    prompt_token_ids: Tuple[int, ...] = ()
    prompt_logprobs: Tuple[float, ...] = ()
    prompt_top_logprobs: Tuple[Tuple[TokenLogprob, ...], ...] = ()


@dataclass(frozen=True)
class Stats:
    """Per-request statistics: a common core and the strategy's sections.

    The typed attributes are the common core every strategy reports, plus the speculation
    counters (read from the ``speculation`` section; zero for strategies without one). ``fields``
    holds every field the server sent, by its proto name, as plain Python values; a section
    (``speculation``, ``retrieval``, ``reward``, ``cards``, ``rsd``) is a dict there, None when the
    strategy does not report it. Read a section's field with :meth:`get` and a dotted name
    (``stats.get("reward.final_reward")``, ``stats.get("retrieval.retrieved_chunks")``) or the whole
    section with :meth:`section`. ``raw`` is the message in protobuf's JSON mapping
    (``MessageToDict``).
    """
    strategy: str = ""
    drafter: str = ""
    prompt_tokens: int = 0
    generated_tokens: int = 0
    num_drafts: int = 0
    drafted_tokens: int = 0
    accepted_tokens: int = 0
    accepted_per_position: Tuple[int, ...] = ()
    drafted_per_position: Tuple[int, ...] = ()
    target_calls: int = 0
    draft_calls: int = 0
    time_to_first_token_ms: float = 0.0
    e2e_latency_ms: float = 0.0
    draft_time_ms: float = 0.0
    target_time_ms: float = 0.0
    decode_tokens_per_s: Optional[float] = None
    fallback: str = ""
    acceptance_rate: float = 0.0
    mean_acceptance_length: float = 0.0
    final_gamma: int = 0
    fields: Mapping[str, Any] = field(default_factory=dict, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def get(self, name: str, default: Any = None) -> Any:
        """A statistic by its proto field name; ``"section.field"`` reads inside a section.

        Returns ``default`` when the field is unknown, the section is absent or an optional
        value is unset.
        """
        value: Any = self.fields
        for part in name.split("."):
            if not isinstance(value, Mapping) or value.get(part) is None:
                return default
            value = value[part]
        return value

    def section(self, name: str) -> Optional[Mapping[str, Any]]:
        """One strategy-specific section as a dict, or None when the strategy does not report it."""
        value = self.fields.get(name)
        return value if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class GenerationResult:
    """The whole output of one generation.

    ``finish_reason`` is "stop" (end-of-generation token), "length" (max_tokens), "stop_string",
    "context_length", "aborted", "error" or "unspecified".
    """
    text: str
    token_ids: Tuple[int, ...]
    finish_reason: str
    stats: Stats
    request_id: str
    matched_stop: str = ""
    #: With ``logprobs=True`` / ``top_logprobs``: as in :class:`Chunk`, for every token id.
    logprobs: Tuple[float, ...] = ()
    top_logprobs: Tuple[Tuple[TokenLogprob, ...], ...] = ()
    #: With ``prompt_logprobs=True``: as in :class:`Chunk`.
    prompt_token_ids: Tuple[int, ...] = ()
    prompt_logprobs: Tuple[float, ...] = ()
    prompt_top_logprobs: Tuple[Tuple[TokenLogprob, ...], ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    """A model the deployment serves."""
    name: str = ""
    arch: str = ""
    vocab_size: int = 0
    context_length: int = 0
    role: str = ""
    eos_token_id: int = -1
    parameters: int = 0


@dataclass(frozen=True)
class ModelList:
    """Target models (names for ``model=``) and, informationally, the draft models."""
    models: Tuple[ModelInfo, ...]
    draft_models: Tuple[ModelInfo, ...]


@dataclass(frozen=True)
class StrategyParam:
    """A documented strategy parameter (a key of ``params``)."""
    name: str = ""
    description: str = ""
    default_value: str = ""


@dataclass(frozen=True)
class StrategyInfo:
    """A decoding strategy, its parameters and the statistics sections its requests report."""
    name: str = ""
    description: str = ""
    params: Tuple[StrategyParam, ...] = ()
    stats_sections: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerInfo:
    """The orchestrator's version, strategy catalog and defaults."""
    version: str = ""
    strategies: Tuple[StrategyInfo, ...] = ()
    default_strategy: str = ""
    default_model: str = ""
    drafter: str = ""
    mode: str = ""

    def strategy(self, name: str) -> StrategyInfo:
        """The catalog entry of one strategy (KeyError if the deployment does not serve it)."""
        for s in self.strategies:
            if s.name == name:
                return s
        raise KeyError(f"strategy '{name}' is not served here; served: {', '.join(s.name for s in self.strategies)}")


@dataclass(frozen=True)
class ScoreResult:
    """Rewards, one per response (or per step), and the backend that computed them."""
    scores: Tuple[float, ...]
    backend: str


@dataclass(frozen=True)
class RewardBackend:
    """A reward backend of the Reward service."""
    name: str = ""
    supports_steps: bool = False
    is_default: bool = False


@dataclass(frozen=True)
class Document:
    """A document to ingest; an empty ``id`` lets the server assign ``doc-<n>``."""
    text: str
    id: str = ""


#: What ``ingest()`` accepts per document: a Document, its text, or ``(id, text)``.
DocumentLike = Union[Document, str, Tuple[str, str]]


@dataclass(frozen=True)
class CollectionStats:
    """A retrieval collection's size and index."""
    name: str = ""
    documents: int = 0
    chunks: int = 0
    tokens: int = 0
    vectors: int = 0
    chunk_tokens: int = 0
    embed_window_tokens: int = 0
    embedder: str = ""
    dim: int = 0
    index_type: str = ""
    generation: int = 0
    disk_bytes: int = 0


@dataclass(frozen=True)
class IngestProgress:
    """Totals of an ingest stream so far; the last one has ``committed`` and the collection's ``stats``."""
    documents: int = 0
    chunks: int = 0
    tokens: int = 0
    committed: bool = False
    stats: Optional[CollectionStats] = None


@dataclass(frozen=True)
class SearchHit:
    """A retrieved chunk; ``position`` is its index in collection (or context) order."""
    text: str = ""
    position: int = 0
    token_offset: int = 0
    token_count: int = 0
    score: float = 0.0
    document_id: str = ""


@dataclass(frozen=True)
class SearchResult:
    """Search hits, best first, and what the server searched."""
    hits: Tuple[SearchHit, ...]
    total_chunks: int = 0
    context_tokens: int = 0
    elapsed_ms: float = 0.0
    context_cached: bool = False


def from_fields(cls: type, values: Mapping[str, Any]) -> Any:
    """Builds dataclass ``cls`` from the entries of ``values`` that name its fields.

    Entries the dataclass does not know are ignored, and missing ones keep their defaults, so
    results keep working when the server adds or drops fields. Lists become tuples (the
    dataclasses are frozen).
    """
    kwargs: Dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            value = values[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)
