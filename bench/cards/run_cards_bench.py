#!/usr/bin/env python3
"""CARDS vs best-of-N vs ARGS vs plain sampling on HH-RLHF prompts (docs/benchmarks.md).

Takes the first N single-turn prompts of tests/data/hh-rlhf/harmless-base-test.jsonl.gz
(the human turn of each dialogue whose "chosen" text has exactly one "Human:" turn, as the
user message of the policy's chat template; the judge sees the human text as the question),
runs build*/bench/cards/tandem_cards_bench once per strategy group, and prints a markdown
table: mean reward (the judge's score of the returned response), LLM forward calls, reward
calls, reward items and wall time per response, with ratios against best-of-N.

r* calibration (the documented offline procedure): with --calibrate Q, plain sampling
(target_only, the run's sampling parameters) first answers M further prompts (--calibration-prompts,
disjoint from the evaluated ones), the judge scores them, and cards runs with r_star = the
Q-quantile of those scores (linear interpolation). Cost: M plain generations + M reward items.

Usage: bench/cards/run_cards_bench.py [--n 12] [--build build] [--judge NAME] [--out FILE]
         [--strategies target_only,best_of_n,cards,args] [--param STRATEGY.KEY=VALUE ...]
         [--calibrate Q] [--calibration-prompts M] [--tag LABEL] [--summarize-only]
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")  # gsm8k/, hh-rlhf/, long_text/ (tests/data/README.md)


def single_turn_prompts(n):
    path = os.path.join(DATA, "hh-rlhf", "harmless-base-test.jsonl.gz")
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            chosen = json.loads(line)["chosen"]
            if chosen.count("\n\nHuman:") != 1 or chosen.count("\n\nAssistant:") != 1:
                continue
            human = chosen.split("\n\nHuman:", 1)[1].split("\n\nAssistant:", 1)[0].strip()
            if not human:
                continue
            out.append({"id": i, "messages": [{"role": "user", "content": human}], "prompt_text": human})
            if len(out) == n:
                break
    return out


def summarize(rows):
    by = {}
    for r in rows:
        by.setdefault(r["strategy"] + (" " + r["tag"] if r.get("tag") else ""), []).append(r)
    order = sorted(by, key=lambda s: (["target_only", "best_of_n", "cards", "args"].index(s.split()[0])
                                      if s.split()[0] in ("target_only", "best_of_n", "cards", "args") else 9, s))
    bon_wall = statistics.mean(r["wall_ms"] for r in by["best_of_n"]) if "best_of_n" in by else None
    lines = ["| strategy | prompts | mean reward (sd) | LLM calls | reward calls | reward items | tokens | wall s | wall / best-of-N |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in order:
        rs = by[s]
        rew = [r["final_reward"] for r in rs]
        wall = statistics.mean(r["wall_ms"] for r in rs)
        lines.append("| %s | %d | %.3f (%.3f) | %.0f | %.1f | %.0f | %.0f | %.1f | %s |" % (
            s, len(rs), statistics.mean(rew), statistics.pstdev(rew),
            statistics.mean(r["llm_calls"] for r in rs), statistics.mean(r["reward_calls"] for r in rs),
            statistics.mean(r["reward_items"] for r in rs), statistics.mean(r["generated_tokens"] for r in rs),
            wall / 1000, "%.2f" % (wall / bon_wall) if bon_wall else "-"))
    lines.append("")
    for name in order:
        if not name.startswith("cards"):
            continue
        rs = by[name]
        if "best_of_n" in by:
            bon = {r["id"]: r["final_reward"] for r in by["best_of_n"]}
            pairs = [(r["final_reward"], bon[r["id"]]) for r in rs if r["id"] in bon]
            wins = sum(1 for c, b in pairs if c > b)
            ties = sum(1 for c, b in pairs if c == b)
            lines.append("%s vs best_of_n per prompt: %d wins, %d ties, %d losses" % (
                name, wins, ties, len(pairs) - wins - ties))
        lines.append("%s segments per response: %.1f proposed, %.1f accepted (%.1f forced), %.1f rejected; r* %s" % (
            name, statistics.mean(r["segments_proposed"] for r in rs), statistics.mean(r["segments_accepted"] for r in rs),
            statistics.mean(r["segments_forced"] for r in rs), statistics.mean(r["segments_rejected"] for r in rs),
            sorted(set("%.4f" % r["r_star"] for r in rs if r.get("r_star") is not None))))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--judge", default="")
    ap.add_argument("--policy", default="smollm2-135m")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--strategies", default="target_only,best_of_n,cards,args")
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--out", default="/tmp/tandem-cards-bench.jsonl")
    ap.add_argument("--summarize-only", action="store_true")
    ap.add_argument("--calibrate", type=float, default=None)
    ap.add_argument("--calibration-prompts", type=int, default=8)
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    if not a.summarize_only:
        base = os.path.dirname(a.out) or "."
        bench = os.path.join(a.build, "bench", "cards", "tandem_cards_bench")
        common = ["--policy", a.policy, "--max-tokens", str(a.max_tokens), "--threads", str(a.threads)]
        if a.judge:
            common += ["--judge", a.judge]
        all_prompts = single_turn_prompts(a.n + (a.calibration_prompts if a.calibrate is not None else 0))
        prompts = os.path.join(base, "cards-bench-prompts.jsonl")
        with open(prompts, "w") as f:
            for p in all_prompts[:a.n]:
                f.write(json.dumps(p) + "\n")
        params = list(a.param)
        if a.calibrate is not None:
            cal_prompts = os.path.join(base, "cards-bench-calibration-prompts.jsonl")
            cal_out = os.path.join(base, "cards-bench-calibration.jsonl")
            with open(cal_prompts, "w") as f:
                for p in all_prompts[a.n:]:
                    f.write(json.dumps(p) + "\n")
            if os.path.exists(cal_out):
                os.remove(cal_out)
            subprocess.run([bench, "--prompts", cal_prompts, "--out", cal_out, "--strategies", "target_only"] + common,
                           check=True)
            with open(cal_out) as f:
                scores = sorted(json.loads(line)["final_reward"] for line in f if line.strip())
            pos = a.calibrate * (len(scores) - 1)
            lo = int(pos)
            hi = min(lo + 1, len(scores) - 1)
            r_star = scores[lo] + (pos - lo) * (scores[hi] - scores[lo])
            print("calibration: %d plain samples, rewards %s, r* = q%.2f = %.4f" % (
                len(scores), ["%.3f" % x for x in scores], a.calibrate, r_star), file=sys.stderr)
            params.append("cards.r_star=%.6f" % r_star)
        cmd = [bench, "--prompts", prompts, "--out", a.out, "--strategies", a.strategies] + common
        if a.tag:
            cmd += ["--tag", a.tag]
        for p in params:
            cmd += ["--param", p]
        print(" ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
    with open(a.out) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    print(summarize(rows))


if __name__ == "__main__":
    main()
