#!/usr/bin/env python3
"""target_only: plain decoding with the target model, streamed, with the request's statistics.

Start a deployment first (`tandem up deploy/local.yaml`), then:
    python sdk/python/examples/target_only.py "Why is the sky blue?"
"""
import argparse

import tandem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prompt", nargs="?", default="Why is the sky blue?")
    ap.add_argument("--server", default="127.0.0.1:50051", help="orchestrator host:port")
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args()

    with tandem.Client(args.server) as client:
        # chat() renders the message with the model's chat template; temperature 0.7 samples
        # (seeded, so the run is reproducible); leaving temperature unset would be greedy.
        stream = client.chat([{"role": "user", "content": args.prompt}], strategy="target_only",
                             max_tokens=args.max_tokens, temperature=0.7, top_p=0.95, seed=1)
        for chunk in stream:
            print(chunk.text, end="", flush=True)
        result = stream.result()
    stats = result.stats
    print(f"\n\n[{result.finish_reason}] {stats.generated_tokens} tokens, prompt {stats.prompt_tokens} tokens, "
          f"first token after {stats.time_to_first_token_ms:.0f} ms, total {stats.e2e_latency_ms:.0f} ms")


if __name__ == "__main__":
    main()
