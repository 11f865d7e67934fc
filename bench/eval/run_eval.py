#!/usr/bin/env python3
"""Evaluation-protocol driver (issue 17): runs one suite on one split and writes raw per-item results.

  bench/eval/run_eval.py --suite rsd   --split test [--limit N] [--run LABEL:STRATEGY[:k=v,...]]...
  bench/eval/run_eval.py --suite cards --split test [--limit N] [--strategies target_only,best_of_n,cards]
  bench/eval/run_eval.py --suite rapid --split test [--limit N] [--lengths 4096 8192] [--configs target_only rapid]

Items come from bench/data/splits/<data set>.json (bench/eval/make_splits.py), in split order;
--limit takes the first N, --skip skips the first M (to extend a run). Each item runs as its own
invocation of the suite's benchmark binary (tandem_rsd_bench, tandem_cards_bench, `tandem
generate --json`), so that every line records the load average around its own run.

Output: bench/results/<suite>/<UTC timestamp>/results.jsonl (one line per item x strategy run,
appended as soon as it finishes: an interrupted run keeps what it measured) and meta.json (the
command, git commit, CPU model, cores, start / end load). Line fields: suite, item, split, run,
strategy, params, output, reward, correct, prompt_tokens, tokens, flops {draft, target, prm,
total} (null where the benchmark has no estimate), wall_s, cpu_model, nproc, load_before,
load_after (1/5/15-minute load averages), utc, and the benchmark's own fields under "raw".
bench/eval/summarize.py reads these directories.

Tuned parameters, all chosen on development items only (docs/benchmarks.md, issues 5 and 6, which
ran on GSM8K 0..19 and HH-RLHF ids 4..80 — now the development splits): RSD δ = 0.40 with the 0.5B
judge and δ = 0.90 with the 1.5B judge; CARDS r* = 0.342 (0.8-quantile of plain-sampling rewards on
development prompts 40..80), accept_beta = 0.05.
"""
import argparse
import datetime
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "eval"))
sys.path.insert(0, os.path.join(ROOT, "bench", "rapid"))
import rapid_items  # noqa: E402
import bench_rapid  # noqa: E402

SPLITS = os.path.join(ROOT, "bench", "data", "splits")
DATA = os.path.join(ROOT, "tests", "data")
DEFAULT_RSD_RUNS = ["target:target_only", "rsd040:rsd:delta=0.4", "bon4:best_of_n:n=4,policy=draft,temperature=0.7"]
CARDS_PARAMS = ["cards.r_star=0.341923", "cards.accept_beta=0.05"]


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit():
    p = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True)
    return p.stdout.strip()


def load():
    return [round(x, 2) for x in os.getloadavg()]


def split_items(name, split):
    with open(os.path.join(SPLITS, name + ".json")) as f:
        return json.load(f)[split]


class Writer:
    def __init__(self, suite, split, args):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.dir = args.out_dir or os.path.join(ROOT, "bench", "results", suite, stamp)
        os.makedirs(self.dir, exist_ok=True)
        self.suite, self.split, self.cpu = suite, split, cpu_model()
        self.meta = dict(suite=suite, split=split, command=" ".join(sys.argv), git_commit=git_commit(),
                         cpu_model=self.cpu, nproc=os.cpu_count(), started_utc=stamp, load_start=load(),
                         args=vars(args))
        self._write_meta()

    def _write_meta(self):
        with open(os.path.join(self.dir, "meta.json"), "w") as f:
            json.dump(self.meta, f, indent=1)
            f.write("\n")

    def row(self, item, load_before, **fields):
        r = dict(suite=self.suite, item=item, split=self.split, **fields)
        r.update(cpu_model=self.cpu, nproc=os.cpu_count(), load_before=load_before, load_after=load(),
                 utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        with open(os.path.join(self.dir, "results.jsonl"), "a") as f:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"{self.suite} {item} {r.get('run')}: correct={r.get('correct')} reward={r.get('reward')} "
              f"tokens={r.get('tokens')} wall={r.get('wall_s', 0):.1f}s load={r['load_after'][0]}",
              file=sys.stderr, flush=True)

    def close(self):
        self.meta.update(finished_utc=datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
                         load_end=load())
        self._write_meta()


