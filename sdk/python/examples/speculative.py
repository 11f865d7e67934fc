#!/usr/bin/env python3
"""speculative: lossless speculative decoding (draft model or n-gram prompt lookup), checked
against target_only: greedy speculation must produce exactly the target's text.

    python sdk/python/examples/speculative.py --gamma 5 "List the planets of the solar system."
"""
import argparse

import tandem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prompt", nargs="?", default="List the planets of the solar system.")
    ap.add_argument("--server", default="127.0.0.1:50051", help="orchestrator host:port")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--gamma", type=int, default=4, help="draft length per round, 1..32")
    ap.add_argument("--drafter", choices=["model", "ngram"], default=None,
                    help="model = the deployment's draft model, ngram = prompt lookup (default: the deployment's)")
    args = ap.parse_args()

    messages = [{"role": "user", "content": args.prompt}]
    with tandem.Client(args.server) as client:
        params = {"drafter": args.drafter} if args.drafter else {}
        stream = client.chat(messages, strategy="speculative", max_tokens=args.max_tokens, gamma=args.gamma,
                             adaptive_gamma=True, params=params)  # temperature unset: greedy
        for chunk in stream:
            # Several tokens per chunk when a round accepted several drafted tokens.
            print(chunk.text, end="", flush=True)
        spec = stream.result()
        baseline = client.chat(messages, strategy="target_only", max_tokens=args.max_tokens, stream=False)

    s = spec.stats
    print(f"\n\nacceptance {s.acceptance_rate:.0%} ({s.accepted_tokens}/{s.drafted_tokens} drafted tokens), "
          f"{s.mean_acceptance_length:.2f} tokens per target call, final gamma {s.final_gamma}")
    print("per position:", ", ".join(f"{a}/{d}" for a, d in zip(s.accepted_per_position, s.drafted_per_position)))
    print(f"{s.e2e_latency_ms:.0f} ms speculative vs {baseline.stats.e2e_latency_ms:.0f} ms target_only; "
          f"same text: {spec.text == baseline.text}")


if __name__ == "__main__":
    main()
