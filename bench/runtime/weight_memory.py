#!/usr/bin/env python3
"""Weights through the file mapping vs on transparent huge pages (runtime/gguf/huge_page_image.h),
side by side in one run: tandem_model_bench on each bundled model, 1 and 2 threads, with
TANDEM_WEIGHTS=mmap and TANDEM_WEIGHTS=hugepages alternating (the order flips every round).

  .venv/bin/python bench/runtime/weight_memory.py [--models ...] [--threads 1 2] [--rounds 2]
                                                  [--prompt 512] [--decode 128] [--reps 2]

Raw outputs (one JSON per run) and meta.json (CPU model, flags, load around each run, commit) go to
bench/results/weight_memory/<UTC time>/; a markdown table of the best rate per mode and the ratio
hugepages / mmap is printed.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import compare_llama_bench as clb  # noqa: E402  (model folder, CPU model and flags, load average)

MODES = ("mmap", "hugepages")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--tandem-bench", default=os.path.join(ROOT, "build", "bench", "model", "tandem_model_bench"))
    args = ap.parse_args()
    if not os.access(args.tandem_bench, os.X_OK):
        raise SystemExit(f"missing {args.tandem_bench} (ninja -C build tandem_model_bench)")
    out, meta = clb.new_results("weight_memory", prompt=args.prompt, decode=args.decode, reps=args.reps,
                                rounds=args.rounds)
    best = {}  # (model, threads, mode) -> (prefill, decode), best over rounds
    for name in args.models:
        path = os.path.join(clb.model_dir(), name + ".gguf")
        for t in args.threads:
            for r in range(args.rounds):
                for mode in (MODES if r % 2 == 0 else MODES[::-1]):
                    f = os.path.join(out, f"{name}_t{t}_{mode}_r{r}.json")
                    cmd = [args.tandem_bench, path, "--threads", str(t), "--reps", str(args.reps), "--json",
                           "--prompt", str(args.prompt), "--decode", str(args.decode)]
                    meta["runs"].append(dict(clb.run(cmd, f, env={"TANDEM_WEIGHTS": mode}), weights=mode, model=name,
                                             threads=t, round=r))
                    print(json.dumps(meta["runs"][-1]), file=sys.stderr, flush=True)
                    with open(f) as fh:
                        res = json.load(fh)
                    key = (name, t, mode)
                    pp, tg = res["prefill_tokens_per_s"], res["decode_tokens_per_s"]
                    old = best.get(key, (0.0, 0.0))
                    best[key] = (max(old[0], pp), max(old[1], tg))
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    loads = [x for r in meta["runs"] for x in (r["load_before"][0], r["load_after"][0])]
    print(f"{meta['cpu_model']} ({' '.join(meta['cpu_flags'])}), {meta['nproc']} cores; 1-minute load "
          f"{min(loads)}–{max(loads)}; tandem {meta['git_rev']}; prompt {args.prompt}, decode {args.decode}, best of "
          f"{args.rounds} rounds x {args.reps} reps; raw: {os.path.relpath(out, ROOT)}")
    print("| model | threads | prefill mmap | prefill huge pages | ratio | decode mmap | decode huge pages | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        for t in args.threads:
            mp, md = best[(name, t, "mmap")]
            hp, hd = best[(name, t, "hugepages")]
            print(f"| {name} | {t} | {mp:.1f} | {hp:.1f} | {hp / mp:.2f}× | {md:.1f} | {hd:.1f} | {hd / md:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
