#!/usr/bin/env python3
"""Summary of the evaluation protocol's raw results (issue 17): tables with bootstrap 95 % CIs.

  bench/eval/summarize.py                      # print the markdown section
  bench/eval/summarize.py --write-docs         # also replace it in docs/benchmarks.md between
                                               # <!-- eval-protocol begin --> and <!-- eval-protocol end -->

Reads every bench/results/{rsd,cards,rapid,reward_signal}/<timestamp>/results.jsonl written by
bench/eval/run_eval.py and bench/eval/reward_signal.py. A later line for the same (suite, split,
item, run) replaces an earlier one. Reported tables use test items only; the reward-signal table
uses development items only. Each strategy is compared on the items every compared run finished
(paired). CIs: percentile bootstrap over items, 2000 resamples, seed 0 (bench/eval/eval_stats.py);
ratios are ratios of sums, bootstrapped over items as pairs.
"""
import argparse
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "eval"))
import eval_stats as es  # noqa: E402

BEGIN, END = "<!-- eval-protocol begin -->", "<!-- eval-protocol end -->"


def load_suite(results, suite):
    latest, metas = {}, []
    for d in sorted(glob.glob(os.path.join(results, suite, "*"))):
        path = os.path.join(d, "results.jsonl")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    r["_dir"] = os.path.relpath(d, ROOT)
                    latest[(r.get("split", "dev"), str(r["item"]), r["run"], r.get("judge", ""))] = r
        if os.path.exists(os.path.join(d, "meta.json")):
            with open(os.path.join(d, "meta.json")) as f:
                m = json.load(f)
            m["_dir"] = os.path.relpath(d, ROOT)
            metas.append(m)
    rows = list(latest.values())
    # A directory is listed with the lines still in use: a later run of the
    # same items replaces its lines, and one left with none is not a source.
    used = {}
    for r in rows:
        used[r["_dir"]] = used.get(r["_dir"], 0) + 1
    metas = [dict(m, _rows=used[m["_dir"]]) for m in metas if used.get(m["_dir"])]
    return rows, metas


def by_run(rows, split):
    out = {}
    for r in rows:
        if r["split"] == split:
            out.setdefault(r["run"], {})[str(r["item"])] = r
    return out


def ci(values, stat=es.mean, digits=2):
    return es.fmt_ci(*es.bootstrap_ci(values, stat=stat), digits=digits)


def ratio_of_sums(pairs):
    den = sum(b for _, b in pairs)
    return sum(a for a, _ in pairs) / den if den else float("nan")


def env_lines(rows, metas):
    cpus = sorted({r["cpu_model"] for r in rows})
    loads = [x for r in rows for x in (r["load_before"][0], r["load_after"][0])]
    utc = sorted(r["utc"] for r in rows)
    out = [f"- Machine: {', '.join(cpus)}, {rows[0]['nproc']} cores; 1-minute load average around the "
           f"runs {min(loads):.1f}–{max(loads):.1f} (median {es.quantile(sorted(loads), 0.5):.1f}); "
           f"{utc[0]} – {utc[-1]} UTC."]
    for m in metas:
        out.append(f"- `{m['_dir']}` ({m['_rows']} lines used, commit {m.get('git_commit', '?')[:10]}): "
                   f"`{m.get('command', '?').replace(ROOT + '/', '')}`")
    return out


