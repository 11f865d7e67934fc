#!/usr/bin/env python3
"""Every row of issue 16's table on this machine, in one run: tandem vs llama.cpp side by side.

Runs the benchmarks that each measure one part of the table, one after another on this machine,
each writing its raw results into a subfolder of one run folder, then prints (and writes as
table.md) a single table with the CPU model, its flags, the load and tandem's commit:

  stage         script                                          rows
  llama_bench   bench/runtime/compare_llama_bench.py            prefill pp512 / decode tg128 of every
                                                                bundled model, 1 and 2 threads
  speculative   bench/speculative/compare_llama_speculative.py  greedy speculation, the Qwen pair,
                                                                gamma 4, code prompts, 128 tokens
  streams       bench/speculative/load_adaptive.py              loopback deployment at 1 and 16
                                                                streams: target-only vs speculative
                                                                (fixed gamma 4, and the default)
  serving       bench/serving/compare_llama_server.py           served target-only aggregate at 1 and
                                                                16 streams vs llama-server -np 16
  long_context  bench/runtime/long_context.py                   SmolLM2 prefill of 8192 tokens and
                                                                decode of 128 after 8064

Each stage alternates the engines itself (see its own docstring); the ratios are within one stage,
never across runs or machines. Everything must already be built: `bench/compare_llama_cpp.sh --all`
builds llama.cpp's tools and tandem, then runs this.

  .venv/bin/python bench/cpu_speed_table.py [--stages llama_bench speculative streams serving long_context]
        [--reps 2] [--passes 2] [--out DIR] [--build build]

Took 26 minutes on a 2-core Zen 3 VM with the defaults (llama_bench 7, speculative 3, streams 5,
serving 3.5, long_context 7.5). A stage that fails is reported and the others still run; the exit
status is then 1.
"""
import argparse
import datetime
import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench", "runtime"))
import compare_llama_bench as clb  # noqa: E402  (CPU model, flags, load average)
import llama_bench_table  # noqa: E402  (per-model best rates and ratios of a llama-bench run)
import long_context  # noqa: E402  (its result readers)

STAGES = ["llama_bench", "speculative", "streams", "serving", "long_context"]
LONG_MODEL = "smollm2-135m"


def stage_commands(args, run_dir, py):
    """stage -> (command, folder the stage writes its raw results into)."""
    b = os.path.join(ROOT, args.build)
    llama = os.path.join(os.environ.get("LLAMA_BUILD_DIR", os.path.join(ROOT, "build-llama")), "build", "bin")
    tandem_cli = os.path.join(b, "cli", "tandem")
    d = {s: os.path.join(run_dir, s) for s in STAGES}
    return {
        "llama_bench": ([py, "bench/runtime/compare_llama_bench.py", "--reps", str(args.reps), "--out", d["llama_bench"],
                         "--tandem-bench", os.path.join(b, "bench", "model", "tandem_model_bench"),
                         "--llama-bench", os.path.join(llama, "llama-bench")], d["llama_bench"]),
        "speculative": ([py, "bench/speculative/compare_llama_speculative.py", "--threads", "2", "--reps", "1",
                         "--binary", tandem_cli, "--llama-dir", llama, "--out", d["speculative"]], d["speculative"]),
        # load_adaptive.py and compare_llama_server.py add a <UTC stamp> folder under --out.
        "streams": ([py, "bench/speculative/load_adaptive.py", "--binary", tandem_cli, "--concurrency", "1", "16",
                     "--modes", "target_only", "spec_fixed", "spec_default", "--passes", str(args.passes),
                     "--out", d["streams"]], d["streams"]),
        "serving": ([py, "bench/serving/compare_llama_server.py", "--binary", tandem_cli, "--concurrency", "1", "16",
                     "--passes", str(args.passes), "--llama-server", os.path.join(llama, "llama-server"),
                     "--out", d["serving"]], d["serving"]),
        "long_context": ([py, "bench/runtime/long_context.py", "--models", LONG_MODEL, "--reps", "1",
                          "--tandem-bench", os.path.join(b, "bench", "model", "tandem_model_bench"),
                          "--llama-bench", os.path.join(llama, "llama-bench"), "--out", d["long_context"]],
                         d["long_context"]),
    }


def stamped(folder):
    """The one <UTC stamp> subfolder a stage with an --out base wrote (the newest if several)."""
    subs = sorted(p for p in glob.glob(os.path.join(folder, "*")) if os.path.isdir(p))
    if not subs:
        raise FileNotFoundError(f"no results folder under {folder}")
    return subs[-1]


def read_json(path):
    with open(path) as f:
        return json.load(f)


