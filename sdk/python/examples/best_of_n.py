#!/usr/bin/env python3
"""best_of_n: sample n responses, score them all in one reward call, return the best.

    python sdk/python/examples/best_of_n.py --n 8 "Give me a tip for learning to cook."
"""
import argparse

import tandem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prompt", nargs="?", default="Give me one tip for learning to cook.")
    ap.add_argument("--server", default="127.0.0.1:50051", help="orchestrator host:port")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--n", type=int, default=4, help="responses sampled, 1..64")
    args = ap.parse_args()

    with tandem.Client(args.server) as client:
        # best_of_n uses the request's sampling options; the best response streams once chosen.
        stream = client.chat([{"role": "user", "content": args.prompt}], strategy="best_of_n",
                             max_tokens=args.max_tokens, temperature=0.9, top_p=0.95, seed=7, n=args.n)
        for chunk in stream:
            print(chunk.text, end="", flush=True)
        s = stream.result().stats
    print(f"\n\nbest of {args.n}: reward {s.get('reward.final_reward')}, {s.get('reward.items')} responses scored in "
          f"{s.get('reward.calls')} call(s), {s.get('reward.time_ms', 0):.0f} ms in the reward model")


if __name__ == "__main__":
    main()