def rsd_section(rows, metas):
    runs = by_run(rows, "test")
    if "target" not in runs:
        return ["No RSD test results yet."]
    labels = [l for l in runs if l != "target"]
    common = set(runs["target"])
    for l in labels:
        common &= set(runs[l])
    items = sorted(common, key=int)
    n = len(items)
    out = [f"GSM8K test split, n = {n} problems finished by every run "
           f"(ids {', '.join(items)}).", ""]
    if not n:
        return out
    out += ["| run | strategy | params | accuracy [95 % CI] | Δ accuracy vs target-only | target GFLOPs / problem | "
            "target FLOPs vs target-only | total GFLOPs / problem | wall s / problem |",
            "|---|---|---|---|---|---|---|---|---|"]
    base = runs["target"]
    for l in ["target"] + labels:
        rs = [runs[l][i] for i in items]
        acc = [1.0 if r["correct"] else 0.0 for r in rs]
        dacc = [a - (1.0 if base[i]["correct"] else 0.0) for a, i in zip(acc, items)]
        tf = [r["flops"]["target"] / 1e9 for r in rs]
        tot = [r["flops"]["total"] / 1e9 for r in rs]
        pairs = [(runs[l][i]["flops"]["target"], base[i]["flops"]["target"]) for i in items]
        params = ",".join(f"{k}={v}" for k, v in sorted(rs[0]["params"].items()) if k not in ("max_tokens",))
        out.append(f"| {l} | {rs[0]['strategy']} | {params} | {ci(acc)} | "
                   f"{'-' if l == 'target' else ci(dacc)} | {ci(tf, digits=0)} | "
                   f"{'1' if l == 'target' else ci(pairs, stat=ratio_of_sums)} | {ci(tot, digits=0)} | "
                   f"{ci([r['wall_s'] for r in rs], digits=0)} |")
    out.append("")
    # equal compute: best-of-N's N scaled to RSD's total FLOPs
    for l in labels:
        s = runs[l][items[0]]
        if s["strategy"] != "best_of_n":
            continue
        nn = float(s["raw"]["params"].get("n", 4))
        for r in labels:
            if runs[r][items[0]]["strategy"] != "rsd":
                continue
            rsd_tot = sum(runs[r][i]["flops"]["total"] for i in items)
            bon_tot = sum(runs[l][i]["flops"]["total"] for i in items)
            d = es.bootstrap_ci([(1.0 if runs[r][i]["correct"] else 0.0) - (1.0 if runs[l][i]["correct"] else 0.0)
                                 for i in items])
            out.append(f"- Equal compute: {r}'s total FLOPs (draft + target + PRM) equal best-of-N from the draft with "
                       f"N ≈ {nn * rsd_tot / bon_tot:.1f} ({l} ran N = {nn:.0f} at {bon_tot / rsd_tot:.2f}× {r}'s FLOPs); "
                       f"accuracy {r} − {l} = {es.fmt_ci(*d)}.")
    for r in labels:
        if runs[r][items[0]]["strategy"] != "rsd":
            continue
        acc_d = es.bootstrap_ci([(1.0 if runs[r][i]["correct"] else 0.0) - (1.0 if base[i]["correct"] else 0.0)
                                 for i in items])
        ratio = es.bootstrap_ci([(base[i]["flops"]["target"], runs[r][i]["flops"]["target"]) for i in items],
                                stat=ratio_of_sums)
        met = acc_d[1] >= 0 and ratio[1] >= 2.5
        refuted = acc_d[2] < 0 or ratio[2] < 2.5
        verdict = "met" if met else ("not met" if refuted else "not decided at this n (the CIs include both outcomes)")
        out.append(f"- Paper goal (RSD accuracy ≥ target-only at ≥ 2.5× fewer target FLOPs), {r}: accuracy − "
                   f"target-only = {es.fmt_ci(*acc_d)}, target-only / RSD target FLOPs = {es.fmt_ci(*ratio)}× → "
                   f"**{verdict}**.")
    out.append("")
    return out + env_lines([r for l in runs for r in runs[l].values()], [m for m in metas if m["split"] == "test"])


