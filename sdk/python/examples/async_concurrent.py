#!/usr/bin/env python3
"""asyncio: several generations at once on one AsyncClient, each with its own deadline; the
orchestrator batches concurrent requests on the target.

    python sdk/python/examples/async_concurrent.py
"""
import argparse
import asyncio

import tandem

PROMPTS = ["Name a primary color.", "Name a planet.", "Name a musical instrument.", "Name a fruit."]


async def answer(client: tandem.AsyncClient, prompt: str, max_tokens: int) -> str:
    try:
        result = await client.chat([("user", prompt)], max_tokens=max_tokens, temperature=0, timeout=60,
                                   stream=False)
        return f"{prompt} -> {result.text.strip()!r} ({result.stats.strategy}, {result.stats.e2e_latency_ms:.0f} ms)"
    except tandem.DeadlineExceeded:
        return f"{prompt} -> no answer within 60 s"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="127.0.0.1:50051", help="orchestrator host:port")
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args()
    async with tandem.AsyncClient(args.server) as client:
        for line in await asyncio.gather(*(answer(client, p, args.max_tokens) for p in PROMPTS)):
            print(line)


if __name__ == "__main__":
    asyncio.run(main())
