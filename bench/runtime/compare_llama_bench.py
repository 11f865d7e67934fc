#!/usr/bin/env python3
"""tandem vs llama.cpp's llama-bench: prefill (pp) and decode (tg) tokens/s per model and thread count.

Both engines run the same GGUF file with random tokens, llama-bench's method:
  pp: one forward pass over --pp tokens from an empty context (tandem: the
      prefill of `tandem_model_bench --prompt PP --decode 0`)
  tg: --tg one-token forwards from an empty context (tandem: `--prompt 1
      --decode TG`, greedy on the logits)
Each tool repeats --reps times inside one process; tandem reports its best
run and llama-bench every sample, so the table compares best with best (the
machine is shared: the best run is the least disturbed one) and also shows
llama-bench's mean. The two engines alternate per (model, threads) and the
whole sweep repeats --rounds times, so load changes hit both sides; `uptime`'s
load average is recorded before and after every run.

Raw outputs go to --out (default bench/results/llama_cpp/<UTC time>): one
file per run (tandem JSON, llama-bench JSON) plus meta.json (CPU model,
kernel ISA, versions, loads). bench/runtime/llama_bench_table.py builds the
markdown table from such a folder (and updates docs/benchmarks.md).

usage: bench/runtime/compare_llama_bench.py [--models NAME ...] [--threads 1 2] [--reps 3]
         [--rounds 1] [--pp 512] [--tg 128] [--tandem-bench PATH] [--llama-bench PATH] [--out DIR]
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLED = ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


def model_dir():
    return os.environ.get("TANDEM_MODEL_DIR", os.path.expanduser("~/.cache/tandem/models"))


def load_average():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                keep = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512vbmi",
                        "avx512_bf16", "avx_vnni", "amx_int8", "amx_tile")
                return [x for x in keep if x in flags]
    return []


def new_results(kind, out=None, **extra):
    """A results folder bench/results/<kind>/<UTC stamp> (or `out`) and its meta.json content so far: the
    stamp, CPU model and flags, cores, tandem's commit (+dirty when kernels/ or runtime/ have uncommitted
    changes), `extra`, and an empty list of runs."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = out or os.path.join(ROOT, "bench", "results", kind, stamp)
    os.makedirs(out, exist_ok=True)
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "kernels", "runtime"],
                           capture_output=True, text=True).stdout.strip() != ""
    meta = dict(date_utc=stamp, cpu_model=cpu_model(), cpu_flags=cpu_flags(), nproc=os.cpu_count(),
                git_rev=rev + ("+dirty" if dirty else ""), **extra)
    meta["runs"] = []
    return out, meta


def run(cmd, out_path, env=None):
    """Runs cmd (with `env` added to the environment), its stdout into out_path; the record of the run."""
    before = load_average()
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **env) if env else None)
    after = load_average()
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        shown = " ".join(f"{k}={v}" for k, v in (env or {}).items())
        raise SystemExit(f"failed ({p.returncode}): {shown + ' ' if shown else ''}{' '.join(cmd)}")
    with open(out_path, "w") as f:
        f.write(p.stdout)
    return dict(cmd=cmd, file=os.path.basename(out_path), load_before=before, load_after=after,
                seconds=round(time.time() - t0, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=None, help="bundled names or GGUF paths (default: every "
                    "bundled model present in the model folder)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--pp", type=int, default=512)
    ap.add_argument("--tg", type=int, default=128)
    ap.add_argument("--tandem-bench", default=os.path.join(ROOT, "build", "bench", "model", "tandem_model_bench"))
    ap.add_argument("--llama-bench", default=os.path.join(ROOT, "build-llama", "build", "bin", "llama-bench"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    names = args.models or [m for m in BUNDLED if os.path.exists(os.path.join(model_dir(), m + ".gguf"))]
    models = [(n, n if os.path.exists(n) else os.path.join(model_dir(), n + ".gguf")) for n in names]
    for tool in (args.tandem_bench, args.llama_bench):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"missing {tool} (build it first: see bench/compare_llama_cpp.sh)")
    out, meta = new_results("llama_cpp", args.out, pp=args.pp, tg=args.tg, reps=args.reps, rounds=args.rounds,
                            threads=args.threads, tandem_bench=args.tandem_bench, llama_bench=args.llama_bench)
    for rnd in range(args.rounds):
        for name, path in models:
            for t in args.threads:
                tag = f"{name}_t{t}_r{rnd}"
                # Alternate which engine goes first so neither always gets the
                # quieter (or the warmer) slot.
                order = ["tandem", "llama"] if (rnd + t) % 2 == 0 else ["llama", "tandem"]
                for engine in order:
                    if engine == "tandem":
                        for kind, flags in (("pp", ["--prompt", str(args.pp), "--decode", "0"]),
                                            ("tg", ["--prompt", "1", "--decode", str(args.tg)])):
                            r = run([args.tandem_bench, path, "--threads", str(t), "--reps", str(args.reps), "--json"]
                                    + flags, os.path.join(out, f"tandem_{kind}_{tag}.json"))
                            r.update(engine="tandem", kind=kind, model=name, threads=t, round=rnd)
                            meta["runs"].append(r)
                            print(json.dumps(r), file=sys.stderr, flush=True)
                    else:
                        r = run([args.llama_bench, "-m", path, "-t", str(t), "-p", str(args.pp), "-n", str(args.tg),
                                 "-r", str(args.reps), "-o", "json"], os.path.join(out, f"llama_{tag}.json"))
                        r.update(engine="llama", kind="pp+tg", model=name, threads=t, round=rnd)
                        meta["runs"].append(r)
                        print(json.dumps(r), file=sys.stderr, flush=True)
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(out)


if __name__ == "__main__":
    main()
