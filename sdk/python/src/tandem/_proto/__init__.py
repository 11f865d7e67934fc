"""gRPC stubs of tandem.v1, generated from proto/tandem/v1 when the package is built.

The generated modules live in ``tandem._proto.tandem.v1`` (``generation_pb2``,
``generation_pb2_grpc``, ...); sdk/python/setup.py writes them. They are an
implementation detail of the SDK, importable for advanced use.
"""