def cards_section(rows, metas):
    runs = by_run(rows, "test")
    # The reference best-of-N is N = 4 (the protocol's); runs at other N are the equal-compute
    # comparisons (N matched to CARDS' LLM calls or wall time).
    bons = sorted((l for l in runs if l.startswith("best_of_n")), key=lambda l: int(l[len("best_of_n"):] or 4))
    bon = "best_of_n4" if "best_of_n4" in bons else (bons[0] if bons else None)
    if not runs or bon is None:
        return ["No CARDS test results yet."]
    order = ["target_only"] + bons + ["cards"]
    labels = sorted(runs, key=lambda l: (order.index(l) if l in order else len(order), l))
    common = set.intersection(*(set(runs[l]) for l in labels))
    items = sorted(common, key=int)
    n = len(items)
    out = [f"HH-RLHF test split, n = {n} prompts finished by every strategy (ids {', '.join(items)}).", ""]
    if not n:
        return out
    out += ["| strategy | params | mean reward [95 % CI] | Δ reward vs best-of-N | LLM calls / response | "
            "reward items / response | wall s / response | wall vs best-of-N |", "|---|---|---|---|---|---|---|---|"]
    for l in labels:
        rs = [runs[l][i] for i in items]
        rew = [r["reward"] for r in rs]
        d = [r["reward"] - runs[bon][i]["reward"] for r, i in zip(rs, items)]
        pairs = [(runs[l][i]["wall_s"], runs[bon][i]["wall_s"]) for i in items]
        params = ",".join(f"{k}={v}" for k, v in sorted(rs[0]["params"].items())
                          if k not in ("max_tokens", "policy", "judge", "seed", "top_k", "temperature"))
        out.append(f"| {l} | {params} | {ci(rew, digits=3)} | {'-' if l == bon else ci(d, digits=3)} | "
                   f"{ci([r['raw']['llm_calls'] for r in rs], digits=0)} | "
                   f"{ci([r['raw']['reward_items'] for r in rs], digits=1)} | {ci([r['wall_s'] for r in rs], digits=0)} | "
                   f"{'1' if l == bon else ci(pairs, stat=ratio_of_sums)} |")
    out.append("")
    if "cards" in runs:
        nn = float(runs[bon][items[0]]["params"].get("n", 4))
        c_calls = sum(runs["cards"][i]["raw"]["llm_calls"] for i in items)
        b_calls = sum(runs[bon][i]["raw"]["llm_calls"] for i in items)
        c_wall = sum(runs["cards"][i]["wall_s"] for i in items)
        b_wall = sum(runs[bon][i]["wall_s"] for i in items)
        out.append(f"- Equal compute: CARDS' LLM calls equal best-of-N with N ≈ {nn * c_calls / b_calls:.1f}, its "
                   f"wall time best-of-N with N ≈ {nn * c_wall / b_wall:.1f} (best-of-N ran N = {nn:.0f}).")
        for other in bons:
            if other == bon:
                continue
            d = es.bootstrap_ci([runs["cards"][i]["reward"] - runs[other][i]["reward"] for i in items])
            t = es.bootstrap_ci([(runs["cards"][i]["wall_s"], runs[other][i]["wall_s"]) for i in items],
                                stat=ratio_of_sums)
            calls = sum(runs[other][i]["raw"]["llm_calls"] for i in items) / c_calls
            out.append(f"- CARDS vs {other} (N = {runs[other][items[0]]['params'].get('n')}: {calls:.2f}× CARDS' LLM "
                       f"calls): reward − {other} = {es.fmt_ci(*d, digits=3)}, CARDS / {other} wall = {es.fmt_ci(*t)}.")
        d = es.bootstrap_ci([runs["cards"][i]["reward"] - runs[bon][i]["reward"] for i in items])
        t = es.bootstrap_ci([(runs["cards"][i]["wall_s"], runs[bon][i]["wall_s"]) for i in items], stat=ratio_of_sums)
        met = d[1] >= 0 and t[2] <= 1 / 3
        refuted = d[2] < 0 or t[1] > 1 / 3
        verdict = "met" if met else ("not met" if refuted else "not decided at this n (the CIs include both outcomes)")
        out.append(f"- Paper goal (CARDS reward ≥ best-of-N at ≤ 1/3 of its time): reward − best-of-N = "
                   f"{es.fmt_ci(*d, digits=3)}, CARDS / best-of-N wall = {es.fmt_ci(*t)} → **{verdict}**.")
        out.append("")
    return out + env_lines([r for l in runs for r in runs[l].values()], [m for m in metas if m["split"] == "test"])


