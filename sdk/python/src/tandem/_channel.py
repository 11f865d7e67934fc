"""Channel set-up shared by Client and AsyncClient: TLS, bearer token, retries, deadlines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import grpc
import grpc.aio


@dataclass(frozen=True)
class TLS:
    """TLS settings. ``Client(..., tls=True)`` is TLS with the system's root certificates.

    Attributes:
        root_certificates: PEM roots that sign the server's certificate (None: system roots).
        private_key / certificate_chain: PEM client key and certificate for mutual TLS.
        server_name: the name to verify the server's certificate against when it differs from
            the address's host (e.g. connecting by IP).
    """
    root_certificates: Optional[bytes] = None
    private_key: Optional[bytes] = None
    certificate_chain: Optional[bytes] = None
    server_name: Optional[str] = None


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of calls that are safe to repeat, when they fail with UNAVAILABLE.

    Implemented by gRPC itself (the channel's service config): exponential backoff with jitter,
    the call's deadline bounding all attempts together. gRPC caps ``max_attempts`` at 5;
    ``max_attempts=1`` disables retries.
    """
    max_attempts: int = 4
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    backoff_multiplier: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 5:
            raise ValueError(f"max_attempts must be in [1, 5] (gRPC's limit), got {self.max_attempts}")
        if self.initial_backoff_s <= 0 or self.max_backoff_s <= 0 or self.backoff_multiplier <= 0:
            raise ValueError("backoff times and multiplier must be > 0")


#: Calls without side effects, retried on UNAVAILABLE. Generate is one of them: gRPC retries a
#: streaming call only until the server's first response arrives, i.e. before the client has seen
#: any output, and a generation changes nothing on the server. Writes (CreateCollection,
#: DeleteCollection, AddDocuments) and Abort are never retried.
SAFE_METHODS: Dict[str, Tuple[str, ...]] = {
    "tandem.v1.Generation": ("Generate", "ListModels", "GetInfo"),
    "tandem.v1.Reward": ("Score", "ScoreSteps", "ListBackends"),
    "tandem.v1.Retrieval": ("Search", "GetCollectionStats", "ListCollections"),
}

# Retrieval results and ingest progress can exceed gRPC's default 4 MiB receive limit.
_MAX_RECEIVE_BYTES = 64 << 20


def service_config(retry: RetryPolicy) -> str:
    """The gRPC service config (JSON) with the retry policy for SAFE_METHODS."""
    names = [{"service": s, "method": m} for s, methods in SAFE_METHODS.items() for m in methods]
    config = {"methodConfig": [{
        "name": names,
        "retryPolicy": {
            "maxAttempts": retry.max_attempts,
            "initialBackoff": f"{retry.initial_backoff_s:.6f}s",
            "maxBackoff": f"{retry.max_backoff_s:.6f}s",
            "backoffMultiplier": retry.backoff_multiplier,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }]}
    return json.dumps(config)


def channel_options(retry: Optional[RetryPolicy], tls: Union[TLS, None]) -> List[Tuple[str, object]]:
    options: List[Tuple[str, object]] = [("grpc.max_receive_message_length", _MAX_RECEIVE_BYTES)]
    if retry is not None and retry.max_attempts > 1:
        options += [("grpc.enable_retries", 1), ("grpc.service_config", service_config(retry))]
    else:
        options.append(("grpc.enable_retries", 0))
    if isinstance(tls, TLS) and tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return options


TLSArg = Union[None, bool, TLS, grpc.ChannelCredentials]


def credentials(tls: TLSArg) -> Optional[grpc.ChannelCredentials]:
    """Channel credentials for ``tls`` (None: plaintext)."""
    if tls is None or tls is False:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    if isinstance(tls, TLS):
        return grpc.ssl_channel_credentials(root_certificates=tls.root_certificates, private_key=tls.private_key,
                                            certificate_chain=tls.certificate_chain)
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    raise TypeError(f"tls: expected None, bool, tandem.TLS or grpc.ChannelCredentials, got {type(tls).__name__}")


def make_channel(address: str, tls: TLSArg, retry: Optional[RetryPolicy], *, aio: bool) -> Union[grpc.Channel, grpc.aio.Channel]:
    creds = credentials(tls)
    options = channel_options(retry, tls if isinstance(tls, TLS) else None)
    module = grpc.aio if aio else grpc
    if creds is None:
        return module.insecure_channel(address, options=options)
    return module.secure_channel(address, creds, options=options)


def call_metadata(token: Optional[str]) -> Sequence[Tuple[str, str]]:
    """Per-call metadata: the bearer token. Sent as metadata (not call credentials) so that it also
    reaches plaintext servers on loopback; use TLS for anything else."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def deadline(per_call: Optional[float], default: Optional[float]) -> Optional[float]:
    """The timeout of one call in seconds: the call's own, else the client's default (None: none)."""
    timeout = per_call if per_call is not None else default
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    return timeout
