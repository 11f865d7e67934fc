#!/usr/bin/env python3
"""CARDS vs best-of-N vs ARGS vs plain sampling on HH-RLHF prompts (docs/benchmarks.md).

Takes the first N single-turn prompts of ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz
(the human turn of each dialogue whose "chosen" text has exactly one "Human:" turn, as the
user message of the policy's chat template; the judge sees the human text as the question),
runs build*/bench/cards/tandem_cards_bench once per strategy group, and prints a markdown
table: mean reward (the judge's score of the returned response), LLM forward calls, reward
calls, reward items and wall time per response, with ratios against best-of-N.

Usage: bench/cards/run_cards_bench.py [--n 12] [--build build] [--judge NAME] [--out FILE]
         [--strategies target_only,best_of_n,cards,args] [--param STRATEGY.KEY=VALUE ...]
         [--summarize-only]
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("TANDEM_SHARED", os.path.join(ROOT, "..", "shared"))


def single_turn_prompts(n):
    path = os.path.join(SHARED, "data", "hh-rlhf", "harmless-base-test.jsonl.gz")
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
        by.setdefault(r["strategy"], []).append(r)
    order = [s for s in ("target_only", "best_of_n", "cards", "args") if s in by] + \
            [s for s in by if s not in ("target_only", "best_of_n", "cards", "args")]
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
    if "cards" in by and "best_of_n" in by:
        bon = {r["id"]: r["final_reward"] for r in by["best_of_n"]}
        pairs = [(r["final_reward"], bon[r["id"]]) for r in by["cards"] if r["id"] in bon]
        wins = sum(1 for c, b in pairs if c > b)
        ties = sum(1 for c, b in pairs if c == b)
        lines.append("")
        lines.append("CARDS vs best-of-N per prompt: %d wins, %d ties, %d losses" % (wins, ties, len(pairs) - wins - ties))
    if "cards" in by:
        rs = by["cards"]
        lines.append("CARDS segments per response: %.1f proposed, %.1f accepted (%.1f forced), %.1f rejected" % (
            statistics.mean(r["segments_proposed"] for r in rs), statistics.mean(r["segments_accepted"] for r in rs),
            statistics.mean(r["segments_forced"] for r in rs), statistics.mean(r["segments_rejected"] for r in rs)))
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
    a = ap.parse_args()
    if not a.summarize_only:
        prompts = os.path.join(os.path.dirname(a.out) or ".", "cards-bench-prompts.jsonl")
        with open(prompts, "w") as f:
            for p in single_turn_prompts(a.n):
                f.write(json.dumps(p) + "\n")
        cmd = [os.path.join(a.build, "bench", "cards", "tandem_cards_bench"), "--prompts", prompts, "--out", a.out,
               "--policy", a.policy, "--strategies", a.strategies, "--max-tokens", str(a.max_tokens),
               "--threads", str(a.threads)]
        if a.judge:
            cmd += ["--judge", a.judge]
        for p in a.param:
            cmd += ["--param", p]
        print(" ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
    with open(a.out) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    print(summarize(rows))


if __name__ == "__main__":
    main()
