#!/usr/bin/env python3
"""Aggregate throughput of a loopback deployment, target-only vs speculative, at several concurrencies.

Issue 16's load-adaptive goal: at every concurrency the speculative deployment's aggregate
throughput is >= 0.95x target-only, and >= 1.5x at concurrency 1. This starts one loopback
deployment (`tandem up`: target, draft and orchestrator services on free ports, the Qwen pair by
default) and, in the same run, for each concurrency C sends C concurrent Generate streams per
mode and measures the aggregate generated tokens / wall time (first request start to last
finish). Modes:
  target_only     the target alone
  spec_fixed      speculative, model drafter, gamma 4 (the controller does not move)
  spec_adaptive   speculative, model drafter, adaptive_gamma (spec/gamma_controller.h: measured
                  costs, acceptance and the target's reported batch; gamma 0 = plain steps)
  spec_default    speculative, model drafter, nothing pinned: no gamma, no adaptive_gamma, no
                  seed (the server's default, adaptive; the other modes' requests are seeded)
Every mode runs --passes times, the order of the modes reversed on every other pass so that a
drift of the machine's load hits all of them alike; the summary takes the median over passes.
Requests use --ignore-eos, fixed seeds and the same prompts in every mode. Each stream sends its
requests one after another, ceil(--min-requests / C) of them, so that one stream is measured over
several requests as a user sending one request after another would see it (a deployment learns
across requests: one request alone measures only its first).

Writes bench/results/load_adaptive/<UTC stamp>/{requests.jsonl,summary.json,env.json,gamma_metrics.txt}
and prints a markdown table.

Usage: bench/speculative/load_adaptive.py [--binary build/cli/tandem] [--concurrency 1 4 16]
       [--max-tokens 48] [--temperature 0.7] [--passes 2] [--min-requests 4]
       [--modes target_only spec_fixed spec_adaptive spec_default] [--spec-param KEY=VALUE ...]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from machine import free_port, loadavg, run_record  # noqa: E402

PROMPTS = [
    "Here is a Python function:\n\ndef area(w, h):\n    return w * h\n\nRewrite it with type hints and a docstring.",
    "Write a Python function that returns the n-th Fibonacci number, then a test for it.",
    "Convert this JSON to YAML:\n{\"name\": \"tandem\", \"version\": 1, \"services\": [\"draft\", \"target\"]}",
    "Fix the bug and return the corrected program:\n\nfor i in range(10)\n    print(i * i)\n",
    "Explain what a hash map is, with a short Python example.",
    "Write a C function that reverses a string in place.",
    "def quicksort(xs):",
    "Write a SQL query that returns the ten customers with the most orders.",
]

MODES = {
    "target_only": ("target_only", {}, None, False),
    "spec_fixed": ("speculative", {"drafter": "model"}, 4, False),
    "spec_adaptive": ("speculative", {"drafter": "model"}, 4, True),
    # What a client that pins nothing gets: no gamma, no adaptive_gamma and no
    # seed (a seed at T > 0 would keep gamma fixed: request_translation.h).
    "spec_default": ("speculative", {"drafter": "model"}, None, None),
}


def write_config(tmp, target, draft, threads, draft_addr="draft", target_addr="target", name="load-adaptive"):
    """The loopback deployment's config (target, draft, orchestrator on free ports); the orchestrator
    reaches the services at draft_addr / target_addr (service names, or host:port of a proxy)."""
    ports = {n: (free_port(), free_port()) for n in ("orchestrator", "target", "draft")}
    lines = [f"name: {name}", f"log_dir: {tmp}/logs", "services:"]

    def entry(service, role, extra):
        g, m = ports[service]
        lines.append(f"  - {{name: {service}, role: {role}, host: 127.0.0.1, grpc_port: {g}, metrics_port: {m}{extra}}}")

    entry("target", "target", f", model: {target}, threads: {threads}, kv_budget_mb: 1024")
    entry("draft", "draft", f", model: {draft}, threads: {threads}, kv_budget_mb: 512")
    entry("orchestrator", "orchestrator",
          f", model: {target}, drafter: model, draft: '{draft_addr}', target: '{target_addr}'")
    path = os.path.join(tmp, f"{name}.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, ports


def up(binary, cfg):
    """`tandem up` on cfg; False (its output printed to stderr) when it fails."""
    r = subprocess.run([binary, "up", cfg, "--timeout", "600"], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
    return r.returncode == 0


def down(binary, cfg):
    """`tandem down` on cfg (best effort: the run's numbers are already taken)."""
    subprocess.run([binary, "down", cfg], capture_output=True, text=True)


class Driver:
    def __init__(self, binary, address, args):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(binary)), "python"))
        import grpc
        from tandem.v1 import common_pb2, generation_pb2, generation_pb2_grpc
        self.grpc, self.common_pb2, self.generation_pb2 = grpc, common_pb2, generation_pb2
        self.stub = generation_pb2_grpc.GenerationStub(grpc.insecure_channel(address))
        self.args = args

    def request(self, mode, index, max_tokens):
        strategy, params, gamma, adaptive = MODES[mode]
        req = self.generation_pb2.GenerateRequest(
            request_id=f"{mode}-{index}-{time.time_ns()}".encode(), prompt=PROMPTS[index % len(PROMPTS)].encode(),
            strategy=strategy.encode(), max_tokens=max_tokens, ignore_eos=True,
            sampling=self.common_pb2.SamplingParams(temperature=self.args.temperature))
        if adaptive is not None:  # spec_default: unset
            req.adaptive_gamma = adaptive
        if mode != "spec_default":
            req.sampling.seed = 1000 + index
        if gamma is not None:
            req.gamma = gamma
        for k, v in params.items():
            req.params[k] = v.encode()
        if strategy == "speculative":
            for kv in self.args.spec_param:
                k, v = kv.split("=", 1)
                req.params[k] = v.encode()
        return req

    def one(self, mode, index, max_tokens, out):
        t0 = time.time()
        tokens, stats, error = 0, None, ""
        try:
            for resp in self.stub.Generate(self.request(mode, index, max_tokens), timeout=1800):
                if resp.HasField("chunk"):
                    tokens += len(resp.chunk.token_ids)
                elif resp.HasField("complete"):
                    stats = resp.complete.stats
        except self.grpc.RpcError as e:
            error = f"{e.code().name}: {(e.details() or '')[:200]}"
        t1 = time.time()
        rec = dict(mode=mode, index=index, tokens=tokens, start=t0, end=t1, error=error)
        if stats is not None:
            sp = stats.speculation
            rec.update(target_calls=stats.target_calls, draft_calls=stats.draft_calls,
                       drafted=sp.drafted_tokens, accepted=sp.accepted_tokens, final_gamma=sp.final_gamma,
                       gamma_choices=[dict(gamma=c.gamma, reason=c.reason, rounds=c.rounds) for c in sp.gamma_choices])
        out.append(rec)

    def stream(self, mode, first, step, count, max_tokens, out):
        for j in range(count):
            self.one(mode, first + j * step, max_tokens, out)

    def batch(self, mode, concurrency, max_tokens, per_stream=1):
        """`concurrency` streams, each sending `per_stream` requests one after another."""
        out, threads = [], []
        for i in range(concurrency):
            t = threading.Thread(target=self.stream, args=(mode, i, concurrency, per_stream, max_tokens, out))
            threads.append(t)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--target", default="qwen2.5-coder-1.5b")
    ap.add_argument("--draft", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=0, help="per service, 0 = all cores")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--min-requests", type=int, default=4,
                    help="requests per cell at least: each of C streams sends ceil(N / C) one after another")
    ap.add_argument("--spec-param", nargs="*", default=[], metavar="KEY=VALUE",
                    help="strategy params added to the speculative modes' requests (e.g. q_tail_mass=0)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "load_adaptive"))
    args = ap.parse_args()
    for kv in args.spec_param:
        if "=" not in kv:
            ap.error(f"--spec-param: '{kv}' is not KEY=VALUE")

    out_dir, env = run_record(ROOT, args.out, binary=args.binary, target=args.target, draft=args.draft,
                              threads=args.threads, max_tokens=args.max_tokens, temperature=args.temperature,
                              passes=args.passes, concurrency=args.concurrency, modes=args.modes,
                              min_requests=args.min_requests, spec_params=args.spec_param)
    print(json.dumps(env), flush=True)

    tmp = tempfile.mkdtemp(prefix="tandem-load-adaptive-")
    cfg, ports = write_config(tmp, args.target, args.draft, args.threads)
    if not up(args.binary, cfg):
        return 1
    records, loads = [], []
    try:
        driver = Driver(args.binary, f"127.0.0.1:{ports['orchestrator'][0]}", args)
        for mode in args.modes:  # warm-up: page in both models, one short request each
            driver.batch(mode, 1, 8)
        for p in range(args.passes):
            for c in args.concurrency:
                modes = args.modes if p % 2 == 0 else list(reversed(args.modes))
                for mode in modes:
                    recs = driver.batch(mode, c, args.max_tokens, -(-max(args.min_requests, 1) // c))
                    tokens = sum(r["tokens"] for r in recs)
                    wall = max(r["end"] for r in recs) - min(r["start"] for r in recs)
                    errors = [r["error"] for r in recs if r["error"]]
                    la = loadavg()
                    loads.append(la)
                    for r in recs:
                        r.update(pass_=p, concurrency=c)
                    records.extend(recs)
                    print(f"pass {p} C={c:2d} {mode:14s} {tokens:5d} tok {wall:7.2f} s {tokens / wall:7.2f} tok/s"
                          f" load {' '.join(la)}{' ERRORS ' + str(errors[:2]) if errors else ''}", flush=True)
        try:
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{ports['orchestrator'][1]}/metrics", timeout=10).read()
            lines = [l for l in metrics.decode().splitlines() if "spec_decode_gamma" in l]
            with open(os.path.join(out_dir, "gamma_metrics.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
        except OSError as e:
            print(f"metrics scrape failed: {e}", file=sys.stderr)
    finally:
        down(args.binary, cfg)

    with open(os.path.join(out_dir, "requests.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    summary = []
    for c in args.concurrency:
        row = dict(concurrency=c)
        for mode in args.modes:
            rates = []
            for p in range(args.passes):
                recs = [r for r in records if r["mode"] == mode and r["concurrency"] == c and r["pass_"] == p]
                wall = max(r["end"] for r in recs) - min(r["start"] for r in recs)
                rates.append(sum(r["tokens"] for r in recs) / wall)
            row[mode] = dict(tok_s=statistics.median(rates), passes=rates)
            recs = [r for r in records if r["mode"] == mode and r["concurrency"] == c]
            rounds = {}
            for r in recs:
                for g in r.get("gamma_choices", []):
                    key = f"{g['reason']}:{g['gamma']}"
                    rounds[key] = rounds.get(key, 0) + g["rounds"]
            if rounds:
                total = sum(rounds.values())
                row[mode]["gamma_rounds"] = rounds
                row[mode]["gamma0_share"] = sum(v for k, v in rounds.items() if k.endswith(":0")) / total
                drafted = sum(r.get("drafted", 0) for r in recs)
                row[mode]["acceptance"] = sum(r.get("accepted", 0) for r in recs) / drafted if drafted else None
        base = row.get("target_only", {}).get("tok_s")
        if base:
            for mode in args.modes:
                row[mode]["vs_target_only"] = row[mode]["tok_s"] / base
        summary.append(row)
    env["loadavg_during"] = loads
    env["loadavg_after"] = loadavg()
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out_dir, "env.json"), "w") as f:
        json.dump(env, f, indent=1)

    print(f"\n{env['cpu']}, {env['nproc']} cores, load before {' '.join(env['loadavg_before'])}, "
          f"after {' '.join(env['loadavg_after'])}; {args.target} <- {args.draft}, T={args.temperature}, "
          f"{args.max_tokens} tokens/request, at least {args.min_requests} requests per cell, "
          f"median of {args.passes} passes")
    print("| streams | " + " | ".join(f"{m} tok/s" for m in args.modes) + " | " +
          " | ".join(f"{m} / target_only" for m in args.modes if m != "target_only") + " | adaptive: rounds at gamma 0 |")
    print("|" + "---|" * (2 + 2 * (len(args.modes) - 1) + 1))
    for row in summary:
        cells = [f"{row[m]['tok_s']:.2f}" for m in args.modes]
        ratios = [f"{row[m].get('vs_target_only', float('nan')):.2f}x" for m in args.modes if m != "target_only"]
        share = row.get("spec_adaptive", {}).get("gamma0_share")
        print(f"| {row['concurrency']} | " + " | ".join(cells) + " | " + " | ".join(ratios) +
              f" | {'' if share is None else f'{100 * share:.0f} %'} |")
    print(f"\nraw results: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
