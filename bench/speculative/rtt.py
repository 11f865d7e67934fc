#!/usr/bin/env python3
"""Speculative speed-up with added round-trip time between the orchestrator and its draft and
target services (issue 16: "across nodes").

  .venv/bin/python bench/speculative/rtt.py [--binary build/cli/tandem] [--rtt-ms 0 0.2 1 5]

`tc netem` is not available here, so the orchestrator reaches both services through a delaying TCP
proxy on loopback (this script, asyncio): every chunk read from either side is written to the other
side rtt/2 later, in order, without waiting for the previous chunk's delay to pass (the link is
pipelined like a real one; the delay is added latency, not a bandwidth cap). The delay applies to
chunks read after it is set, so one deployment serves every RTT value.

The deployment is load_adaptive.py's (`tandem up`: target Qwen2.5-Coder-1.5B, draft 0.5B) with the
orchestrator's `draft:` and `target:` pointing at the proxies. For each RTT, in alternating order per
pass: target-only, speculative (model drafter, fixed γ, greedy) and speculative with overlap
(`overlap: true`: the next block drafted while the target verifies) on the code prompts, one
stream; tokens per second and the speculative / target-only ratios, median over passes.

Writes bench/results/rtt/<UTC time>/{env.json,requests.jsonl,summary.json} and prints a markdown
table.
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "bench", "speculative"))
import load_adaptive  # noqa: E402  (the deployment config and gRPC driver)
from machine import free_port, loadavg, run_record  # noqa: E402


class DelayProxy:
    """TCP proxies on loopback that add `delay_s` one-way latency in each direction."""

    def __init__(self):
        self.delay_s = 0.0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def listen(self, port, upstream_port):
        fut = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(lambda r, w: self._serve(r, w, upstream_port), "127.0.0.1", port), self.loop)
        fut.result(timeout=10)

    async def _serve(self, client_r, client_w, upstream_port):
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._pump(client_r, up_w), self._pump(up_r, client_w), return_exceptions=True)

    async def _pump(self, reader, writer):
        # A reader task stamps each chunk with its due time; a writer task writes in order.
        queue = asyncio.Queue()

        async def read():
            while True:
                data = await reader.read(65536)
                await queue.put((time.monotonic() + self.delay_s, data))
                if not data:
                    return

        async def write():
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        await asyncio.gather(read(), write(), return_exceptions=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--target", default="qwen2.5-coder-1.5b")
    ap.add_argument("--draft", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--rtt-ms", type=float, nargs="+", default=[0, 0.2, 1, 5])
    ap.add_argument("--gamma", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompts", type=int, default=3, help="requests per mode, RTT and pass (one at a time)")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--modes", nargs="+", default=["target_only", "spec_fixed", "spec_overlap"],
                    choices=["target_only", "spec_fixed", "spec_overlap"],
                    help="spec_overlap: the speculative strategy's overlap param (draft the next block while "
                         "the target verifies)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "rtt"))
    args = ap.parse_args()

    out_dir, env = run_record(ROOT, args.out, binary=args.binary, target=args.target, draft=args.draft,
                              gamma=args.gamma, max_tokens=args.max_tokens, rtt_ms=args.rtt_ms, prompts=args.prompts,
                              passes=args.passes, temperature=0.0)
    print(json.dumps(env), flush=True)

    proxy = DelayProxy()
    proxy_ports = {"target": free_port(), "draft": free_port()}
    tmp = tempfile.mkdtemp(prefix="tandem-rtt-")
    cfg, ports = load_adaptive.write_config(tmp, args.target, args.draft, args.threads,
                                            draft_addr=f"127.0.0.1:{proxy_ports['draft']}",
                                            target_addr=f"127.0.0.1:{proxy_ports['target']}", name="rtt")
    for name in ("target", "draft"):
        proxy.listen(proxy_ports[name], ports[name][0])
    if not load_adaptive.up(args.binary, cfg):
        return 1
    load_adaptive.MODES["spec_fixed"] = ("speculative", {"drafter": "model"}, args.gamma, False)
    load_adaptive.MODES["spec_overlap"] = ("speculative", {"drafter": "model", "overlap": "true"}, args.gamma, False)
    spec_modes = [m for m in args.modes if m != "target_only"]
    records = []
    try:
        driver = load_adaptive.Driver(args.binary, f"127.0.0.1:{ports['orchestrator'][0]}",
                                      argparse.Namespace(temperature=0.0))
        for mode in ["target_only"] + spec_modes:
            driver.batch(mode, 1, 8)  # warm-up
        for p in range(args.passes):
            for rtt in args.rtt_ms:
                proxy.delay_s = rtt / 2000.0
                modes = ["target_only"] + spec_modes
                if p % 2 == 1:
                    modes.reverse()
                for mode in modes:
                    for i in range(args.prompts):
                        out = []
                        driver.one(mode, i, args.max_tokens, out)
                        r = out[0]
                        if r["error"]:
                            raise RuntimeError(f"{mode} at {rtt} ms: {r['error']}")
                        r.update(pass_=p, rtt_ms=rtt, tok_s=r["tokens"] / (r["end"] - r["start"]))
                        records.append(r)
                    recs = [r for r in records if r["pass_"] == p and r["rtt_ms"] == rtt and r["mode"] == mode]
                    rate = sum(r["tokens"] for r in recs) / sum(r["end"] - r["start"] for r in recs)
                    print(f"pass {p} rtt {rtt:4.1f} ms {mode:12s} {rate:6.2f} tok/s load {' '.join(loadavg())}",
                          flush=True)
    finally:
        load_adaptive.down(args.binary, cfg)

    env["loadavg_after"] = loadavg()
    with open(os.path.join(out_dir, "env.json"), "w") as f:
        json.dump(env, f, indent=1)
    with open(os.path.join(out_dir, "requests.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    summary = []
    for rtt in args.rtt_ms:
        row = dict(rtt_ms=rtt)
        for mode in ["target_only"] + spec_modes:
            rates = []
            for p in range(args.passes):
                recs = [r for r in records if r["pass_"] == p and r["rtt_ms"] == rtt and r["mode"] == mode]
                rates.append(sum(r["tokens"] for r in recs) / sum(r["end"] - r["start"] for r in recs))
            row[mode] = dict(tok_s=statistics.median(rates), passes=rates)
        for mode in spec_modes:
            spec = [r for r in records if r["rtt_ms"] == rtt and r["mode"] == mode]
            row[mode]["acceptance"] = sum(r["accepted"] for r in spec) / max(sum(r["drafted"] for r in spec), 1)
            row[mode]["speedup"] = row[mode]["tok_s"] / row["target_only"]["tok_s"]
        summary.append(row)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    base = summary[0] if summary and summary[0]["rtt_ms"] == 0 else None
    print(f"\n{env['cpu']}, {env['nproc']} cores, load {' '.join(env['loadavg_before'])} -> "
          f"{' '.join(env['loadavg_after'])}; {args.target} <- {args.draft}, greedy, γ = {args.gamma}, "
          f"{args.max_tokens} tokens, {args.prompts} prompts x {args.passes} passes, one stream")
    print("| added RTT (ms) | mode | tok/s | / target-only | vs no added RTT | acceptance |")
    print("|---|---|---|---|---|---|")
    for row in summary:
        print(f"| {row['rtt_ms']:g} | target_only | {row['target_only']['tok_s']:.2f} | 1.00x | - | - |")
        for mode in spec_modes:
            m = row[mode]
            rel = f"{m['speedup'] / base[mode]['speedup']:.2f}" if base else "-"
            print(f"| {row['rtt_ms']:g} | {mode} | {m['tok_s']:.2f} | {m['speedup']:.2f}x | {rel} | "
                  f"{m['acceptance']:.2f} |")
    print(f"raw: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
