#!/usr/bin/env python3
"""Reward-signal comparison (issue 17): how well a judge's score of a partial response predicts the
final outcome, on development items only.

  bench/eval/reward_signal.py --rsd bench/results/rsd/<dev run> --cards bench/results/cards/<dev run> \
      [--judges qwen2.5-coder-1.5b qwen2.5-coder-0.5b] [--target-likelihood] [--tandem build/cli/tandem]

RSD (GSM8K): every development response (any run in the given directories, split "dev") is cut
into its blank-line-separated steps; `tandem score --backend judge --step ...` gives the judge's
process reward of every step (ScoreSteps, the signal RSD thresholds with δ). The partial score is
the reward of the step at the half-way point (step ceil(n/2)); the outcome is the response's
correctness (math checker vs the GSM8K reference).
CARDS (HH-RLHF): every development response is cut at half its characters (at a space); the
partial score is the judge's score of that prefix, the outcome the same judge's score of the full
response (CARDS accepts a segment on the partial reward, assuming it tracks the final one).

Writes bench/results/reward_signal/<UTC timestamp>/results.jsonl (one line per response x judge:
item, split, suite, judge, partial, outcome, steps, seconds, CPU model, load); bench/eval/summarize.py
reports Spearman's rho per (suite, judge) with a bootstrap CI.

--target-likelihood adds the third signal, the target-likelihood process reward RSD (prm=) and CARDS
(reward=target_likelihood) can threshold (decoding/strategies/reward_guided/target_likelihood.h):
exp(mean log p) of a step's tokens under the target given the prompt and the steps before it, through
`tandem score --backend target_likelihood --judge-model <target> --chat` (the same scoring code the
strategies run, on the in-process verifier). The target is the one the dev run's strategies decoded
with: the run's meta.json args.target for RSD (the instruction + question in the chat template, as
tandem_rsd_bench prompts it), args.policy for CARDS (the HH-RLHF human turn in the chat template);
--tl-model overrides both. The response text is re-tokenized step by step ("step" + "\n\n"), which
can differ from the tokens the model generated at a step's seam.
RSD: partial = the target likelihood of step ceil(n/2) (as for the judges), outcome = correctness;
partial_running (recorded, not summarized) is the geometric mean over steps 1..ceil(n/2).
CARDS: partial = the target likelihood of the half-response prefix; the outcome cannot be the signal's
own full-response score (the prefix is most of that product), so it is the score of the full response
by --cards-outcome-judge (default qwen2.5-coder-1.5b), taken from an earlier reward_signal run in
--outcome-from when it scored the same response, else computed here (recorded in outcome_source).
"""
import argparse
import datetime
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "eval"))
import run_eval  # noqa: E402

# bench/rsd/rsd_bench.cc kInstruction: the text RSD's target reads before the question.
GSM8K_INSTR = ("Solve the following math problem step by step. Put a blank line between steps. "
               "On the last line write the final answer as '#### <number>'.\n\n")