def rows_llama_bench(folder):
    _, rows, loads = llama_bench_table.collect(folder)
    out = []
    for d in rows:
        for kind, t, l, ratio in (("decode tg128", "t_tg", "l_tg", "tg_ratio"), ("prefill pp512", "t_pp", "l_pp", "pp_ratio")):
            out.append(dict(work=f"{d['model']} {kind}, {d['threads']} thread(s), tok/s", tandem=f"{max(d[t]):.1f}",
                            llama=f"{max(d[l]):.1f}", ratio=d[ratio], goal=1.2))
    return out, loads


def rows_speculative(folder):
    s = read_json(os.path.join(folder, "summary.json"))
    t_spec, t_base, l_spec, l_base = (s["tandem_spec_tps"], s["tandem_target_tps"], s["llama_spec_tps"],
                                      s["llama_target_tps"])
    loads = [pair[0] for r in s["runs"] for pair in r["load"]]
    work = (f"speculative greedy, {s['meta']['target']} <- {s['meta']['draft']}, gamma {s['meta']['gamma']}, "
            f"code prompts, {s['meta']['tokens']} tokens")
    return [dict(work=f"{work}, tok/s (x its own target-only)", tandem=f"{t_spec:.1f} ({t_spec / t_base:.2f}x)",
                 llama=f"{l_spec:.1f} ({l_spec / l_base:.2f}x)", ratio=t_spec / l_spec, goal=1.5),
            dict(work=f"{work}: tandem speculative / tandem target-only, tok/s", tandem=f"{t_spec:.1f} / {t_base:.1f}",
                 llama="—", ratio=t_spec / t_base, goal=2.0)], loads


def rows_streams(folder):
    folder = stamped(folder)
    summary = read_json(os.path.join(folder, "summary.json"))
    env = read_json(os.path.join(folder, "env.json"))
    loads = [float(x[0]) for x in env.get("loadavg_during", [])]
    out = []
    for row in summary:
        c = row["concurrency"]
        base = row["target_only"]["tok_s"]
        for mode, label in (("spec_fixed", "speculative, gamma 4"), ("spec_default", "speculative, default (adaptive)")):
            if mode in row:
                out.append(dict(work=f"{c} concurrent stream(s), loopback, 1.5B, T=0.7: target-only / {label}, "
                                     f"aggregate tok/s",
                                tandem=f"{base:.1f} / {row[mode]['tok_s']:.1f}", llama="—",
                                ratio=row[mode]["tok_s"] / base, goal=(1.5 if c == 1 else 0.95) if mode == "spec_default" else None))
    return out, loads


def rows_serving(folder):
    folder = stamped(folder)
    s = read_json(os.path.join(folder, "summary.json"))
    env = read_json(os.path.join(folder, "env.json"))
    loads = [float(env[k][0]) for k in ("loadavg_before", "loadavg_after") if env.get(k)]
    out = []
    for c in sorted(s, key=int):
        out.append(dict(work=f"served target-only aggregate, {c} stream(s), 1.5B, T=0.7, tok/s (vs llama-server -np 16)",
                        tandem=f"{s[c]['tandem']['median']:.1f}", llama=f"{s[c]['llama-server']['median']:.1f}",
                        ratio=s[c]["ratio"], goal=1.2))
    if "1" in s and "16" in s:
        t1, t16 = s["1"]["tandem"]["median"], s["16"]["tandem"]["median"]
        l1, l16 = s["1"]["llama-server"]["median"], s["16"]["llama-server"]["median"]
        out.append(dict(work="served aggregate, 16 streams / 1 stream", tandem=f"{t16 / t1:.2f}x", llama=f"{l16 / l1:.2f}x",
                        ratio=None, goal=None, note="goal: tandem >= 4x"))
    return out, loads


def rows_long_context(folder):
    meta = read_json(os.path.join(folder, "meta.json"))
    files = {(r["engine"], r["kind"]): os.path.join(folder, r["file"]) for r in meta["runs"] if r["model"] == LONG_MODEL}
    n, tg = meta["tokens"], meta["tg"]
    out = []
    for kind, key, label in (("tg", "decode_tokens_per_s", f"decode after {n - tg} tokens of context (tg{tg})"),
                             ("pp", "prefill_tokens_per_s", f"prefill of {n} tokens")):
        t = long_context.tandem_rate(files[("tandem", kind)], key)
        l = long_context.llama_rate(files[("llama", kind)])
        out.append(dict(work=f"{LONG_MODEL} {label}, {meta['threads']} threads, tok/s", tandem=f"{t:.1f}", llama=f"{l:.1f}",
                        ratio=t / l, goal=1.2))
    loads = [x for r in meta["runs"] for x in (r["load_before"][0], r["load_after"][0])]
    return out, loads


