#!/usr/bin/env python3
"""What scoring the prompt costs (GenerationRequest::prompt_logprobs, the gateway's echo): the time to
the first token of `tandem generate --logprobs --max-tokens 1` with and without --prompt-logprobs, side
by side in one run, alternating, on prompts of GSM8K test-split question/answer pairs.

The prompt is prefilled either way; with --prompt-logprobs every prompt position also gets its output
row and log-softmax (64 rows per forward), where the plain prefill computes one row. The ratio says
what that costs against a second prefill (2x).

usage: bench/orchestrator/prompt_logprobs_cost.py [--tandem build/cli/tandem] [--models smollm2-135m,...]
           [--tokens 128,512] [--reps 3] [--threads 2]
Writes bench/results/prompt_logprobs/<UTC stamp>/{env.json,runs.jsonl,summary.md}.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import machine  # noqa: E402


def gsm8k_text(chars):
    """Test-split question/answer pairs, in order, until `chars` characters."""
    with open(os.path.join(ROOT, "bench", "data", "splits", "gsm8k.json")) as f:
        test_ids = json.load(f)["test"]
    with open(os.path.join(ROOT, "tests", "data", "gsm8k", "test.jsonl")) as f:
        items = [json.loads(line) for line in f]
    text = ""
    for i in test_ids:
        if len(text) >= chars:
            break
        text += f"Question: {items[i]['question']}\nAnswer: {items[i]['answer']}\n\n"
    return text[:chars]


def run(tandem, model, prompt, threads, scored):
    cmd = [tandem, "generate", "--json", "--model", model, "--threads", str(threads), "--temperature", "0",
           "--max-tokens", "1", "--ignore-eos", "--logprobs", "--prompt", prompt]
    if scored:
        cmd.append("--prompt-logprobs")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    answer = json.loads(out.stdout)
    if scored and len(answer["prompt_logprobs"]) != answer["prompt_tokens"]:
        raise RuntimeError(f"{model}: {len(answer['prompt_logprobs'])} prompt logprobs for {answer['prompt_tokens']}")
    return answer["prompt_tokens"], answer["stats"]["time_to_first_token_ms"], answer["token_ids"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tandem", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--models", default="smollm2-135m,qwen2.5-coder-1.5b")
    ap.add_argument("--tokens", default="128,512", help="approximate prompt lengths (4 characters a token)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    out_dir, env = machine.run_record(ROOT, os.path.join(ROOT, "bench", "results", "prompt_logprobs"),
                                      threads=args.threads, reps=args.reps)
    rows = []
    with open(os.path.join(out_dir, "runs.jsonl"), "w") as runs:
        for model in args.models.split(","):
            for tokens in (int(t) for t in args.tokens.split(",")):
                prompt = gsm8k_text(4 * tokens)
                times = {False: [], True: []}
                for rep in range(args.reps):
                    for scored in (False, True):  # alternating, so drift hits both sides
                        n, ttft, first = run(args.tandem, model, prompt, args.threads, scored)
                        times[scored].append(ttft)
                        runs.write(json.dumps(dict(model=model, prompt_tokens=n, scored=scored, rep=rep,
                                                   ttft_ms=ttft, first_token=first)) + "\n")
                        print(f"{model} {n} tokens scored={scored} rep {rep}: TTFT {ttft:.1f} ms", file=sys.stderr)
                plain, scored_ms = statistics.median(times[False]), statistics.median(times[True])
                rows.append((model, n, plain, scored_ms, scored_ms / plain, min(times[False]), min(times[True])))
    env["loadavg_after"] = machine.loadavg()
    with open(os.path.join(out_dir, "env.json"), "w") as f:
        json.dump(env, f, indent=1)
    lines = [f"CPU: {env['cpu']}, {env['nproc']} CPUs, {args.threads} threads, load {env['loadavg_before']} -> "
             f"{env['loadavg_after']}, tandem {env['commit'][:7]}, {env['utc']}, {args.reps} alternating reps.",
             "", "| model | prompt tokens | TTFT plain ms (median / best) | TTFT with prompt logprobs | ratio (median) |",
             "|---|---|---|---|---|"]
    for model, n, plain, scored_ms, ratio, best_plain, best_scored in rows:
        lines.append(f"| {model} | {n} | {plain:.1f} / {best_plain:.1f} | {scored_ms:.1f} / {best_scored:.1f} | "
                     f"**{ratio:.2f}x** |")
    summary = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(summary)
    print(summary)
    print(f"raw results: {os.path.relpath(out_dir, ROOT)}")


if __name__ == "__main__":
    main()
