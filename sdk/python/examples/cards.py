#!/usr/bin/env python3
"""cards: cascade reward sampling. The response grows by segments; each is scored by the reward model
and accepted against a threshold rising towards r*, otherwise rolled back and resampled.

    python sdk/python/examples/cards.py "Is it possible to download a car?"
"""
import argparse

import tandem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prompt", nargs="?", default="Is it possible to download a car?")
    ap.add_argument("--server", default="127.0.0.1:50051", help="orchestrator host:port")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--r-star", default="0.5", help="target reward r* on the judge's [0, 1] scale, or auto:<q>")
    args = ap.parse_args()

    with tandem.Client(args.server) as client:
        # Hard acceptance makes the threshold bite on the judge's [0, 1] scale (README: soft acceptance
        # with beta=0.7 accepts almost everything there).
        result = client.chat([{"role": "user", "content": args.prompt}], strategy="cards", max_tokens=args.max_tokens,
                             seed=3, r_star=args.r_star, acceptance="hard", max_rejections=4, stream=False)
    s = result.stats
    print(result.text)
    print(f"\nsegments: {s.get('cards.segments_accepted')} accepted, {s.get('cards.segments_rejected')} rejected, "
          f"{s.get('cards.segments_forced')} forced; rejections per segment {s.get('cards.rejections_per_segment')}; "
          f"final reward {s.get('reward.final_reward')}; r* {s.get('cards.r_star')}; {s.get('reward.calls')} reward calls")


if __name__ == "__main__":
    main()