READERS = dict(llama_bench=rows_llama_bench, speculative=rows_speculative, streams=rows_streams, serving=rows_serving,
               long_context=rows_long_context)


def render(meta, run_dir, loads, rows, failed):
    lines = [f"Machine: **{meta['cpu_model']}** ({' '.join(meta['cpu_flags'])}), {meta['nproc']} CPUs; {meta['date_utc']}, "
             f"tandem {meta['git_rev']}; 1-minute load during the runs "
             f"{(f'{min(loads):.1f}–{max(loads):.1f}') if loads else 'not recorded'}; "
             f"{meta.get('minutes', 0):.1f} min. Raw results: `{os.path.relpath(run_dir, ROOT)}` "
             f"(one subfolder per stage). Ratios are tandem / llama.cpp (speculation rows: speculative / target-only, "
             f"same deployment); goal as in issue 16.",
             "",
             "| work | tandem | llama.cpp | ratio | goal |",
             "|---|---|---|---|---|"]
    for r in rows:
        ratio = f"**{r['ratio']:.2f}×**" if r.get("ratio") is not None else "—"
        goal = f"≥ {r['goal']}×" if r.get("goal") is not None else r.get("note", "")
        if r.get("ratio") is not None and r.get("goal") is not None:
            goal += " met" if r["ratio"] >= r["goal"] else " not met"
        lines.append(f"| {r['work']} | {r['tandem']} | {r['llama']} | {ratio} | {goal} |")
    for stage, why in failed:
        lines.append(f"| {stage}: **failed** ({why}) | | | | |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", nargs="+", default=STAGES, choices=STAGES,
                    help="the stages to run (default: all, in the order above)")
    ap.add_argument("--reps", type=int, default=2, help="llama_bench: repetitions per process")
    ap.add_argument("--passes", type=int, default=2, help="streams and serving: passes (the median is reported)")
    ap.add_argument("--build", default="build", help="tandem's build folder (relative to the repository)")
    ap.add_argument("--out", default=None, help="run folder (default bench/results/cpu_speed_table/<UTC time>)")
    ap.add_argument("--from-folder", default=None, metavar="DIR",
                    help="only rebuild the table from an earlier run folder (no benchmark runs)")
    args = ap.parse_args()

    py = sys.executable
    if args.from_folder:
        run_dir = os.path.abspath(args.from_folder)
        meta = read_json(os.path.join(run_dir, "meta.json"))
    else:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        run_dir = os.path.abspath(args.out or os.path.join(ROOT, "bench", "results", "cpu_speed_table", stamp))
        os.makedirs(run_dir, exist_ok=True)
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        meta = dict(date_utc=stamp, cpu_model=clb.cpu_model(), cpu_flags=clb.cpu_flags(), nproc=os.cpu_count(), git_rev=rev,
                    stages=args.stages, reps=args.reps, passes=args.passes, command=" ".join(sys.argv), results={})
        with open(os.path.join(run_dir, "lscpu.txt"), "w") as f:
            f.write(subprocess.run(["lscpu"], capture_output=True, text=True).stdout)
        t0 = time.time()
        cmds = stage_commands(args, run_dir, py)
        for stage in args.stages:
            cmd, folder = cmds[stage]
            print(f"== {stage}: {' '.join(cmd)}", file=sys.stderr, flush=True)
            s0 = time.time()
            with open(os.path.join(run_dir, f"{stage}.log"), "w") as log:
                rc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
            meta["results"][stage] = dict(rc=rc, seconds=round(time.time() - s0, 1), folder=os.path.relpath(folder, run_dir))
            meta["minutes"] = (time.time() - t0) / 60
            # After every stage, so that an interrupted run can still be tabulated (--from-folder):
            # the stages not reached show as failed.
            with open(os.path.join(run_dir, "meta.json"), "w") as f:
                json.dump(meta, f, indent=1)
            print(f"== {stage}: rc {rc}, {time.time() - s0:.0f} s (log: {os.path.join(run_dir, stage + '.log')})",
                  file=sys.stderr, flush=True)

    rows, loads, failed = [], [], []
    for stage in meta["stages"]:
        res = meta["results"].get(stage)
        if res is None:
            failed.append((stage, "not run: the run stopped before it"))
            continue
        if res["rc"] != 0:
            failed.append((stage, f"exit status {res['rc']}, see {stage}.log"))
            continue
        try:
            r, l = READERS[stage](os.path.join(run_dir, res["folder"]))
        except (OSError, KeyError, ValueError, IndexError) as e:
            failed.append((stage, f"unreadable results: {e}"))
            continue
        rows += r
        loads += l
    md = render(meta, run_dir, loads, rows, failed)
    with open(os.path.join(run_dir, "table.md"), "w") as f:
        f.write(md)
    sys.stdout.write(md)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
