#!/usr/bin/env python3
"""Speculative decoding, tandem vs llama.cpp's llama-speculative-simple, same pair, same prompts.

Issue 16's row "speculative greedy, Qwen2.5-Coder-1.5B <- 0.5B, gamma = 4, code prompts, 128
tokens": for each prompt both engines decode greedily from the same raw text (no chat template,
so both see the same tokens) with the same draft length, and each reports its own decode rate:
  tandem     `tandem generate --strategy speculative --param drafter=model --gamma G --json`
             (tokens after the first / time after the first), and `--strategy target_only`
  llama.cpp  `llama-speculative-simple --spec-draft-n-max G` ("decoded N tokens in S seconds,
             speed: R t/s"), and `llama-bench -p 0 -n N` for its target alone
The engines alternate per prompt and the sweep repeats --reps times, so load drifts hit both;
`uptime`'s load average is kept per run. Raw outputs (stdout/stderr of every run) and
summary.json go to --out (default bench/results/speculative_llama/<UTC time>); the markdown
table printed at the end is built from them.

Usage: bench/speculative/compare_llama_speculative.py [--threads 2] [--tokens 128] [--gamma 4]
         [--adaptive-gamma] [--draft-head-vocab 65536]
         [--reps 1] [--binary build/cli/tandem] [--llama-dir build-llama/build/bin]
"""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.environ.get("TANDEM_MODELS", os.path.expanduser("~/.cache/tandem/models"))
TARGET, DRAFT = "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"

# Code prompts whose answers reuse prompt text (raw completions: the models
# continue the text).
PROMPTS = [
    "# Python: rectangle helpers with type hints and docstrings.\n\n"
    "def area(w: float, h: float) -> float:\n    \"\"\"Area of a w x h rectangle.\"\"\"\n    return w * h\n\n\n"
    "def perimeter(w: float, h: float) -> float:\n",
    "import json\n\n\ndef load_config(path):\n    \"\"\"Read a JSON config file and check its keys.\"\"\"\n"
    "    with open(path) as f:\n        config = json.load(f)\n",
    "def fibonacci(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
]

