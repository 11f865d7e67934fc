#!/usr/bin/env python3
"""Command-line client of the tandem Retrieval service (tandem.v1.Retrieval).

  scripts/retrieval.py --server 127.0.0.1:50054 create NAME [--chunk-tokens 512]
  scripts/retrieval.py --server ... add NAME FILE... [--part-bytes 1048576]
  scripts/retrieval.py --server ... search NAME|--context-file F QUERY [--top-k 8] [--mode dense|bm25|hybrid]
  scripts/retrieval.py --server ... stats [NAME]
  scripts/retrieval.py --server ... delete NAME

`add` streams every file as one document (id = the file name), in parts of --part-bytes, prints
the server's progress after each message and commits at the end. Needs the Python stubs
(`cmake --build build --target tandem_proto_python`; found in build*/python or $TANDEM_PYTHON_STUBS)
and grpcio (the .venv of scripts/setup.sh has both requirements).
"""
import argparse
import glob
import os
import sys


def _import_stubs():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = [os.environ.get("TANDEM_PYTHON_STUBS", "")] + sorted(glob.glob(os.path.join(root, "build*", "python")))
    for c in candidates:
        if c and os.path.exists(os.path.join(c, "tandem", "v1", "retrieval_pb2.py")):
            sys.path.insert(0, c)
            break
    from tandem.v1 import retrieval_pb2, retrieval_pb2_grpc  # noqa: E402
    return retrieval_pb2, retrieval_pb2_grpc


def _fail(err):
    print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
    return 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:50054")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("name")
    c.add_argument("--chunk-tokens", type=int, default=0)
    a = sub.add_parser("add")
    a.add_argument("name")
    a.add_argument("files", nargs="+")
    a.add_argument("--part-bytes", type=int, default=1 << 20)
    s = sub.add_parser("search")
    s.add_argument("name", nargs="?")
    s.add_argument("query")
    s.add_argument("--context-file")
    s.add_argument("--chunk-tokens", type=int, default=0)
    s.add_argument("--top-k", type=int, default=8)
    s.add_argument("--min-score", type=float)
    s.add_argument("--mode", choices=["dense", "bm25", "hybrid"], default="dense")
    st = sub.add_parser("stats")
    st.add_argument("name", nargs="?")
    d = sub.add_parser("delete")
    d.add_argument("name")
    args = p.parse_args()

    import grpc
    pb, pb_grpc = _import_stubs()
    stub = pb_grpc.RetrievalStub(grpc.insecure_channel(args.server))
    try:
        if args.cmd == "create":
            print(stub.CreateCollection(pb.CreateCollectionRequest(name=args.name, chunk_tokens=args.chunk_tokens)))
        elif args.cmd == "delete":
            stub.DeleteCollection(pb.DeleteCollectionRequest(name=args.name))
            print(f"deleted {args.name}")
        elif args.cmd == "stats":
            if args.name:
                print(stub.GetCollectionStats(pb.GetCollectionStatsRequest(name=args.name)))
            else:
                for coll in stub.ListCollections(pb.ListCollectionsRequest()).collections:
                    print(coll)
        elif args.cmd == "add":
            def messages():
                first = True
                for path in args.files:
                    data = open(path, "rb").read()
                    doc_id = os.path.basename(path).encode()
                    parts = [data[i:i + args.part_bytes] for i in range(0, len(data), args.part_bytes)] or [b""]
                    for i, part in enumerate(parts):
                        m = pb.AddDocumentsRequest()
                        if first:
                            m.collection = args.name
                            first = False
                        m.documents.add(id=doc_id, text=part, partial=i + 1 < len(parts))
                        yield m
                yield pb.AddDocumentsRequest(collection=args.name, commit=True)

            for r in stub.AddDocuments(messages()):
                if r.committed:
                    print(f"committed: {r.documents} documents, {r.chunks} chunks, {r.tokens} tokens")
                    print(r.stats)
                else:
                    print(f"progress: {r.documents} documents, {r.chunks} chunks, {r.tokens} tokens", flush=True)
        elif args.cmd == "search":
            req = pb.SearchRequest(query=args.query.encode(), top_k=args.top_k,
                                   mode={"dense": pb.SEARCH_MODE_DENSE, "bm25": pb.SEARCH_MODE_BM25,
                                         "hybrid": pb.SEARCH_MODE_HYBRID}[args.mode])
            if args.min_score is not None:
                req.min_score = args.min_score
            if args.context_file:
                req.context.text = open(args.context_file, "rb").read()
                req.context.chunk_tokens = args.chunk_tokens
            elif args.name:
                req.collection = args.name
            else:
                p.error("search: give a collection NAME or --context-file")
            r = stub.Search(req)
            print(f"{len(r.chunks)} of {r.total_chunks} chunks in {r.elapsed_ms:.1f} ms"
                  + (" (cached context)" if r.context_cached else ""))
            for ch in r.chunks:
                text = ch.text.decode("utf-8", "replace").replace("\n", " ")
                print(f"[{ch.score:.4f}] pos {ch.position} {ch.document_id.decode()} tokens "
                      f"{ch.token_offset}+{ch.token_count}: {text[:160]}")
    except grpc.RpcError as err:
        return _fail(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
