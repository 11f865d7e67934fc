#!/usr/bin/env python3
"""args: reward-guided decoding per token. The target's top-k next tokens are each scored by the
reward model; the one maximizing logit + w * reward is taken. Here a cheap programmatic reward (the
keyword backend) steers the answer towards words it requires.

    python sdk/python/examples/args.py "Is it possible to download a car?"
"""
import argparse

import tandem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prompt", nargs="?", default="Is it possible to download a car?")
    ap.add_argument("--server", default="127.0.0.1:50051", help="orchestrator host:port")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--required", default="car,download", help="words the keyword reward asks for")
    args = ap.parse_args()

    with tandem.Client(args.server) as client:
        # args' own `top_k` (candidates per token) goes in params=: the top_k keyword is the sampling
        # option of the same name, which args does not use.
        stream = client.chat([{"role": "user", "content": args.prompt}], strategy="args", max_tokens=args.max_tokens,
                             params={"top_k": 5, "w": 2.0, "mode": "greedy", "reward": "keyword",
                                     "reward_options": f"required={args.required}"})
        for chunk in stream:
            print(chunk.text, end="", flush=True)
        s = stream.result().stats
    print(f"\n\nfinal reward {s.get('reward.final_reward')}; {s.get('reward.calls')} reward calls scoring "
          f"{s.get('reward.items')} candidates")


if __name__ == "__main__":
    main()