def run_rsd(a, w, items):
    with open(os.path.join(DATA, "gsm8k", "test.jsonl")) as f:
        lines = [line for line in f if line.strip()]
    runs = a.run or DEFAULT_RSD_RUNS
    for idx in items:
        for spec in runs:  # one invocation per (problem, run): load per run, and an interrupted item keeps its runs
            with tempfile.TemporaryDirectory() as tmp:
                data, out = os.path.join(tmp, "p.jsonl"), os.path.join(tmp, "out.jsonl")
                with open(data, "w") as f:
                    f.write(lines[idx])
                cmd = [a.rsd_bench, "--data", data, "--out", out, "--count", "1", "--max-tokens", str(a.max_tokens),
                       "--threads", str(a.threads), "--target", a.target, "--draft", a.draft, "--judge", a.judge,
                       "--run", spec]
                lb = load()
                subprocess.run(cmd, check=True)
                with open(out) as f:
                    for line in f:
                        r = json.loads(line)
                        flops = dict(draft=r["flops_draft"], target=r["flops_target"], prm=r["flops_prm"])
                        flops["total"] = sum(flops.values())
                        steps = r.get("rsd_step_rewards") or []
                        w.row(idx, lb, run=r["run"], strategy=r["strategy"],
                              params=dict(r["params"], judge=a.judge, max_tokens=a.max_tokens),
                              output=r["text"], reward=(sum(steps) / len(steps)) if steps else None,
                              correct=bool(r["correct"]), prompt_tokens=r["prompt_tokens"],
                              tokens=r["generated_tokens"], flops=flops, wall_s=r["wall_ms"] / 1000,
                              raw={k: v for k, v in r.items() if k not in ("text",)})


