#!/usr/bin/env python3
"""What speculation across services costs beyond speculation in one process.

Starts a loopback deployment (`tandem up`: target, draft and orchestrator services, the Qwen pair by
default, all cores each) with each --binary in turn and sends the same speculative requests through
it (`tandem generate --server`, gamma 4, --ignore-eos, fixed seed), then runs them in one process
(`tandem generate --model`, the first binary; target-only too). For every request it records the end-to-end
time, the Propose and Verify wall times the orchestrator measured, and the minor page faults of the
three service processes while the request ran (/proc/<pid>/stat), so that time spent moving the
drafter's q rows (at temperature > 0 a dense row per drafted token: the vocabulary in floats) shows
beside the time spent computing. Target-only requests through the deployment are the yardstick.

Writes bench/results/deployment_overhead/<UTC stamp>/{runs.jsonl,summary.json,env.json} and prints a
markdown table (median of --runs requests per cell).

Usage: bench/speculative/deployment_overhead.py [--binary build/cli/tandem [OTHER ...]]
       [--temperatures 0 0.7] [--runs 3] [--max-tokens 96]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "bench", "speculative"))
from machine import loadavg, run_record  # noqa: E402
from load_adaptive import down, up, write_config  # noqa: E402

PROMPT = "Write a Python function that returns the n-th Fibonacci number, then a test for it."


def service_pids(cfg):
    """The service processes `tandem up` started for cfg (their command lines name it)."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmd and cfg.encode() in cmd:
            pids.append(int(p))
    return pids


def minor_faults(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                total += int(f.read().rsplit(")", 1)[1].split()[7])  # field 10: minflt
        except (OSError, ValueError, IndexError):
            pass
    return total


def generate(binary, temperature, max_tokens, extra):
    """One `tandem generate --json` run; its stats (or an error string)."""
    cmd = [binary, "generate", "--temperature", str(temperature), "--seed", "3", "--max-tokens", str(max_tokens),
           "--ignore-eos", "--json", *extra, PROMPT]
    r = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        return {"error": (r.stderr or r.stdout)[-300:]}
    return json.loads(lines[-1])["stats"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", nargs="+", default=[os.path.join(ROOT, "build", "cli", "tandem")],
                    help="tandem binaries to compare, each with its own deployment (the first also runs in process)")
    ap.add_argument("--target", default="qwen2.5-coder-1.5b")
    ap.add_argument("--draft", default="qwen2.5-coder-0.5b")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 0.7])
    ap.add_argument("--runs", type=int, default=3, help="requests per cell")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--q-tail-mass", type=float, default=None,
                    help="also run speculative requests with this q_tail_mass (the strategy's default otherwise; "
                         "0 = the drafter's exact q rows)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "deployment_overhead"))
    args = ap.parse_args()
    out_dir, env = run_record(ROOT, args.out, binaries=args.binary, target=args.target, draft=args.draft,
                              temperatures=args.temperatures, runs=args.runs, max_tokens=args.max_tokens,
                              q_tail_mass=args.q_tail_mass)
    print(json.dumps(env), flush=True)

    runs = []

    def record(where, binary, mode, t, stats, faults=None):
        rec = dict(where=where, binary=binary, mode=mode, temperature=t, page_faults=faults, **{
            k: stats.get(k) for k in ("e2e_latency_ms", "draft_time_ms", "target_time_ms", "draft_calls",
                                      "target_calls", "generated_tokens", "error")},
                   acceptance=(stats.get("speculation") or {}).get("acceptance_rate"))
        runs.append(rec)
        print(json.dumps(rec), flush=True)

    modes = [("speculative", ["--strategy", "speculative", "--gamma", "4"]),
             ("target_only", ["--strategy", "target_only"])]
    if args.q_tail_mass is not None:
        modes.insert(1, (f"speculative q_tail_mass={args.q_tail_mass:g}",
                         ["--strategy", "speculative", "--gamma", "4", "--param", f"q_tail_mass={args.q_tail_mass:g}"]))
    for binary in args.binary:
        tmp = tempfile.mkdtemp(prefix="tandem-overhead-")
        cfg, ports = write_config(tmp, args.target, args.draft, 0, name="overhead")
        if not up(binary, cfg):
            return 1
        try:
            pids = service_pids(cfg)
            server = ["--server", f"127.0.0.1:{ports['orchestrator'][0]}"]
            generate(binary, 0.7, 8, server + ["--strategy", "speculative"])  # warm-up
            for t in args.temperatures:
                for mode, extra in modes:
                    for _ in range(args.runs):
                        before = minor_faults(pids)
                        stats = generate(binary, t, args.max_tokens, server + extra)
                        record("deployment", binary, mode, t, stats, minor_faults(pids) - before)
        finally:
            down(binary, cfg)
    for t in args.temperatures:
        for mode, extra in modes:
            if mode.startswith("speculative"):
                extra = [*extra, "--draft-model", args.draft, "--param", "drafter=model"]
            for _ in range(args.runs):
                stats = generate(args.binary[0], t, args.max_tokens, ["--model", args.target, *extra])
                record("in_process", args.binary[0], mode, t, stats)

    summary = []
    for t in args.temperatures:
        for where, binary, mode in sorted({(r["where"], r["binary"], r["mode"]) for r in runs}):
            cell = [r for r in runs if (r["where"], r["binary"], r["mode"], r["temperature"]) == (where, binary, mode, t)
                    and not r.get("error")]
            if not cell:
                continue
            med = lambda k: statistics.median(r[k] for r in cell) if all(r.get(k) is not None for r in cell) else None
            summary.append(dict(temperature=t, where=where, binary=binary, mode=mode, e2e_ms=med("e2e_latency_ms"),
                                draft_ms=med("draft_time_ms"), target_ms=med("target_time_ms"),
                                page_faults=med("page_faults"), tokens=med("generated_tokens"),
                                acceptance=med("acceptance")))
    env["loadavg_after"] = loadavg()
    with open(os.path.join(out_dir, "runs.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in runs)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out_dir, "env.json"), "w") as f:
        json.dump(env, f, indent=1)

    print(f"\n{env['cpu']}, {env['nproc']} cores, load before {' '.join(env['loadavg_before'])}, after "
          f"{' '.join(env['loadavg_after'])}; {args.target} <- {args.draft}, gamma 4, {args.max_tokens} tokens, "
          f"median of {args.runs}")
    print("| T | where | binary | mode | e2e ms | Propose ms | Verify ms | acceptance | service page faults |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in summary:
        fmt = lambda v: "" if v is None else f"{v:.0f}"
        print(f"| {s['temperature']:g} | {s['where']} | {os.path.basename(s['binary'])} | {s['mode']} | {fmt(s['e2e_ms'])} "
              f"| {fmt(s['draft_ms'])} | {fmt(s['target_ms'])} | "
              f"{'' if s['acceptance'] is None else format(s['acceptance'], '.3f')} | {fmt(s['page_faults'])} |")
    print(f"\nraw results: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
