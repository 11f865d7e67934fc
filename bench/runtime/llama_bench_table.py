#!/usr/bin/env python3
"""Markdown table from a bench/runtime/compare_llama_bench.py results folder.

  bench/runtime/llama_bench_table.py bench/results/llama_cpp/STAMP [--update-docs docs/benchmarks.md]

Per (model, threads): tandem's best tokens/s over its runs and rounds, llama-bench's best sample and
mean, and the ratio best/best. With --update-docs the table replaces the text between
`<!-- llama-bench table begin -->` and `<!-- llama-bench table end -->` in that file, so the
document always shows exactly what the raw files say.
"""
import argparse
import json
import os
import re
import statistics
import sys

BEGIN = "<!-- llama-bench table begin -->"
END = "<!-- llama-bench table end -->"


def collect(folder):
    """(meta, rows, loads): rows is a list, in run order, of dicts per (model, threads) with tandem's best
    prefill/decode tokens/s (t_pp, t_tg) over its runs and rounds, llama-bench's samples (l_pp, l_tg),
    and the ratios best/best (pp_ratio, tg_ratio); loads the 1-minute load averages around the runs."""
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    rows = {}  # (model, threads) -> dict
    loads = []
    order = []
    for r in meta["runs"]:
        key = (r["model"], r["threads"])
        if key not in rows:
            rows[key] = dict(model=r["model"], threads=r["threads"], t_pp=[], t_tg=[], l_pp=[], l_tg=[])
            order.append(key)
        loads += [r["load_before"][0], r["load_after"][0]]
        with open(os.path.join(folder, r["file"])) as f:
            text = f.read()
        if r["engine"] == "tandem":
            d = json.loads(text.strip().splitlines()[-1])
            if r["kind"] == "pp":
                rows[key]["t_pp"].append(d["prefill_tokens_per_s"])
            else:
                rows[key]["t_tg"].append(d["decode_tokens_per_s"])
            rows[key]["isa"] = d.get("isa", "?")
        else:
            for test in json.loads(text):
                samples = test.get("samples_ts") or [test["avg_ts"]]
                if test["n_prompt"] > 0 and test["n_gen"] == 0:
                    rows[key]["l_pp"] += samples
                elif test["n_gen"] > 0 and test["n_prompt"] == 0:
                    rows[key]["l_tg"] += samples
                rows[key]["build"] = test.get("build_commit", "?")
    out = []
    for key in order:
        d = rows[key]
        if not (d["t_pp"] and d["t_tg"] and d["l_pp"] and d["l_tg"]):
            continue
        d["pp_ratio"] = max(d["t_pp"]) / max(d["l_pp"])
        d["tg_ratio"] = max(d["t_tg"]) / max(d["l_tg"])
        out.append(d)
    return meta, out, loads


def table(folder):
    meta, rows, loads = collect(folder)
    lines = []
    lines.append(f"Machine: **{meta['cpu_model']}**, {meta['nproc']} CPUs, flags {' '.join(meta['cpu_flags'])}; "
                 f"{meta['date_utc']}, tandem {meta['git_rev']}; load average (1 min) during the runs "
                 f"{min(loads):.1f}–{max(loads):.1f}. pp{meta['pp']} / tg{meta['tg']}, {meta['reps']} reps per "
                 f"process, {meta['rounds']} round(s); tokens/s, best run (llama-bench: best sample, mean in "
                 f"brackets). Raw files: `{os.path.relpath(folder)}`.")
    lines.append("")
    lines.append("| model | threads | prefill tandem | prefill llama.cpp | ratio | decode tandem | decode llama.cpp | ratio |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for d in rows:
        tp, tt, lp, lt = max(d["t_pp"]), max(d["t_tg"]), max(d["l_pp"]), max(d["l_tg"])
        lines.append(f"| {d['model']} | {d['threads']} | {tp:.1f} | {lp:.1f} ({statistics.mean(d['l_pp']):.1f}) | "
                     f"**{d['pp_ratio']:.2f}×** | {tt:.1f} | {lt:.1f} ({statistics.mean(d['l_tg']):.1f}) | "
                     f"**{d['tg_ratio']:.2f}×** |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--update-docs", metavar="FILE")
    args = ap.parse_args()
    md = table(args.folder)
    sys.stdout.write(md)
    if args.update_docs:
        with open(args.update_docs) as f:
            doc = f.read()
        if BEGIN not in doc or END not in doc:
            raise SystemExit(f"{args.update_docs} has no {BEGIN} ... {END} block")
        doc = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: BEGIN + "\n" + md + END, doc, flags=re.S)
        with open(args.update_docs, "w") as f:
            f.write(doc)


if __name__ == "__main__":
    main()
