"""Python SDK of tandem: a client of the orchestrator's Generation API, the Reward service and the
Retrieval service.

    import tandem

    with tandem.Client("127.0.0.1:50051") as client:
        for chunk in client.generate("Why is the sky blue?", strategy="speculative", gamma=5):
            print(chunk.text, end="", flush=True)

See docs/sdk-python.md in the tandem repository for the guide.
"""

from tandem._channel import TLS, RetryPolicy
from tandem.aio import AsyncClient, AsyncGenerationStream
from tandem.client import Client, GenerationStream
from tandem.errors import (Aborted, AlreadyExists, Cancelled, DataLoss, DeadlineExceeded, FailedPrecondition,
                           Internal, InvalidArgument, NotFound, OutOfRange, PermissionDenied, ProtocolError,
                           ResourceExhausted, TandemError, Unauthenticated, Unavailable, Unimplemented, Unknown)
from tandem.types import (Chunk, CollectionStats, Document, GenerationResult, IngestProgress, Message, ModelInfo,
                          ModelList, RewardBackend, ScoreResult, SearchHit, SearchResult, ServerInfo, Stats,
                          StrategyInfo, StrategyParam, TokenLogprob)

__version__ = "0.1.0"

__all__ = [
    "Client", "AsyncClient", "GenerationStream", "AsyncGenerationStream", "TLS", "RetryPolicy",
    "Chunk", "CollectionStats", "Document", "GenerationResult", "IngestProgress", "Message", "ModelInfo",
    "ModelList", "RewardBackend", "ScoreResult", "SearchHit", "SearchResult", "ServerInfo", "Stats",
    "StrategyInfo", "StrategyParam", "TokenLogprob",
    "TandemError", "Aborted", "AlreadyExists", "Cancelled", "DataLoss", "DeadlineExceeded", "FailedPrecondition",
    "Internal", "InvalidArgument", "NotFound", "OutOfRange", "PermissionDenied", "ProtocolError",
    "ResourceExhausted", "Unauthenticated", "Unavailable", "Unimplemented", "Unknown",
]
