#!/usr/bin/env python3
"""draft_only: every token from the draft model (the cheap baseline RSD is compared with).

    python sdk/python/examples/draft_only.py "Write a haiku about the sea."
"""
import argparse

import tandem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prompt", nargs="?", default="Write a haiku about the sea.")
    ap.add_argument("--server", default="127.0.0.1:50051", help="orchestrator host:port")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--chunk", type=int, default=16, help="tokens per draft call")
    args = ap.parse_args()

    with tandem.Client(args.server) as client:
        stream = client.chat([{"role": "user", "content": args.prompt}], strategy="draft_only",
                             max_tokens=args.max_tokens, chunk=args.chunk)
        for chunk in stream:
            print(chunk.text, end="", flush=True)
        stats = stream.result().stats
    print(f"\n\n{stats.generated_tokens} tokens in {stats.draft_calls} draft calls, "
          f"{stats.e2e_latency_ms:.0f} ms; estimated FLOPs {stats.get('flops.total', 0):.3g}")


if __name__ == "__main__":
    main()
