"""Typed exceptions for gRPC status codes.

Every failed call raises a subclass of :class:`TandemError` chosen by the
status code, carrying the server's message unchanged (tandem's messages name
the offending field, e.g. ``params.gamma: must be in [1, 32], got 0``).
"""

from __future__ import annotations

from typing import Dict, Optional, Type

import grpc


class TandemError(Exception):
    """A tandem call failed.

    Attributes:
        code: the gRPC status code (``None`` for client-side protocol errors).
        message: the server's error message.
        method: the RPC that failed, e.g. ``"/tandem.v1.Generation/Generate"``.
    """

    code: Optional[grpc.StatusCode] = None

    def __init__(self, message: str, *, code: Optional[grpc.StatusCode] = None, method: str = "") -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.method = method

    def __str__(self) -> str:
        code = self.code.name if self.code is not None else "PROTOCOL"
        where = f" ({self.method})" if self.method else ""
        return f"{code}{where}: {self.message}"


class InvalidArgument(TandemError, ValueError):
    """The request is malformed: unknown strategy or parameter, out-of-range value, ..."""
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(TandemError, LookupError):
    """A named entity does not exist (unknown collection, unknown model)."""
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(TandemError):
    """The entity exists already (duplicate collection or document id)."""
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(TandemError, PermissionError):
    """The caller may not do this."""
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(TandemError, PermissionError):
    """Missing or wrong credentials (bearer token)."""
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(TandemError):
    """Out of capacity: KV budget, session limit, message size, rate limit."""
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(TandemError):
    """The server is not in a state to do this (e.g. a busy session)."""
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(TandemError):
    """The operation was aborted (e.g. an ingest stream that ended without a commit)."""
    code = grpc.StatusCode.ABORTED


class OutOfRange(TandemError):
    """A value is outside the valid range (e.g. past the context window)."""
    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(TandemError, NotImplementedError):
    """The server does not offer this RPC (e.g. Score sent to a non-reward address)."""
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(TandemError):
    """A server bug or an internal failure."""
    code = grpc.StatusCode.INTERNAL


class Unavailable(TandemError, ConnectionError):
    """The service cannot be reached or is shutting down; safe calls were already retried."""
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(TandemError, TimeoutError):
    """The call's deadline (``timeout``) passed before it completed."""
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(TandemError):
    """The call was cancelled (by this client or the server)."""
    code = grpc.StatusCode.CANCELLED


class DataLoss(TandemError):
    """Unrecoverable data loss or corruption."""
    code = grpc.StatusCode.DATA_LOSS


class Unknown(TandemError):
    """An error without a more specific code."""
    code = grpc.StatusCode.UNKNOWN


class ProtocolError(TandemError):
    """The server's responses broke the protocol (e.g. a stream without its final message)."""


_BY_CODE: Dict[grpc.StatusCode, Type[TandemError]] = {
    cls.code: cls
    for cls in (InvalidArgument, NotFound, AlreadyExists, PermissionDenied, Unauthenticated, ResourceExhausted,
                FailedPrecondition, Aborted, OutOfRange, Unimplemented, Internal, Unavailable, DeadlineExceeded,
                Cancelled, DataLoss, Unknown)
}


def error_for_code(code: grpc.StatusCode, message: str, method: str = "") -> TandemError:
    """The typed exception for a status code (``Unknown`` for codes without a class)."""
    cls = _BY_CODE.get(code, Unknown)
    return cls(message, code=code, method=method)


def from_rpc_error(error: grpc.RpcError, method: str = "") -> TandemError:
    """Converts a grpc (sync or asyncio) RpcError into its typed TandemError."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return error_for_code(code or grpc.StatusCode.UNKNOWN, details or "", method)
