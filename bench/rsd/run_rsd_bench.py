#!/usr/bin/env python3
"""RSD on GSM8K: runs tandem_rsd_bench (optional) and summarizes its JSON lines.

  run_rsd_bench.py --bench build/bench/rsd/tandem_rsd_bench --out results.jsonl \
      --count 20 --run target:target_only --run draft:draft_only --run rsd05:rsd:delta=0.5
  run_rsd_bench.py --summarize results.jsonl        # only the table

The table has one row per run label over the problems every run finished:
accuracy (math checker vs the GSM8K reference), the fraction of steps the target
wrote, the FLOPs estimate per problem (2 x parameters x tokens forwarded, per
model; strategies/rsd.h documents the accounting) and the target's FLOPs
relative to target_only.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
from pathlib import Path


def target_only_frac(r):
    """Fraction of steps the target wrote, for the single-model runs."""
    on_target = r["strategy"] in ("target_only", "best_of_n") and r["params"].get("policy") != "draft"
    return 1.0 if on_target else 0.0


def target_written(r):
    """Tokens the target generated itself (the spec's "the target for its tokens")."""
    if r["strategy"] == "rsd":
        return r["rsd_target_tokens"]
    return r["generated_tokens"] if target_only_frac(r) == 1.0 else 0


def summarize(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    by_run = collections.defaultdict(dict)
    for r in rows:
        by_run[r["run"]][r["index"]] = r  # a rerun of a problem replaces the older line
    labels = list(by_run)
    common = set.intersection(*(set(v) for v in by_run.values())) if by_run else set()
    if not common:
        print("no problem finished by every run")
        return
    problems = sorted(common)
    base = by_run.get("target")
    base_target = sum(base[i]["flops_target"] for i in problems) if base else 0
    base_written = sum(target_written(base[i]) for i in problems) if base else 0
    print(f"problems: {len(problems)} (GSM8K test indices {problems[0]}..{problems[-1]})")
    hdr = ("run", "strategy", "params", "accuracy", "target step frac", "GFLOPs/problem total",
           "draft", "target", "prm", "target FLOPs vs target_only", "target-written tokens vs target_only",
           "mean tokens", "mean wall s")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for label in labels:
        rs = [by_run[label][i] for i in problems]
        n = len(rs)
        acc = sum(r["correct"] for r in rs)
        frac = [r["target_step_fraction"] for r in rs if r["strategy"] == "rsd"]
        g = lambda k: sum(r[k] for r in rs) / n / 1e9
        total = g("flops_draft") + g("flops_target") + g("flops_prm")
        tsum = sum(r["flops_target"] for r in rs)
        ratio = (f"{tsum / base_target:.2f} ({base_target / tsum:.1f}x fewer)" if tsum > 0 and base_target
                 else ("0" if base_target else "n/a"))
        wsum = sum(target_written(r) for r in rs)
        written = (f"{wsum / base_written:.2f}" + (f" ({base_written / wsum:.1f}x fewer)" if wsum else "")
                   if base_written else "n/a")
        params = ",".join(f"{k}={v}" for k, v in sorted(r0.items())) if (r0 := rs[0]["params"]) else ""
        print(f"| {label} | {rs[0]['strategy']} | {params} | {acc}/{n} = {acc / n:.2f} | "
              f"{(sum(frac) / len(frac)) if frac else target_only_frac(rs[0]):.2f} | "
              f"{total:.0f} | {g('flops_draft'):.0f} | {g('flops_target'):.0f} | {g('flops_prm'):.0f} | {ratio} | {written} | "
              f"{sum(r['generated_tokens'] for r in rs) / n:.0f} | {sum(r['wall_ms'] for r in rs) / n / 1000:.0f} |")
    # Per run: the judge (and so the reward scale) may differ between runs.
    first = True
    for label in labels:
        rewards = sorted(x for i in problems for x in by_run[label][i]["rsd_step_rewards"])
        if not rewards:
            continue
        if first:
            print("\nPRM step rewards per rsd run (every scored draft step):")
            first = False
        q = lambda p: rewards[min(len(rewards) - 1, int(p * len(rewards)))]
        print(f"- {label}: n={len(rewards)}, min {rewards[0]:.3f}, p10 {q(0.1):.3f}, median {q(0.5):.3f}, "
              f"p90 {q(0.9):.3f}, max {rewards[-1]:.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", help="path of tandem_rsd_bench (omit to only summarize)")
    ap.add_argument("--summarize", help="JSON lines to summarize")
    ap.add_argument("--out", default="rsd_results.jsonl")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "tests" / "data" / "gsm8k" / "test.jsonl"))
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--max-tokens", type=int, default=320)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--target", default="qwen2.5-coder-1.5b")
    ap.add_argument("--draft", default="qwen2.5-coder-0.5b")
    ap.add_argument("--judge", default="smollm2-135m")
    ap.add_argument("--run", action="append", default=[],
                    help="LABEL:STRATEGY[:k=v,...]; label 'target' is the target_only baseline")
    a = ap.parse_args()
    if a.bench:
        runs = a.run or ["target:target_only", "draft:draft_only", "rsd045:rsd:delta=0.45",
                         "rsd050:rsd:delta=0.5"]
        cmd = [a.bench, "--data", a.data, "--out", a.out, "--offset", str(a.offset), "--count", str(a.count),
               "--max-tokens", str(a.max_tokens), "--threads", str(a.threads), "--target", a.target,
               "--draft", a.draft, "--judge", a.judge]
        for r in runs:
            cmd += ["--run", r]
        print(" ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
    summarize(a.summarize or a.out)


if __name__ == "__main__":
    main()
