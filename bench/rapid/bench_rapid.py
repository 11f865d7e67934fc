#!/usr/bin/env python3
"""RAPID vs target-only vs plain speculative decoding on long-context needle tasks.

Tasks: the long English text of tests/data/long_text/ (GSM8K questions as prose paragraphs;
tests/data/README.md) concatenated (sorted by file name, starting at a per-task offset) up to
about --lengths tokens, with one invented fact ("The secret code of the
<thing> is <5 digits>.") inserted at a paragraph boundary at a per-task depth, and the question
"What is the secret code of the <thing>?". A run is correct when the 5-digit answer appears in
its output (up to the first end-of-turn marker).

Every strategy gets the same target prompt: the chat-templated user message
  "Please read the following text and answer the question below.\n\n<text>\n{context}\n</text>\n\n{question}"
which is exactly what `--strategy rapid` renders for its target (server/rapid_strategy.cc);
prompt_tokens in the results are checked to be equal. RAPID gets the context through
--context-file and the question as --prompt; its drafter reads the same template with the
retrieved chunks.

Configurations (all greedy, in process, `tandem generate --json`):
  target_only        the target on the full context
  spec_ngram         speculative, n-gram prompt-lookup drafter, gamma --gamma
  spec_self          speculative, the model drafting for itself on the full context (--with-self)
  rapid              rapid with its defaults (eta 5, alpha_m 0.1, c_conf 0.1, gamma 10, S 512,
                     theta 0.3, L_min 4096, lambda 24)
  rapid_eta0         rapid, eta 0 (lossless: same output as target_only)
  rapid_short        rapid, L_min --short-lmin (a drafter context well below the target's)
  rapid_short_g4     rapid_short with gamma 4 (verification of many rows is not free on a CPU)

Decode throughput = the engine's own measure (tokens after the first / time after the first
token), so prefill and retrieval are excluded; summed over tasks as in bench_speculative.py.

Usage: bench/rapid/bench_rapid.py [--lengths 4096 8192] [--tasks N] [--max-tokens N]
         [--threads N] [--model NAME] [--configs ...] [--markdown] [--out FILE]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "speculative"))
import bench_speculative  # noqa: E402  (shares its aggregate())
DATA = os.path.join(ROOT, "tests", "data")  # long_text/ (tests/data/README.md)

THINGS = ["old lighthouse", "harbor vault", "blue observatory", "north tower", "glass library",
          "river mill", "copper gate", "winter garden"]
INTRO = "Please read the following text and answer the question below."
CHARS_PER_TOKEN = 3.6  # SmolLM2 on tests/data/long_text (3.8 for Qwen2.5), measured; the run reports the truth

ALL_CONFIGS = ["target_only", "spec_ngram", "spec_self", "rapid", "rapid_eta0", "rapid_short", "rapid_short_g4"]


def long_texts():
    d = os.path.join(DATA, "long_text")
    texts = []
    for name in sorted(os.listdir(d)):
        if name.endswith(".txt"):
            with open(os.path.join(d, name), encoding="utf-8") as f:
                texts.append(f.read().strip())
    return texts


def make_task(texts, length_tokens, index, rng):
    budget = int(length_tokens * CHARS_PER_TOKEN)
    parts, used, i = [], 0, index * 3
    while used < budget:
        t = texts[i % len(texts)]
        parts.append(t)
        used += len(t) + 2
        i += 1
    context = "\n\n".join(parts)[:budget]
    context = context[:context.rfind("\n") if context.rfind("\n") > budget * 9 // 10 else context.rfind(" ")]
    thing = THINGS[index % len(THINGS)]
    answer = str(rng.randint(10000, 99999))
    needle = f"The secret code of the {thing} is {answer}."
    depth = [0.3, 0.6, 0.45, 0.75, 0.15, 0.9][index % 6]
    at = context.find(". ", int(len(context) * depth))  # after a sentence (the text is hard-wrapped)
    at = at + 2 if at >= 0 else int(len(context) * depth)
    context = context[:at] + needle + " " + context[at:]
    question = f"What is the secret code of the {thing}?"
    return dict(context=context, question=question, answer=answer, depth=depth, needle=needle)


def full_prompt(task):
    return f"{INTRO}\n\n<text>\n{task['context']}\n</text>\n\n{task['question']}"


def run(binary, args):
    t0 = time.time()
    p = subprocess.run([binary, "generate"] + args + ["--json"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"tandem generate failed (exit {p.returncode}): {p.stderr.strip()[-2000:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.time() - t0
    return out


def correct(result, answer):
    text = result["text"].split("<|im_end|>")[0].split("<|endoftext|>")[0]
    return answer in text


def config_args(name, args, task, ctx_file):
    common = ["--model", args.model, "--chat", "--temperature", "0", "--max-tokens", str(args.max_tokens),
              "--threads", str(args.threads), "--ignore-eos"]
    if name == "target_only":
        return common + ["--strategy", "target_only", "--prompt", full_prompt(task)]
    if name == "spec_ngram":
        return common + ["--strategy", "speculative", "--param", "drafter=ngram", "--gamma", str(args.gamma),
                         "--prompt", full_prompt(task)]
    if name == "spec_self":
        return common + ["--strategy", "speculative", "--param", "drafter=model", "--draft-model", args.model,
                         "--gamma", str(args.gamma), "--prompt", full_prompt(task)]
    rapid = common + ["--strategy", "rapid", "--context-file", ctx_file, "--prompt", task["question"]]
    if name == "rapid":
        return rapid
    if name == "rapid_eta0":
        return rapid + ["--param", "eta=0"]
    if name == "rapid_short":
        return rapid + ["--param", f"l_min={args.short_lmin}"]
    if name == "rapid_short_g4":
        return rapid + ["--param", f"l_min={args.short_lmin}", "--param", "gamma=4"]
    raise SystemExit(f"unknown config {name}")


def aggregate(results):
    # Decode throughput, acceptance, mean acceptance length and target calls as
    # bench_speculative.py computes them, plus the long-context measures.
    out = bench_speculative.aggregate(results)
    del out["tokens"]
    st = [r.get("stats", {}).get("retrieval") or {} for r in results]
    out.update(prompt_tokens=sum(r["prompt_tokens"] for r in results) / len(results),
               context_tokens=sum(s.get("context_tokens", 0) for s in st) / len(results),
               retrieved_tokens=sum(s.get("retrieved_tokens", 0) for s in st) / len(results),
               draft_prompt_tokens=sum(s.get("draft_prompt_tokens", 0) for s in st) / len(results),
               retrieval_ms=sum(s.get("retrieval_ms", 0) for s in st) / len(results),
               ttft_s=sum(r["stats"]["time_to_first_token_ms"] for r in results) / len(results) / 1000)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192],
                    help="approximate context lengths in tokens (SmolLM2-135M's window is 8192)")
    ap.add_argument("--tasks", type=int, default=2, help="needle tasks per length")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gamma", type=int, default=4, help="gamma of plain speculative decoding")
    ap.add_argument("--short-lmin", type=int, default=1024)
    ap.add_argument("--configs", nargs="+", default=[c for c in ALL_CONFIGS if c != "spec_self"],
                    choices=ALL_CONFIGS)
    ap.add_argument("--with-self", action="store_true", help="add spec_self (doubles the full-context prefills)")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--out", help="also write every run's JSON here")
    args = ap.parse_args()
    configs = list(args.configs) + (["spec_self"] if args.with_self and "spec_self" not in args.configs else [])

    texts = long_texts()
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="tandem-rapid-bench-")
    rows, runs = [], []
    for length in args.lengths:
        per_config = {c: [] for c in configs}
        for t in range(args.tasks):
            task = make_task(texts, length - 200 - args.max_tokens, t, rng)
            ctx_file = os.path.join(tmp, f"ctx-{length}-{t}.txt")
            with open(ctx_file, "w", encoding="utf-8") as f:
                f.write(task["context"])
            prompt_tokens = set()
            for c in configs:
                r = run(args.binary, config_args(c, args, task, ctx_file))
                r["config"], r["length"], r["task"], r["correct"] = c, length, t, correct(r, task["answer"])
                prompt_tokens.add(r["prompt_tokens"])
                per_config[c].append(r)
                runs.append(dict(config=c, length=length, task=t, answer=task["answer"], depth=task["depth"],
                                 correct=r["correct"], text=r["text"][:200], prompt_tokens=r["prompt_tokens"],
                                 decode_tps=r["decode_tokens_per_s"], wall_s=r["wall_s"], stats=r["stats"]))
                st = r["stats"]
                sp, rt = st.get("speculation") or {}, st.get("retrieval") or {}
                print(json.dumps(dict(length=length, task=t, config=c, correct=r["correct"],
                                      decode_tps=round(r["decode_tokens_per_s"] or 0, 2),
                                      acceptance=round(sp.get("acceptance_rate", 0), 3),
                                      mean_len=round(sp.get("mean_acceptance_length", 0), 2),
                                      target_calls=st.get("target_calls", 0),
                                      draft_prompt_tokens=rt.get("draft_prompt_tokens", 0),
                                      retrieved_chunks=rt.get("retrieved_chunks", 0),
                                      retrieval_ms=round(rt.get("retrieval_ms", 0)),
                                      ttft_s=round(st.get("time_to_first_token_ms", 0) / 1000, 1),
                                      prompt_tokens=r["prompt_tokens"], wall_s=round(r["wall_s"], 1),
                                      load=os.getloadavg()[0], text=r["text"][:80])), file=sys.stderr, flush=True)
                if args.out:  # after every run: a long benchmark interrupted keeps what it measured
                    with open(args.out, "w") as f:
                        json.dump(dict(runs=runs), f, indent=1)
            if len(prompt_tokens) != 1:
                print(f"WARNING: prompt token counts differ across configs: {sorted(prompt_tokens)}", file=sys.stderr)
        base = aggregate(per_config["target_only"])["decode_tps"] if "target_only" in per_config else 0
        for c in configs:
            a = aggregate(per_config[c])
            rows.append(dict(length=length, config=c, **a,
                             speedup=a["decode_tps"] / base if base else 0,
                             accuracy=f"{sum(r['correct'] for r in per_config[c])}/{len(per_config[c])}"))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(rows=rows, runs=runs), f, indent=1)
    if args.markdown:
        print("| context | config | prompt tokens | drafter prompt | decode tok/s | speedup | acceptance | "
              "mean acc. length | target calls | accuracy |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            dp = f"{r['draft_prompt_tokens']:.0f}" if r["draft_prompt_tokens"] else "-"
            acc = f"{r['acceptance']:.2f}" if r["mean_len"] else "-"
            ml = f"{r['mean_len']:.2f}" if r["mean_len"] else "-"
            print(f"| {r['length']} | {r['config']} | {r['prompt_tokens']:.0f} | {dp} | {r['decode_tps']:.1f} | "
                  f"{r['speedup']:.2f}x | {acc} | {ml} | {r['target_calls']} | {r['accuracy']} |")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