def rapid_section(rows, metas):
    test = [r for r in rows if r["split"] == "test"]
    if not test:
        return ["No RAPID test results yet."]
    groups = {}
    for r in test:
        groups.setdefault((r["params"]["length"], r["params"]["kind"]), {}).setdefault(r["run"], {})[r["item"]] = r
    out = ["| context | kind | config | n | accuracy [95 % CI] | Δ accuracy vs target-only | decode tok/s | wall s / item |",
           "|---|---|---|---|---|---|---|---|"]
    for (length, kind) in sorted(groups):
        g = groups[(length, kind)]
        common = sorted(set.intersection(*(set(v) for v in g.values())))
        if not common:
            continue
        for config in sorted(g, key=lambda c: (c != "target_only", c)):
            rs = [g[config][i] for i in common]
            acc = [1.0 if r["correct"] else 0.0 for r in rs]
            d = ([a - (1.0 if g["target_only"][i]["correct"] else 0.0) for a, i in zip(acc, common)]
                 if "target_only" in g and config != "target_only" else None)
            tps = [r["raw"].get("decode_tokens_per_s") or 0 for r in rs]
            out.append(f"| {length} | {kind} | {config} | {len(common)} | {ci(acc)} | {ci(d) if d else '-'} | "
                       f"{ci(tps, digits=1)} | {ci([r['wall_s'] for r in rs], digits=0)} |")
    out.append("")
    return out + env_lines(test, [m for m in metas if m["split"] == "test"])


def reward_signal_section(rows, metas):
    dev = [r for r in rows if r["split"] == "dev"]
    if not dev:
        return ["No reward-signal results yet."]
    out = ["| suite | judge | responses (items) | outcome | positives | Spearman ρ(partial, outcome) [95 % CI] |",
           "|---|---|---|---|---|---|"]
    groups = {}
    for r in dev:
        groups.setdefault((r["suite"], r["judge"]), []).append(r)
    for (suite, judge), rs in sorted(groups.items()):
        pairs = [(r["partial"], r["outcome"]) for r in rs]
        rho = es.bootstrap_ci(pairs, stat=lambda ps: es.spearman([p for p, _ in ps], [o for _, o in ps]),
                              skip_nan=True)  # resamples with a constant side have no rank correlation
        # The target-likelihood signal's CARDS outcome is a judge's full-response score
        # (reward_signal.py: its own full-response score would contain the prefix's).
        sources = {r.get("outcome_source", "").split(":", 1)[-1] for r in rs} - {""}
        outcome = ("correct (GSM8K)" if suite == "rsd" else
                   f"{', '.join(sorted(sources))} judge, full response" if judge.startswith("target_likelihood")
                   else "same judge, full response")
        pos = str(sum(1 for _, o in pairs if o > 0.5)) if suite == "rsd" else "-"
        cis = es.fmt_ci(*rho) if all(x == x for x in rho) else f"{rho[0]:.2f} (no CI: too few distinct values)"
        out.append(f"| {suite} | {judge} | {len(rs)} ({len({r['item'] for r in rs})}) | {outcome} | {pos} | {cis} |")
    out.append("")
    if any(judge.startswith("target_likelihood") for _, judge in groups):
        out += ["`target_likelihood:MODEL` is the target-likelihood process reward (`prm=` / `reward=target_likelihood`, "
                "docs/algorithms.md): exp(mean log-probability) that MODEL, the target the dev run decoded with, "
                "gives the half-way step (RSD) or the half-response prefix (CARDS), scored with `tandem score "
                "--backend target_likelihood`. Its CARDS outcome is a judge's full-response score, not its own "
                "(which would contain the prefix). The RSD responses are those of both dev runs (draft-only and "
                "target-only), so the signal also sees who wrote the response.", ""]
    return out + env_lines(dev, metas)


def render(results):
    out = ["_Generated by `bench/eval/summarize.py --write-docs` from the raw results under `bench/results/` — "
           "do not edit by hand._", ""]
    for title, suite, fn in (("RSD on GSM8K (test split)", "rsd", rsd_section),
                             ("CARDS vs best-of-N on HH-RLHF (test split)", "cards", cards_section),
                             ("RAPID needle / multi-fact (test split)", "rapid", rapid_section),
                             ("Reward signals: partial score vs final outcome (development split)", "reward_signal",
                              reward_signal_section)):
        rows, metas = load_suite(results, suite)
        out += [f"#### {title}", ""]
        out += fn(rows, metas) if rows else ["No results yet."]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--write-docs", action="store_true")
    a = ap.parse_args()
    text = render(a.results)
    print(text)
    if a.write_docs:
        with open(a.docs) as f:
            doc = f.read()
        if BEGIN not in doc or END not in doc:
            raise SystemExit(f"{a.docs} has no {BEGIN} ... {END} markers")
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        with open(a.docs, "w") as f:
            f.write(head + BEGIN + "\n" + text + END + tail)


if __name__ == "__main__":
    main()
