#!/usr/bin/env python3
"""Long context, tandem vs llama.cpp (issue 16): prefill of N tokens from an empty cache and decode of
--tg tokens after N tokens of context, on the same GGUF files, side by side in one run.

  .venv/bin/python bench/runtime/long_context.py [--models smollm2-135m qwen2.5-coder-0.5b]
                                                 [--tokens 8192] [--tg 128] [--threads 2] [--reps 2]
                                                 [--out DIR]

tandem: `tandem_model_bench MODEL --prompt N --decode 0` (prefill) and `--prompt N-tg --decode tg`
(decode after N-tg tokens; only the decode steps are timed). llama.cpp: `llama-bench -p N -n 0`
and `-p 0 -n tg -d N-tg` (tg at depth N-tg), built from the pinned sdist (bench/build_llama_cpp.sh).
Engines alternate per model. Raw outputs and meta.json (CPU model, flags, load around each run)
go to bench/results/long_context/<UTC time>/; a markdown table is printed.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import compare_llama_bench as clb  # noqa: E402  (model folder, CPU model and flags, timed runs)


def llama_rate(path):
    with open(path) as f:
        tests = json.load(f)
    if len(tests) != 1:
        raise ValueError(f"{path}: expected one llama-bench test, got {len(tests)}")
    return tests[0]["avg_ts"]


def tandem_rate(path, key):
    with open(path) as f:
        return json.load(f)[key]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["smollm2-135m", "qwen2.5-coder-0.5b"])
    ap.add_argument("--tokens", type=int, default=8192)
    # 128 decode steps, not llama-bench's usual 32: at ~8K context 32 steps take about a second, and
    # on a shared 2-core VM one busy second moved the ratio between 1.28x and 2.96x on the same code
    # (docs/benchmarks.md, 2026-12-07 20:07); the context stays ~8K (N - tg tokens before decoding).
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--tandem-bench", default=os.path.join(ROOT, "build", "bench", "model", "tandem_model_bench"))
    ap.add_argument("--llama-bench", default=os.path.join(ROOT, "build-llama", "build", "bin", "llama-bench"))
    ap.add_argument("--out", default=None, help="results folder (default bench/results/long_context/<UTC time>)")
    args = ap.parse_args()
    for tool in (args.tandem_bench, args.llama_bench):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"missing {tool} (build it first: see bench/compare_llama_cpp.sh)")
    out, meta = clb.new_results("long_context", out=args.out, tokens=args.tokens, tg=args.tg, threads=args.threads, reps=args.reps)
    n, tg, t, reps = args.tokens, args.tg, str(args.threads), str(args.reps)
    rows = []
    for i, name in enumerate(args.models):
        path = os.path.join(clb.model_dir(), name + ".gguf")
        files = {}
        order = ["tandem", "llama"] if i % 2 == 0 else ["llama", "tandem"]
        for engine in order:
            if engine == "tandem":
                for kind, flags in (("pp", ["--prompt", str(n), "--decode", "0"]),
                                    ("tg", ["--prompt", str(n - tg), "--decode", str(tg)])):
                    f = os.path.join(out, f"tandem_{kind}_{name}.json")
                    meta["runs"].append(dict(clb.run([args.tandem_bench, path, "--threads", t, "--reps", reps, "--json"]
                                                     + flags, f), engine="tandem", kind=kind, model=name))
                    files[("tandem", kind)] = f
            else:
                for kind, flags in (("pp", ["-p", str(n), "-n", "0"]), ("tg", ["-p", "0", "-n", str(tg), "-d", str(n - tg)])):
                    f = os.path.join(out, f"llama_{kind}_{name}.json")
                    meta["runs"].append(dict(clb.run([args.llama_bench, "-m", path, "-t", t, "-r", reps, "-o", "json"]
                                                     + flags, f), engine="llama", kind=kind, model=name))
                    files[("llama", kind)] = f
            print(json.dumps(meta["runs"][-1]), file=sys.stderr, flush=True)
        rows.append((name, tandem_rate(files[("tandem", "pp")], "prefill_tokens_per_s"), llama_rate(files[("llama", "pp")]),
                     tandem_rate(files[("tandem", "tg")], "decode_tokens_per_s"), llama_rate(files[("llama", "tg")])))
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    loads = [x for r in meta["runs"] for x in (r["load_before"][0], r["load_after"][0])]
    print(f"{meta['cpu_model']} ({' '.join(meta['cpu_flags'])}), {meta['nproc']} cores, {args.threads} threads, "
          f"1-minute load {min(loads)}–{max(loads)}; tandem {meta['git_rev']}; raw: {out}")
    print(f"| model | prefill {n} tokens: tandem | llama.cpp | ratio | decode after {n - tg}: tandem | llama.cpp | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, tp, lp, td, ld in rows:
        print(f"| {name} | {tp:.1f} | {lp:.1f} | {tp / lp:.2f} | {td:.1f} | {ld:.1f} | {td / ld:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
