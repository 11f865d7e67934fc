"""Smoke test of the generated Python stubs (tandem_proto_python): the
modules import with the system protobuf/grpcio, the services expose the
documented methods, and a compact q distribution round-trips bit-exactly.
Usage: python_stubs_test.py BUILD_PYTHON_DIR"""
import struct
import sys

sys.path.insert(0, sys.argv[1])

from tandem.v1 import common_pb2, draft_pb2_grpc, generation_pb2, generation_pb2_grpc  # noqa: E402
from tandem.v1 import target_pb2, target_pb2_grpc  # noqa: E402,F401


def methods(module, service):
    return set(getattr(module, "DESCRIPTOR").services_by_name[service].methods_by_name)


def main():
    from tandem.v1 import draft_pb2
    assert methods(generation_pb2, "Generation") == {"Generate", "Abort", "ListModels", "GetInfo"}
    assert methods(draft_pb2, "Draft") == {"OpenSession", "Propose", "CloseSession", "GetModelInfo"}
    assert methods(target_pb2, "Target") == {"OpenSession", "Verify", "Step", "CloseSession", "GetModelInfo",
                                             "Append", "Truncate", "Fork"}
    from tandem.v1 import retrieval_pb2, reward_pb2
    assert methods(reward_pb2, "Reward") == {"Score", "ScoreSteps", "ListBackends"}
    assert methods(retrieval_pb2, "Retrieval") == {"CreateCollection", "DeleteCollection", "AddDocuments",
                                                   "Search", "GetCollectionStats", "ListCollections"}
    assert hasattr(generation_pb2_grpc, "GenerationStub")
    assert hasattr(draft_pb2_grpc, "DraftStub")

    # float32 values that are not exactly representable in decimal survive.
    probs = [struct.unpack("<f", struct.pack("<f", x))[0] for x in (0.1, 0.2, 0.7)]
    d = common_pb2.TokenDistribution()
    d.sparse.token_ids.extend([5, 9, 1000])
    d.sparse.probs.extend(probs)
    back = common_pb2.TokenDistribution.FromString(d.SerializeToString())
    assert back.WhichOneof("form") == "sparse"
    assert list(back.sparse.token_ids) == [5, 9, 1000]
    assert list(back.sparse.probs) == probs

    req = generation_pb2.GenerateRequest(request_id=b"r1", strategy=b"speculative", gamma=5)
    req.prompt_tokens.ids.extend([1, 2, 3])
    req.params["gamma"] = b"5"
    req.sampling.temperature = 0.7
    req.sampling.seed = 42
    back = generation_pb2.GenerateRequest.FromString(req.SerializeToString())
    assert back.WhichOneof("input") == "prompt_tokens"
    assert back.HasField("gamma") and back.gamma == 5
    assert not back.HasField("max_tokens")
    assert back.sampling.HasField("seed")
    print("python stubs OK")


if __name__ == "__main__":
    main()
