"""The installed package: generated stubs with package-absolute imports, typed, all services present."""

import importlib
import pathlib
import subprocess
import sys

import tandem


def test_stubs_import_package_absolute_in_a_clean_interpreter():
    # A fresh interpreter without the tests' sys.path tweaks: only the installed package is visible.
    code = ("import sys, tandem; from tandem._proto.tandem.v1 import generation_pb2; "
            "print(generation_pb2.GenerateRequest.__module__); "
            "print(any(m == 'tandem.v1' or m.startswith('tandem.v1.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd="/").stdout.split()
    assert out == ["tandem._proto.tandem.v1.generation_pb2", "False"]


def test_generated_sources_have_no_relative_proto_imports():
    stub_dir = pathlib.Path(importlib.import_module("tandem._proto.tandem.v1").__file__).parent
    sources = list(stub_dir.glob("*_pb2*.py")) + list(stub_dir.glob("*.pyi"))
    assert {p.name for p in sources} >= {"generation_pb2.py", "generation_pb2_grpc.py", "generation_pb2.pyi",
                                         "reward_pb2.py", "retrieval_pb2_grpc.py", "common_pb2.py"}
    for path in sources:
        text = path.read_text()
        assert "from tandem.v1 import" not in text, path.name
    grpc_src = (stub_dir / "generation_pb2_grpc.py").read_text()
    assert "from tandem._proto.tandem.v1 import generation_pb2" in grpc_src
    assert "'/tandem.v1.Generation/Generate'" in grpc_src  # wire names are untouched


def test_services_match_the_protocol():
    from tandem._proto.tandem.v1 import generation_pb2, retrieval_pb2, reward_pb2

    def methods(module, service):
        return set(module.DESCRIPTOR.services_by_name[service].methods_by_name)

    assert methods(generation_pb2, "Generation") >= {"Generate", "Abort", "ListModels", "GetInfo"}
    assert methods(reward_pb2, "Reward") >= {"Score", "ScoreSteps", "ListBackends"}
    assert methods(retrieval_pb2, "Retrieval") >= {"CreateCollection", "DeleteCollection", "AddDocuments",
                                                   "Search", "GetCollectionStats", "ListCollections"}


def test_typed_marker_and_public_names():
    assert (pathlib.Path(tandem.__file__).parent / "py.typed").exists()
    for name in tandem.__all__:
        assert hasattr(tandem, name), name
