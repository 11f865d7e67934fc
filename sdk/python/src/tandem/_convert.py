"""Protobuf messages -> the SDK's dataclasses.

Conversions go through :func:`message_to_native` (field name -> plain Python value, driven by the
message descriptor) and :func:`tandem.types.from_fields`, never through hand-listed attribute
reads, so that fields added to (or regrouped in) the protocol do not break the SDK.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message as ProtoMessage

from tandem import types


def _scalar(fd: FieldDescriptor, value: Any) -> Any:
    if fd.type == FieldDescriptor.TYPE_BYTES:
        # tandem's bytes fields carry UTF-8 text (bytes only so that the server validates it).
        return value.decode("utf-8", errors="replace")
    if fd.type == FieldDescriptor.TYPE_ENUM:
        enum_value = fd.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else value
    return value


def message_to_native(msg: ProtoMessage) -> Dict[str, Any]:
    """Every field of ``msg`` as plain Python values (lists, dicts, str, int, float, bool).

    Fields with presence that are unset (``optional`` scalars, sub-messages) map to None; bytes are
    decoded as UTF-8; enums become their value names.
    """
    out: Dict[str, Any] = {}
    for fd in msg.DESCRIPTOR.fields:
        value = getattr(msg, fd.name)
        is_map = fd.message_type is not None and fd.message_type.GetOptions().map_entry
        if is_map:
            value_fd = fd.message_type.fields_by_name["value"]
            out[fd.name] = {k: (message_to_native(v) if value_fd.message_type is not None else _scalar(value_fd, v))
                            for k, v in value.items()}
        elif _is_repeated(fd):
            out[fd.name] = [message_to_native(v) if fd.message_type is not None else _scalar(fd, v) for v in value]
        elif fd.has_presence and not msg.HasField(fd.name):
            out[fd.name] = None
        elif fd.message_type is not None:
            out[fd.name] = message_to_native(value)
        else:
            out[fd.name] = _scalar(fd, value)
    return out


def _is_repeated(fd: FieldDescriptor) -> bool:
    # FieldDescriptor.is_repeated exists in newer protobuf; label works across 5.x/6.x.
    repeated = getattr(fd, "is_repeated", None)
    return bool(repeated) if repeated is not None else fd.label == FieldDescriptor.LABEL_REPEATED


def stats_from_proto(msg: ProtoMessage) -> types.Stats:
    """Stats with the common core and the speculation counters typed; every field in ``fields``.

    The typed speculation counters are lifted from the ``speculation`` section (zero when absent);
    a field the SDK does not know stays reachable through ``fields``/``get``.
    """
    native = message_to_native(msg)
    typed: Dict[str, Any] = {k: v for k, v in native.items() if not isinstance(v, dict)}
    typed.update(native.get("speculation") or {})
    stats = types.from_fields(types.Stats, {k: v for k, v in typed.items()
                                            if (v is not None or k == "decode_tokens_per_s")
                                            and k not in ("fields", "raw")})
    raw = json_format.MessageToDict(msg, preserving_proto_field_name=True,
                                    always_print_fields_with_no_presence=True)
    return dataclasses.replace(stats, fields=native, raw=raw)


def model_list(msg: ProtoMessage) -> types.ModelList:
    native = message_to_native(msg)
    return types.ModelList(models=tuple(types.from_fields(types.ModelInfo, m) for m in native.get("models", [])),
                           draft_models=tuple(types.from_fields(types.ModelInfo, m)
                                              for m in native.get("draft_models", [])))


def server_info(msg: ProtoMessage) -> types.ServerInfo:
    native = message_to_native(msg)
    strategies = []
    for s in native.get("strategies", []):
        params = [types.from_fields(types.StrategyParam, p) for p in s.get("params", [])]
        strategies.append(types.from_fields(types.StrategyInfo, {**s, "params": params}))
    return types.from_fields(types.ServerInfo, {**native, "strategies": strategies})


def score_result(msg: ProtoMessage) -> types.ScoreResult:
    return types.ScoreResult(scores=tuple(msg.scores), backend=msg.backend)


def reward_backends(msg: ProtoMessage) -> List[types.RewardBackend]:
    return [types.from_fields(types.RewardBackend, b) for b in message_to_native(msg).get("backends", [])]


def collection_stats(msg: ProtoMessage) -> types.CollectionStats:
    return types.from_fields(types.CollectionStats, message_to_native(msg))


def ingest_progress(msg: ProtoMessage) -> types.IngestProgress:
    native = message_to_native(msg)
    stats = native.get("stats")
    return types.from_fields(types.IngestProgress, {
        **native, "stats": types.from_fields(types.CollectionStats, stats) if stats else None})


def search_result(msg: ProtoMessage) -> types.SearchResult:
    native = message_to_native(msg)
    hits = [types.from_fields(types.SearchHit, c) for c in native.get("chunks", [])]
    return types.from_fields(types.SearchResult, {**native, "hits": hits})