def rows(path):
    with open(os.path.join(path, "results.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def clean(text):
    return text.split("<|im_end|>")[0].split("<|endoftext|>")[0].strip()


def meta_args(path):
    with open(os.path.join(path, "meta.json")) as f:
        return json.load(f).get("args", {})


def score(tandem, judge, threads, prompt, responses=None, steps=None, backend="judge", chat=False):
    cmd = [tandem, "score", "--backend", backend, "--judge-model", judge, "--threads", str(threads),
           "--prompt", prompt, "--json"] + (["--chat"] if chat else [])
    for r in responses or []:
        cmd += ["--response", r]
    for s in steps or []:
        cmd += ["--step", s]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"tandem score failed: {p.stderr[-1000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rsd", nargs="*", default=[])
    ap.add_argument("--cards", nargs="*", default=[])
    ap.add_argument("--judges", nargs="*", default=["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"])
    ap.add_argument("--target-likelihood", action="store_true", help="also measure the target-likelihood PRM")
    ap.add_argument("--tl-model", default="", help="target for --target-likelihood (default: the dev run's)")
    ap.add_argument("--cards-outcome-judge", default="qwen2.5-coder-1.5b")
    ap.add_argument("--outcome-from", nargs="*", default=[],
                    help="earlier reward_signal runs whose full-response judge scores are reused")
    ap.add_argument("--tandem", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="responses per suite")
    a = ap.parse_args()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = os.path.join(ROOT, "bench", "results", "reward_signal", stamp)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(dict(command=" ".join(sys.argv), git_commit=run_eval.git_commit(), cpu_model=run_eval.cpu_model(),
                       nproc=os.cpu_count(), started_utc=stamp, load_start=run_eval.load()), f, indent=1)
    cpu = run_eval.cpu_model()
    with open(os.path.join(ROOT, "tests", "data", "gsm8k", "test.jsonl")) as f:
        gsm = [json.loads(line) for line in f if line.strip()]

    def emit(**r):
        r.update(cpu_model=cpu, nproc=os.cpu_count(), load_after=run_eval.load(),
                 utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        with open(os.path.join(out_dir, "results.jsonl"), "a") as f:
            f.write(json.dumps(r) + "\n")
        print(json.dumps({k: r[k] for k in ("suite", "item", "run", "judge", "partial", "outcome")}), file=sys.stderr,
              flush=True)

    work = []
    for d in a.rsd:
        tl = a.tl_model or meta_args(d).get("target", "qwen2.5-coder-1.5b")
        work += [("rsd", r, tl) for r in rows(d) if r["split"] == "dev"][: a.limit or None]
    for d in a.cards:
        tl = a.tl_model or meta_args(d).get("policy", "smollm2-135m")
        work += [("cards", r, tl) for r in rows(d) if r["split"] == "dev"][: a.limit or None]
    known = {}  # (suite, item, run, judge) -> full-response score of an earlier run
    for d in a.outcome_from:
        for r in rows(d):
            if r.get("suite") == "cards" and not r["judge"].startswith("target_likelihood"):
                known[(r["suite"], r["item"], r["run"], r["judge"])] = r["outcome"]
    for suite, r, tl in work:  # signals inner: an interrupted run has every signal on the same responses
        if a.target_likelihood:
            text = clean(r["output"])
            lb = run_eval.load()
            if suite == "rsd":
                steps = [s for s in text.split("\n\n") if s.strip()]
                if steps:
                    res = score(a.tandem, tl, a.threads, GSM8K_INSTR + gsm[r["item"]]["question"], steps=steps,
                                backend="target_likelihood", chat=True)
                    k = (len(steps) + 1) // 2
                    sc = res["scores"]
                    running = math.exp(sum(math.log(max(x, 1e-30)) for x in sc[:k]) / k)
                    emit(suite=suite, item=r["item"], split="dev", run=r["run"], judge=f"target_likelihood:{tl}",
                         partial=sc[k - 1], partial_running=running, outcome=1.0 if r["correct"] else 0.0,
                         outcome_source="correct", steps=len(steps), step_scores=sc, seconds=res.get("seconds"),
                         load_before=lb)
            else:
                cut = text.rfind(" ", 0, len(text) // 2)
                prefix = text[:cut if cut > 0 else len(text) // 2]
                prompt = run_eval.hh_prompt(r["item"])["prompt_text"]
                res = score(a.tandem, tl, a.threads, prompt, responses=[prefix, text], backend="target_likelihood",
                            chat=True)
                key = (suite, r["item"], r["run"], a.cards_outcome_judge)
                if key in known:
                    outcome, source = known[key], f"reused:{a.cards_outcome_judge}"
                else:
                    outcome = score(a.tandem, a.cards_outcome_judge, a.threads, prompt, responses=[text])["scores"][0]
                    source = f"computed:{a.cards_outcome_judge}"
                emit(suite=suite, item=r["item"], split="dev", run=r["run"], judge=f"target_likelihood:{tl}",
                     partial=res["scores"][0], tl_full=res["scores"][1], outcome=outcome, outcome_source=source,
                     prefix_chars=len(prefix), chars=len(text), seconds=res.get("seconds"), load_before=lb)
        for judge in a.judges:
            text = clean(r["output"])
            lb = run_eval.load()
            if suite == "rsd":
                steps = [s for s in text.split("\n\n") if s.strip()]
                if not steps:
                    continue
                res = score(a.tandem, judge, a.threads, gsm[r["item"]]["question"], steps=steps)
                k = (len(steps) + 1) // 2
                emit(suite=suite, item=r["item"], split="dev", run=r["run"], judge=judge, partial=res["scores"][k - 1],
                     outcome=1.0 if r["correct"] else 0.0, steps=len(steps), step_scores=res["scores"],
                     seconds=res.get("seconds"), load_before=lb)
            else:
                cut = text.rfind(" ", 0, len(text) // 2)
                prefix = text[:cut if cut > 0 else len(text) // 2]
                prompt = run_eval.hh_prompt(r["item"])["prompt_text"]
                res = score(a.tandem, judge, a.threads, prompt, responses=[prefix, text])
                emit(suite=suite, item=r["item"], split="dev", run=r["run"], judge=judge, partial=res["scores"][0],
                     outcome=res["scores"][1], prefix_chars=len(prefix), chars=len(text), seconds=res.get("seconds"),
                     load_before=lb)


if __name__ == "__main__":
    main()
