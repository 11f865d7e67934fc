#!/usr/bin/python3
"""Container HEALTHCHECK: one grpc.health.v1.Health/Check call; exit 0 iff SERVING.

Uses Debian's python3-grpcio without generated stubs: HealthCheckRequest{service: ""} encodes
to no bytes at all, and HealthCheckResponse{status: SERVING (1)} to b"\\x08\\x01".
Usage: grpc-health-check [HOST:PORT] [SERVICE]   (default 127.0.0.1:$TANDEM_GRPC_PORT or :50051)
"""
import os
import sys

import grpc

SERVING = b"\x08\x01"


def encode_request(service):
    data = service.encode()
    if not data:
        return b""
    if len(data) > 127:
        raise SystemExit("service name too long for this minimal encoder")
    return b"\x0a" + bytes([len(data)]) + data  # field 1, length-delimited


def main():
    address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:" + os.environ.get("TANDEM_GRPC_PORT", "50051")
    service = sys.argv[2] if len(sys.argv) > 2 else ""
    with grpc.insecure_channel(address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            reply = check(encode_request(service), timeout=5)
        except grpc.RpcError as e:
            print(f"{address}: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    if reply != SERVING:
        print(f"{address}: not SERVING (reply {reply!r})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
