#!/usr/bin/env python3
"""rsd: reward-guided speculative decoding. The draft model writes each step (text up to a blank
line); a process reward model scores it; a step below the threshold delta is rewritten by the target.

    python sdk/python/examples/rsd.py --delta 0.5 "Natalia sold 48 clips in April and half as many in May. How many in total?"
"""
import argparse

import tandem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prompt", nargs="?",
                    default="Natalia sold 48 clips in April and half as many in May. How many clips did she sell?")
    ap.add_argument("--server", default="127.0.0.1:50051", help="orchestrator host:port")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--delta", type=float, default=0.7, help="reward threshold for keeping a draft step")
    args = ap.parse_args()

    with tandem.Client(args.server) as client:
        stream = client.chat([{"role": "user", "content": args.prompt}], strategy="rsd", max_tokens=args.max_tokens,
                             temperature=0, delta=args.delta, omega="binary", max_steps=8)
        for chunk in stream:
            print(chunk.text, end="", flush=True)
        s = stream.result().stats
    rewards = ", ".join(f"{r:.2f}" for r in s.get("rsd.step_rewards", []))
    print(f"\n\n{s.get('rsd.steps')} steps: {s.get('rsd.steps_accepted')} kept from the draft, "
          f"{s.get('rsd.steps_target')} written by the target; step rewards [{rewards}]; "
          f"target step fraction {s.get('rsd.target_step_fraction', 0):.2f}")


if __name__ == "__main__":
    main()
