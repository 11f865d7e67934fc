#!/usr/bin/env python3
"""Speculative decoding vs target-only on the same engine, and services on loopback vs all-in-one.

For each configuration (target model, drafter, temperature) it runs the same prompts with
`tandem generate --json` in process, once with --strategy target_only and once with
--strategy speculative, and reports decode tokens/s (the engine's own measure: tokens after
the first / time after the first), the speedup, the acceptance rate and the mean acceptance
length (1 + accepted / drafts, vLLM's definition). With --loopback it also starts the
services of a local deployment (`tandem up`) and runs the speculative requests through the
orchestrator over gRPC, reporting tokens/s on loopback / tokens/s all-in-one.

Prompts: GSM8K questions (chat) and code/rewrite tasks whose answers reuse prompt text, so
the n-gram drafter has something to find. Fixed seeds; greedy and T=1.

Usage: bench/speculative/bench_speculative.py [--configs NAME ...] [--prompts N]
         [--max-tokens N] [--threads N] [--staged-ngram K ...] [--draft-head-vocab K ...] [--draft-requantize T ...]
         [--adaptive-gamma] [--loopback] [--markdown]
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")  # gsm8k/, hh-rlhf/, long_text/ (tests/data/README.md)

CONFIGS = {
    # name: (target, drafter kind, draft model or None)
    "smollm2-ngram": ("smollm2-135m", "ngram", None),
    "smollm2-self": ("smollm2-135m", "model", "smollm2-135m"),
    "qwen1.5b-0.5b": ("qwen2.5-coder-1.5b", "model", "qwen2.5-coder-0.5b"),
    "qwen1.5b-ngram": ("qwen2.5-coder-1.5b", "ngram", None),
}

CODE_PROMPTS = [
    "Here is a Python function:\n\ndef area(w, h):\n    return w * h\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n\n"
    "Rewrite both functions with type hints and a docstring each.",
    "Convert this JSON to YAML:\n{\"name\": \"tandem\", \"version\": 1, \"services\": [\"draft\", \"target\", "
    "\"orchestrator\"], \"ports\": {\"draft\": 50053, \"target\": 50052}}",
    "Fix the bug and return the whole corrected program:\n\nfor i in range(10)\n    print(i * i)\nprint('done')",
    "Write a Python function that returns the n-th Fibonacci number, then a test for it.",
]


def gsm8k_prompts(n):
    out = []
    with open(os.path.join(DATA, "gsm8k", "test.jsonl"), encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line)["question"] + "\nSolve it step by step.")
            if len(out) >= n:
                break
    return out


def run(binary, args):
    p = subprocess.run([binary, "generate"] + args + ["--json"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"tandem generate failed (exit {p.returncode}): {p.stderr.strip()} args={args}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def aggregate(results):
    toks = sum(r["completion_tokens"] for r in results)
    # Aggregate decode rate: every token after each request's first, over the
    # time from its first token to its end (a per-request rate is undefined
    # for one-chunk answers, so rates are not averaged).
    multi = [r for r in results if r["completion_tokens"] > 1]
    st = [r.get("stats", {}) for r in results]
    secs = sum((r["stats"]["e2e_latency_ms"] - r["stats"]["time_to_first_token_ms"]) / 1000 for r in multi)
    n = len(multi)
    spec = [s.get("speculation") or {} for s in st]
    drafted = sum(s.get("drafted_tokens", 0) for s in spec)
    accepted = sum(s.get("accepted_tokens", 0) for s in spec)
    drafts = sum(s.get("num_drafts", 0) for s in spec)
    return dict(tokens=toks, decode_tps=(sum(r["completion_tokens"] for r in multi) - n) / secs if secs > 0 else 0,
                acceptance=accepted / drafted if drafted else 0,
                mean_len=1 + accepted / drafts if drafts else 0,
                target_calls=sum(s.get("target_calls", 0) for s in st))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--configs", nargs="+", default=["smollm2-ngram", "qwen1.5b-0.5b"], choices=list(CONFIGS))
    ap.add_argument("--prompts", type=int, default=4, help="GSM8K prompts (plus the code prompts)")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gamma", type=int, default=4)
    ap.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 1.0])
    ap.add_argument("--loopback", action="store_true", help="also measure services on loopback vs all-in-one")
    ap.add_argument("--staged-ngram", type=int, nargs="+", default=[0],
                    help="staged speculation for model drafters (param staged_ngram): one speculative row per value, "
                         "against the same target-only runs")
    ap.add_argument("--draft-head-vocab", type=int, nargs="+", default=[0],
                    help="the draft model's output head over token ids below K only (tandem generate "
                         "--draft-head-vocab; 0 = all): one speculative row per value")
    ap.add_argument("--draft-requantize", nargs="+", default=["none"], choices=["none", "q4_0", "q8_0"],
                    help="draft model's matrix weights re-quantized at load (tandem generate --draft-requantize; "
                         "none = as stored): one speculative row per value")
    ap.add_argument("--adaptive-gamma", action="store_true",
                    help="also run each model-drafter variant with --adaptive-gamma (gamma chosen from the measured "
                         "costs and acceptance), as extra rows")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    prompts = gsm8k_prompts(args.prompts) + CODE_PROMPTS
    rows = []
    for name in args.configs:
        target, kind, draft = CONFIGS[name]
        for temp in args.temperatures:
            common = ["--model", target, "--chat", "--max-tokens", str(args.max_tokens), "--temperature", str(temp),
                      "--threads", str(args.threads)]
            adaptive = [False, True] if args.adaptive_gamma else [False]
            variants = ([(k, h, rq, a) for k in args.staged_ngram for h in args.draft_head_vocab
                         for rq in args.draft_requantize for a in adaptive]
                        if kind == "model" else [(0, 0, "none", a) for a in adaptive])
            base, spec = [], {v: [] for v in variants}
            for i, p in enumerate(prompts):
                seed = ["--seed", str(1000 + i)]
                # Target-only and each speculative variant alternate per prompt.
                base.append(run(args.binary, common + seed + ["--strategy", "target_only", "--prompt", p]))
                for k, h, rq, a in variants:
                    sargs = common + seed + ["--strategy", "speculative", "--param", f"drafter={kind}",
                                             "--gamma", str(args.gamma), "--prompt", p]
                    if draft:
                        sargs += ["--draft-model", draft]
                    if k:
                        sargs += ["--param", f"staged_ngram={k}"]
                    if h:
                        sargs += ["--draft-head-vocab", str(h)]
                    if rq != "none":
                        sargs += ["--draft-requantize", rq]
                    if a:
                        sargs += ["--adaptive-gamma"]
                    spec[(k, h, rq, a)].append(run(args.binary, sargs))
            b = aggregate(base)
            for k, h, rq, a in variants:
                s = aggregate(spec[(k, h, rq, a)])
                same = sum(1 for x, y in zip(base, spec[(k, h, rq, a)]) if x["token_ids"] == y["token_ids"])
                label = (name + (f" staged_ngram={k}" if k else "") + (f" head_vocab={h}" if h else "") + (f" requantize={rq}" if rq != "none" else "")
                         + (" adaptive" if a else ""))
                row = dict(config=label, temperature=temp,
                           target_only_tps=b["decode_tps"], speculative_tps=s["decode_tps"],
                           speedup=s["decode_tps"] / b["decode_tps"] if b["decode_tps"] else 0,
                           acceptance=s["acceptance"], mean_acceptance_length=s["mean_len"],
                           target_calls=s["target_calls"], target_only_calls=b["tokens"],
                           identical_outputs=f"{same}/{len(prompts)}")
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)

    loop = None
    if args.loopback:
        loop = loopback(args, prompts)
    if args.markdown:
        print("| config | T | target-only tok/s | speculative tok/s | speedup | acceptance | mean acc. length | "
              "target calls (spec / target-only) | identical outputs |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['config']} | {r['temperature']:g} | {r['target_only_tps']:.1f} | {r['speculative_tps']:.1f} | "
                  f"{r['speedup']:.2f}x | {r['acceptance']:.2f} | {r['mean_acceptance_length']:.2f} | "
                  f"{r['target_calls']} / {r['target_only_calls']} | {r['identical_outputs']} |")
        if loop:
            print(f"\nLoopback services vs all-in-one ({loop['config']}, T=0, gamma {args.gamma}): "
                  f"{loop['loopback_tps']:.1f} vs {loop['inprocess_tps']:.1f} tok/s = {loop['ratio']:.2f}")
    print(json.dumps(dict(rows=rows, loopback=loop), indent=1))


def loopback(args, prompts):
    """smollm2 target + smollm2 draft services + orchestrator on free loopback ports."""
    ports = [free_port() for _ in range(6)]
    run_dir = tempfile.mkdtemp(prefix="tandem-bench-")
    cfg = os.path.join(run_dir, "bench.yaml")
    with open(cfg, "w") as f:
        f.write(f"""name: bench
