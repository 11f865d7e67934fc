#!/usr/bin/env python3
"""rapid: retrieval-augmented speculative decoding over a long document. The target reads the whole
document; the drafter reads only the chunks retrieved for the question. With --collection the
document is first stored in the Retrieval service and searched there instead of per request.

    python sdk/python/examples/rapid.py --document essay.txt "What is the secret code?"
    python sdk/python/examples/rapid.py --collection essays --retrieval 127.0.0.1:50054 "..."
"""
import argparse
import pathlib

import tandem

# A stand-in document when --document is not given: filler with one fact to find, kept short
# (about 700 tokens) so that a CPU deployment answers in seconds; RAPID pays off on long documents.
FILLER = "The committee met again to discuss the budget, and nothing was decided. " * 25
DEFAULT_DOCUMENT = FILLER + "\n\nThe secret code for the vault is 7319.\n\n" + FILLER


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("question", nargs="?", default="What is the secret code for the vault?")
    ap.add_argument("--document", type=pathlib.Path, help="text file to ask about (default: a built-in one)")
    ap.add_argument("--server", default="127.0.0.1:50051", help="orchestrator host:port")
    ap.add_argument("--retrieval", default="127.0.0.1:50054", help="Retrieval service host:port (--collection)")
    ap.add_argument("--collection", help="store the document in this collection and search it there")
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args()
    document = args.document.read_text() if args.document else DEFAULT_DOCUMENT

    with tandem.Client(args.server, retrieval_address=args.retrieval) as client:
        if args.collection:
            try:
                client.create_collection(args.collection, chunk_tokens=128)
                client.ingest(args.collection, [("document", document)],
                              on_progress=lambda p: print(f"[ingest] {p.documents} documents, {p.chunks} chunks"
                                                          + (" (committed)" if p.committed else "")))
            except tandem.AlreadyExists:
                print(f"[ingest] collection '{args.collection}' exists; searching it as it is")
        # l_min=1024 suits SmolLM2's 8K window (README: the paper's 4096 leaves the drafter half of it);
        # `lambda` is a Python keyword, so parameters also go in params=.
        stream = client.chat([{"role": "user", "content": args.question}], strategy="rapid", context=document,
                             collection=args.collection, max_tokens=args.max_tokens, temperature=0,
                             params={"l_min": 1024, "chunk_tokens": 128, "lambda": 24, "eta": 5})
        for chunk in stream:
            print(chunk.text, end="", flush=True)
        s = stream.result().stats
    print(f"\n\ncontext {s.get('retrieval.context_tokens')} tokens; the drafter read {s.get('retrieval.retrieved_chunks')} chunks "
          f"({s.get('retrieval.retrieved_tokens')} tokens, prompt {s.get('retrieval.draft_prompt_tokens')}); retrieval "
          f"{s.get('retrieval.retrieval_ms', 0):.0f} ms; acceptance {s.acceptance_rate:.0%}")


if __name__ == "__main__":
    main()