SPEED = re.compile(r"decoded\s+(\d+)\s+tokens in\s+([0-9.]+)\s+seconds, speed:\s+([0-9.]+) t/s")
ACCEPT = re.compile(r"accept\s*=\s*([0-9.]+)%")


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def cpu_model():
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def run(cmd, out_dir, name):
    before = loadavg()
    p = subprocess.run(cmd, capture_output=True, text=True)
    with open(os.path.join(out_dir, name + ".out"), "w") as f:
        f.write(" ".join(cmd) + "\n--- stdout\n" + p.stdout + "\n--- stderr\n" + p.stderr)
    if p.returncode != 0:
        raise SystemExit(f"{name}: exit {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p, before, loadavg()


def tandem(args, strategy, prompt, out_dir, name):
    cmd = [args.binary, "generate", "--model", TARGET, "--strategy", strategy, "--temperature", "0",
           "--max-tokens", str(args.tokens), "--ignore-eos", "--threads", str(args.threads), "--prompt", prompt, "--json"]
    if strategy == "speculative":
        cmd += ["--draft-model", DRAFT, "--param", "drafter=model", "--gamma", str(args.gamma)]
        if args.adaptive_gamma:
            cmd += ["--param", "adaptive_gamma=true"]
        if args.draft_head_vocab:
            cmd += ["--draft-head-vocab", str(args.draft_head_vocab)]
    p, before, after = run(cmd, out_dir, name)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    st = r["stats"]
    secs = (st["e2e_latency_ms"] - st["time_to_first_token_ms"]) / 1000
    spec = st.get("speculation") or {}
    return dict(engine="tandem", strategy=strategy, tokens=r["completion_tokens"],
                tps=(r["completion_tokens"] - 1) / secs if secs > 0 else 0.0,
                acceptance=spec.get("acceptance_rate"), load=[before, after])


def llama_spec(args, prompt, out_dir, name):
    cmd = [os.path.join(args.llama_dir, "llama-speculative-simple"), "-m", os.path.join(MODELS, TARGET + ".gguf"),
           "-md", os.path.join(MODELS, DRAFT + ".gguf"), "-p", prompt, "-n", str(args.tokens), "--temp", "0",
           "--spec-type", "draft-simple", "--spec-draft-n-max", str(args.gamma), "--spec-draft-n-min", "0", "--spec-draft-p-min", "0",
           "-t", str(args.threads), "-td", str(args.threads), "-c", "4096", "--ignore-eos"]
    p, before, after = run(cmd, out_dir, name)
    try:
        tokens, tps, acceptance = parse_llama_speculative(p.stdout + p.stderr)
    except ValueError as e:
        raise SystemExit(f"{name}: {e}")
    return dict(engine="llama.cpp", strategy="speculative", tokens=tokens, tps=tps, acceptance=acceptance,
                load=[before, after])


def parse_llama_speculative(text):
    """(tokens decoded, tokens/s, acceptance or None) from llama-speculative-simple's log."""
    m = SPEED.search(text)
    if not m:
        raise ValueError("no 'decoded N tokens in S seconds, speed: R t/s' line in llama-speculative-simple's output")
    a = ACCEPT.search(text)
    return int(m.group(1)), float(m.group(3)), float(a.group(1)) / 100 if a else None


def llama_target(args, out_dir, name):
    cmd = [os.path.join(args.llama_dir, "llama-bench"), "-m", os.path.join(MODELS, TARGET + ".gguf"), "-p", "0",
           "-n", str(args.tokens), "-t", str(args.threads), "-r", "2", "-o", "json"]
    p, before, after = run(cmd, out_dir, name)
    rows = json.loads(p.stdout)
    return dict(engine="llama.cpp", strategy="target_only", tokens=args.tokens, tps=max(r["avg_ts"] for r in rows),
                acceptance=None, load=[before, after])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--gamma", type=int, default=4, help="draft length (tandem's starting value with --adaptive-gamma)")
    ap.add_argument("--adaptive-gamma", action="store_true",
                    help="tandem chooses gamma per round from measured costs (docs/algorithms.md section 6)")
    ap.add_argument("--draft-head-vocab", type=int, default=0,
                    help="tandem's draft head covers token ids below this only (0 = all; docs/algorithms.md 6.3)")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--llama-dir", default=os.path.join(ROOT, "build-llama", "build", "bin"))
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out or os.path.join(ROOT, "bench", "results", "speculative_llama", stamp)
    os.makedirs(out_dir, exist_ok=True)
    meta = dict(date_utc=stamp, cpu_model=cpu_model(), nproc=os.cpu_count(), threads=args.threads,
                tokens=args.tokens, gamma=args.gamma, adaptive_gamma=args.adaptive_gamma,
                draft_head_vocab=args.draft_head_vocab, reps=args.reps, target=TARGET, draft=DRAFT,
                git_rev=subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True).stdout.strip(),
                command=" ".join(sys.argv))
    runs = []
    for rep in range(args.reps):
        runs.append(dict(prompt=None, rep=rep, **llama_target(args, out_dir, f"llama_target_r{rep}")))
        for i, prompt in enumerate(PROMPTS):
            order = [("tandem_spec", lambda: tandem(args, "speculative", prompt, out_dir, f"tandem_spec_p{i}_r{rep}")),
                     ("tandem_target", lambda: tandem(args, "target_only", prompt, out_dir, f"tandem_target_p{i}_r{rep}")),
                     ("llama_spec", lambda: llama_spec(args, prompt, out_dir, f"llama_spec_p{i}_r{rep}"))]
            if (i + rep) % 2:
                order.reverse()
            for _, fn in order:
                r = fn()
                r.update(prompt=i, rep=rep)
                runs.append(r)
                print(json.dumps(r), file=sys.stderr, flush=True)

    def mean_tps(engine, strategy):
        v = [r["tps"] for r in runs if r["engine"] == engine and r["strategy"] == strategy]
        return statistics.mean(v) if v else 0.0

    t_spec, t_base = mean_tps("tandem", "speculative"), mean_tps("tandem", "target_only")
    l_spec, l_base = mean_tps("llama.cpp", "speculative"), mean_tps("llama.cpp", "target_only")
    summary = dict(meta=meta, runs=runs, tandem_spec_tps=t_spec, tandem_target_tps=t_base, llama_spec_tps=l_spec,
                   llama_target_tps=l_base)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    loads = [x for r in runs for pair in r["load"] for x in pair[:1]]
    print(f"Machine: {meta['cpu_model']}, {meta['nproc']} CPUs; {stamp}, tandem {meta['git_rev']}; "
          f"load average (1 min) {min(loads):.1f}-{max(loads):.1f}; {TARGET} <- {DRAFT}, greedy, gamma {args.gamma}"
          f"{' (tandem: adaptive from there)' if args.adaptive_gamma else ''}"
          f"{f', tandem draft head_vocab {args.draft_head_vocab}' if args.draft_head_vocab else ''}, "
          f"{args.tokens} tokens, {args.threads} threads, {len(PROMPTS)} code prompts x {args.reps}; raw: {out_dir}")
    print("\n| engine | target-only tok/s | speculative tok/s | speculative / its target-only |")
    print("|---|---|---|---|")
    print(f"| tandem | {t_base:.1f} | {t_spec:.1f} | {t_spec / t_base if t_base else 0:.2f}x |")
    print(f"| llama.cpp | {l_base:.1f} (llama-bench tg{args.tokens}) | {l_spec:.1f} | {l_spec / l_base if l_base else 0:.2f}x |")
    print(f"\ntandem speculative / llama.cpp speculative: **{t_spec / l_spec if l_spec else 0:.2f}x**")


if __name__ == "__main__":
    main()
