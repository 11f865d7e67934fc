#!/usr/bin/env python3
"""What speculative decoding can reach on this machine at best: the ceiling from measured step costs.

Speculation pays only when the tokens a round keeps outweigh what the round costs. With every cost
in units of one target decode step (a one-token forward at the same context):
  c      one draft step (the draft model's one-token forward)
  v(n)   one target forward over n tokens with logits for all n (the verify of gamma = n - 1)
and a per-token acceptance rate alpha (independent positions, the standard model), a round that
drafts gamma tokens keeps E = (1 - alpha^(gamma+1)) / (1 - alpha) tokens on average and costs
gamma * c + v(gamma + 1), so the speed-up over target-only is at most
  S(alpha, gamma) = E / (gamma * c + v(gamma + 1)),
and at most max over gamma of that (gamma = 0 is target-only, S = 1). It is a ceiling: the
orchestration, the draft's prefill and the sampling are left out, and alpha is taken as constant.

Tree / multi-candidate verification adds target rows that are alternatives to the drafted chain.
Such a node can only be kept where the chain's token at its position was rejected (or, below such
a node, where that node was kept), so it adds at most 1 - alpha tokens a round at any depth (greedy
verification) and costs one more verified row, m = v(n + 1) - v(n). It raises the speed-up S only if
  1 - alpha > m * S,
the test printed for each alpha at its best gamma.

This script measures c and v(n) with build/bench/model/tandem_model_bench (each verify run
alternates the n-token and the one-token forward at the same context, so the ratio sees one
machine load; the draft and target decode runs alternate too), then prints the ceiling for a grid
of alpha, the alpha each goal of issue 16 needs, and the tree test. Raw outputs, lscpu,
progress.jsonl (each run's numbers and load average) and summary.json go to --out/<UTC time>
(--out defaults to bench/results/ceiling).

Usage: bench/speculative/ceiling.py [--target qwen2.5-coder-1.5b] [--draft qwen2.5-coder-0.5b]
         [--threads 2] [--prompt 128] [--max-rows 9] [--reps 3] [--rounds 2]
         [--draft-head-vocab 65536] [--draft-requantize none|q4_0|q8_0] [--binary PATH] [--out DIR]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # bench/: machine.py
# The pair and model folder of the llama.cpp comparison; run() keeps a command's output and load average.
from compare_llama_speculative import DRAFT, MODELS, TARGET, run  # noqa: E402
from machine import run_record  # noqa: E402

ALPHAS = [0.5, 0.6, 0.7, 0.78, 0.8, 0.9, 0.95]
GOALS = [1.4, 1.6, 2.0]  # issue 16: T = 1, chat prompts, code prompts


def expected_tokens(alpha, gamma):
    """Tokens a round keeps on average: the accepted prefix plus the correction or bonus token."""
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def speedup(alpha, gamma, c, v):
    """Ceiling of speculative / target-only tokens per second; v[n] = v(n), v[1] = 1."""
    return expected_tokens(alpha, gamma) / (gamma * c + v[gamma + 1])


def best_gamma(alpha, c, v):
    """(gamma, S) maximizing S over the gammas whose verify was measured (gamma = 0: target-only)."""
    return max(((g, speedup(alpha, g, c, v)) for g in range(0, max(v))), key=lambda t: t[1])


def alpha_needed(goal, c, v, hi=0.999):
    """Smallest alpha whose best speed-up reaches `goal`, or None if even alpha = `hi` does not."""
    if best_gamma(hi, c, v)[1] < goal:
        return None
    lo = 0.0
    for _ in range(50):  # best_gamma's S grows with alpha: bisect
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if best_gamma(mid, c, v)[1] < goal else (lo, mid)
    return hi


def extra_node_pays(alpha, gamma, s, v):
    """(can pay, m): whether one more verified row, an alternative to a drafted token, can raise S at this
    gamma (False: the bound excludes it; True: it does not). (None, None) when gamma = 0 (no chain to branch
    from: one more row is gamma = 1, which best_gamma already weighed) or v(gamma + 2) is unmeasured."""
    if gamma == 0 or gamma + 2 not in v:
        return None, None
    m = v[gamma + 2] - v[gamma + 1]
    return (1 - alpha) > m * s, m


def costs_from_runs(verify_runs, decode_runs):
    """c and v from tandem_model_bench JSON lines: verify_runs[n] = runs with --verify n (median of the
    alternating n-token / one-token ratios), decode_runs = [(target run, draft run), ...] (c = median of
    the target / draft decode rates)."""
    v = {1: 1.0}
    for n, runs in sorted(verify_runs.items()):
        v[n] = statistics.median(r["verify_over_one_median"] for r in runs)
    c = statistics.median(t["decode_tokens_per_s"] / d["decode_tokens_per_s"] for t, d in decode_runs)
    return c, v


def table(c, v, alphas=ALPHAS):
    """Markdown rows: the ceiling per alpha, and what a free draft or a free verify would give."""
    free_verify = {n: 1.0 for n in v}
    rows = ["| alpha | best gamma | ceiling S | with a free draft (c = 0) | with verify = one step | "
            "one more row m (decode steps) | a tree node can pay (1 - alpha > m S) |",
            "|---|---|---|---|---|---|---|"]
    for a in alphas:
        g, s = best_gamma(a, c, v)
        s_free_draft = best_gamma(a, 0.0, v)[1]
        s_free_verify = best_gamma(a, c, free_verify)[1]
        pays, m = extra_node_pays(a, g, s, v)
        rows.append(f"| {a:.2f} | {g} | {s:.2f}x | {s_free_draft:.2f}x | {s_free_verify:.2f}x | "
                    f"{'-' if m is None else f'{m:.2f}'} | {'-' if pays is None else ('not excluded' if pays else 'no')} |")
    return rows


def model_path(model):
    """A .gguf path as given, else a name in the model cache (scripts/setup.sh's names)."""
    return model if model.endswith(".gguf") else os.path.join(MODELS, model + ".gguf")


def bench(args, model, extra, out_dir, name):
    cmd = [args.binary, model_path(model), "--threads", str(args.threads), "--prompt",
           str(args.prompt), "--reps", str(args.reps), "--json"] + extra
    p, before, after = run(cmd, out_dir, name)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["load"] = [before, after]
    line = json.dumps(dict(run=name, **{k: r[k] for k in r if k not in ("model", "logits_fnv")}))
    print(line, file=sys.stderr)
    with open(os.path.join(out_dir, "progress.jsonl"), "a") as f:  # each run's numbers and load average
        f.write(line + "\n")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default=TARGET, help="target model: a name in the model cache or a .gguf path")
    ap.add_argument("--draft", default=DRAFT, help="draft model, likewise (it must share the target's vocabulary)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=128, help="context length the steps run at")
    ap.add_argument("--max-rows", type=int, default=9, help="largest verify block measured (gamma + 1)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions inside each tandem_model_bench run")
    ap.add_argument("--rounds", type=int, default=2, help="times the whole sweep repeats (medians over rounds)")
    ap.add_argument("--draft-head-vocab", type=int, default=65536, help="the draft's head (0 = whole vocabulary)")
    ap.add_argument("--draft-requantize", default="none", choices=["none", "q4_0", "q8_0"])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "bench", "model", "tandem_model_bench"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "ceiling"),
                    help="results go to a new <UTC time> folder under this one")
    args = ap.parse_args()
    if args.max_rows < 2:
        ap.error("--max-rows must be >= 2")
    if args.threads < 1 or args.prompt < 1 or args.reps < 1 or args.rounds < 1:
        ap.error("--threads, --prompt, --reps and --rounds must be >= 1")
    if args.draft_head_vocab < 0:
        ap.error("--draft-head-vocab must be >= 0 (0 = the whole vocabulary)")
    for m in (args.target, args.draft):
        if not os.path.exists(model_path(m)):
            raise SystemExit(f"model {m}: {model_path(m)} not found (scripts/setup.sh --models all fetches the bundled ones)")
    if not os.path.exists(args.binary):
        raise SystemExit(f"{args.binary} not found: build it first (ninja -C build tandem_model_bench)")
    out_dir, env = run_record(ROOT, args.out, command=" ".join(sys.argv), target=args.target, draft=args.draft,
                              threads=args.threads, prompt=args.prompt, reps=args.reps, rounds=args.rounds,
                              draft_head_vocab=args.draft_head_vocab, draft_requantize=args.draft_requantize)
    with open(os.path.join(out_dir, "lscpu.txt"), "w") as f:
        f.write(subprocess.run(["lscpu"], capture_output=True, text=True).stdout)

    draft_extra = ["--decode", "32", "--head-vocab", str(args.draft_head_vocab)]
    if args.draft_requantize != "none":
        draft_extra += ["--requantize", args.draft_requantize]
    verify_runs, decode_runs = {}, []
    for rnd in range(args.rounds):
        t = bench(args, args.target, ["--decode", "32"], out_dir, f"target_decode_r{rnd}")
        d = bench(args, args.draft, draft_extra, out_dir, f"draft_decode_r{rnd}")
        decode_runs.append((t, d))
        for n in range(2, args.max_rows + 1):
            verify_runs.setdefault(n, []).append(
                bench(args, args.target, ["--decode", "0", "--verify", str(n)], out_dir, f"target_verify{n}_r{rnd}"))
    c, v = costs_from_runs(verify_runs, decode_runs)

    needed = {goal: alpha_needed(goal, c, v) for goal in GOALS}
    lines = [f"CPU: {env['cpu'] or 'unknown'}, {env['nproc']} CPUs, {args.threads} threads, context {args.prompt}; target {args.target}, "
             f"draft {args.draft} (head_vocab {args.draft_head_vocab}, requantize {args.draft_requantize})",
             "",
             f"c (draft step / target step) = {c:.3f}; " + ", ".join(f"v({n}) = {v[n]:.2f}" for n in sorted(v)),
             ""] + table(c, v) + [""]
    for goal, a in needed.items():
        lines.append(f"- {goal:.1f}x needs alpha >= {a:.3f}" if a is not None
                     else f"- {goal:.1f}x is out of reach at any alpha < 1 with these costs")
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(out_dir, "output.md"), "w") as f:
        f.write(report + "\n")
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(dict(env, c=c, v={str(n): v[n] for n in v}, alpha_needed={str(g): a for g, a in needed.items()}),
                  f, indent=1)
    print(f"raw results: {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