log_dir: {run_dir}
services:
  - {{name: target, role: target, model: smollm2-135m, host: 127.0.0.1, grpc_port: {ports[0]}, metrics_port: {ports[1]}, threads: {args.threads}}}
  - {{name: draft, role: draft, model: smollm2-135m, host: 127.0.0.1, grpc_port: {ports[2]}, metrics_port: {ports[3]}, threads: {args.threads}}}
  - {{name: orchestrator, role: orchestrator, model: smollm2-135m, host: 127.0.0.1, grpc_port: {ports[4]}, metrics_port: {ports[5]}, drafter: model, draft: draft, target: target, default_strategy: speculative}}
""")
    subprocess.run([args.binary, "up", cfg], check=True, capture_output=True)
    try:
        common = ["--chat", "--max-tokens", str(args.max_tokens), "--temperature", "0", "--strategy", "speculative",
                  "--gamma", str(args.gamma)]
        remote, local = [], []
        for p in prompts:
            remote.append(run(args.binary, common + ["--server", f"127.0.0.1:{ports[4]}", "--prompt", p]))
            local.append(run(args.binary, common + ["--param", "drafter=model", "--threads", str(args.threads),
                                                    "--prompt", p]))
    finally:
        subprocess.run([args.binary, "down", cfg], capture_output=True)
    r, l = aggregate(remote), aggregate(local)
    return dict(config="smollm2 target + smollm2 draft", loopback_tps=r["decode_tps"], inprocess_tps=l["decode_tps"],
                ratio=r["decode_tps"] / l["decode_tps"] if l["decode_tps"] else 0)


if __name__ == "__main__":
    main()