def hh_prompt(line_id):
    with gzip.open(os.path.join(DATA, "hh-rlhf", "harmless-base-test.jsonl.gz"), "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i == line_id:
                chosen = json.loads(line)["chosen"]
                human = chosen.split("\n\nHuman:", 1)[1].split("\n\nAssistant:", 1)[0].strip()
                return {"id": i, "messages": [{"role": "user", "content": human}], "prompt_text": human}
    raise SystemExit(f"no HH-RLHF line {line_id}")


def run_cards(a, w, items):
    params = a.param if a.param else CARDS_PARAMS
    for pid in items:
        for strategy in a.strategies.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                prompts, out = os.path.join(tmp, "p.jsonl"), os.path.join(tmp, "out.jsonl")
                with open(prompts, "w") as f:
                    f.write(json.dumps(hh_prompt(pid)) + "\n")
                cmd = [a.cards_bench, "--prompts", prompts, "--out", out, "--strategies", strategy,
                       "--policy", a.policy, "--judge", a.judge, "--max-tokens", str(a.max_tokens),
                       "--threads", str(a.threads), "--seed", str(a.seed)]
                for p in params:
                    cmd += ["--param", p]
                lb = load()
                subprocess.run(cmd, check=True)
                with open(out) as f:
                    for line in f:
                        r = json.loads(line)
                        label = strategy + (f"{r['params'].get('n', 4)}" if strategy == "best_of_n" else "")
                        w.row(pid, lb, run=label, strategy=strategy,
                              params=dict(r["params"], policy=a.policy, judge=a.judge, max_tokens=a.max_tokens,
                                          seed=a.seed, temperature=0.7, top_k=40),
                              output=r["text"], reward=r["final_reward"], correct=None, prompt_tokens=None,
                              tokens=r["generated_tokens"], flops=None, wall_s=r["wall_ms"] / 1000,
                              raw={k: v for k, v in r.items() if k != "text"})


def run_rapid(a, w, items):
    texts = bench_rapid.long_texts()
    for item_id in items:
        item = rapid_items.make_item(item_id, texts, reserve_tokens=200 + a.max_tokens)
        if int(item_id.split("-")[1]) not in a.lengths:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            ctx = os.path.join(tmp, "ctx.txt")
            with open(ctx, "w", encoding="utf-8") as f:
                f.write(item["context"])
            for config in a.configs:
                task = dict(context=item["context"], question=item["question"])
                args = bench_rapid.config_args(config, a, task, ctx)
                lb = load()
                r = bench_rapid.run(a.tandem, args)
                st = r.get("stats", {})
                w.row(item_id, lb, run=config, strategy="rapid" if config.startswith("rapid") else config,
                      params=dict(model=a.model, max_tokens=a.max_tokens, config=config, length=item["length"],
                                  kind=item["kind"]),
                      output=r["text"], reward=None, correct=rapid_items.is_correct(r["text"], item["answers"]),
                      prompt_tokens=r["prompt_tokens"], tokens=r.get("generated_tokens", st.get("generated_tokens")),
                      flops=st.get("flops"), wall_s=r["wall_s"],
                      raw=dict(answers=item["answers"], depths=item["depths"], stats=st,
                               decode_tokens_per_s=r.get("decode_tokens_per_s")))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", required=True, choices=["rsd", "cards", "rapid"])
    ap.add_argument("--split", required=True, choices=["dev", "test"])
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--items", help="comma-separated item ids (must belong to the split)")
    ap.add_argument("--out-dir", help="default bench/results/<suite>/<UTC timestamp>")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=2)
    # rsd
    ap.add_argument("--run", action="append", default=[], help="rsd: LABEL:STRATEGY[:k=v,...] (tandem_rsd_bench)")
    ap.add_argument("--target", default="qwen2.5-coder-1.5b")
    ap.add_argument("--draft", default="qwen2.5-coder-0.5b")
    ap.add_argument("--judge", default="qwen2.5-coder-0.5b")
    ap.add_argument("--max-tokens", type=int, default=None, help="rsd 640, cards 128, rapid 64")
    # cards
    ap.add_argument("--strategies", default="target_only,best_of_n,cards")
    ap.add_argument("--param", action="append", default=[], help="cards: STRATEGY.KEY=VALUE (default the tuned r*, accept_beta)")
    ap.add_argument("--policy", default="smollm2-135m")
    ap.add_argument("--seed", type=int, default=1)
    # rapid
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192])
    ap.add_argument("--configs", nargs="+", default=["target_only", "rapid"])
    ap.add_argument("--gamma", type=int, default=4)
    ap.add_argument("--short-lmin", type=int, default=1024)
    a = ap.parse_args()
    a.max_tokens = a.max_tokens or dict(rsd=640, cards=128, rapid=64)[a.suite]
    a.rsd_bench = os.path.join(a.build, "bench", "rsd", "tandem_rsd_bench")
    a.cards_bench = os.path.join(a.build, "bench", "cards", "tandem_cards_bench")
    a.tandem = os.path.join(a.build, "cli", "tandem")
    if not os.path.exists(a.tandem):
        a.tandem = os.path.join(a.build, "tandem")
    if os.path.isdir(a.build) and os.path.exists(os.path.join(a.build, "tandem_rsd_bench")):  # a flat snapshot
        a.rsd_bench, a.cards_bench = (os.path.join(a.build, n) for n in ("tandem_rsd_bench", "tandem_cards_bench"))
    name = dict(rsd="gsm8k", cards="hh_rlhf", rapid="rapid")[a.suite]
    items = split_items(name, a.split)
    if a.items:
        want = [type(items[0])(x) for x in a.items.split(",")]
        bad = [x for x in want if x not in items]
        if bad:
            raise SystemExit(f"not in the {a.split} split: {bad}")
        items = want
    if a.suite == "rapid":
        items = [i for i in items if int(i.split("-")[1]) in a.lengths]
    items = items[a.skip:]
    if a.limit:
        items = items[:a.limit]
    w = Writer(a.suite, a.split, a)
    print(f"writing {w.dir}", file=sys.stderr)
    try:
        dict(rsd=run_rsd, cards=run_cards, rapid=run_rapid)[a.suite](a, w, items)
    finally:
        w.close()


if __name__ == "__main__":
    main()
