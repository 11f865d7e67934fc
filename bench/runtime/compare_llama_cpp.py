#!/usr/bin/env python3
"""Side-by-side throughput and perplexity: tandem vs llama.cpp on the same GGUF file.

llama.cpp comes from the PyPI package llama-cpp-python (it builds the real
llama.cpp from source; `scripts/setup.sh --bench` installs it). Both engines
get the same prompt text, thread count and greedy decoding:

  prefill tok/s  prompt tokens / time of the prompt's forward pass
  decode tok/s   generated tokens after the first / time of their one-token passes
                 (tandem: wall time incl. sampling; llama.cpp: wall time of the
                 Python loop incl. argmax, and llama.cpp's own eval timer)
  perplexity     the same method for both: non-overlapping windows, every token
                 but the first of a window scored (see runtime/model/perplexity.h)
  perplexity, llama-cpp scoring
                 llama.cpp's perplexity tool's method for both (tandem
                 --scoring llama-cpp): full windows only, BOS first when the
                 model adds one, the second half of each window scored

Usage: bench/runtime/compare_llama_cpp.py [--model smollm2-135m] [--threads 1 2]
         [--prompt-tokens 512] [--gen-tokens 128] [--repeats 3] [--markdown]
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")  # gsm8k/, hh-rlhf/, long_text/ (tests/data/README.md)


def long_text(n_chars):
    d = os.path.join(DATA, "long_text")
    text = ""
    for name in sorted(os.listdir(d)):
        if name.endswith(".txt"):
            with open(os.path.join(d, name), encoding="utf-8") as f:
                text += f.read() + "\n\n"
        if len(text) >= n_chars:
            break
    return text[:n_chars]


def model_path(name):
    if os.path.exists(name):
        return name
    cache = os.environ.get("TANDEM_MODEL_DIR", os.path.expanduser("~/.cache/tandem/models"))
    return os.path.join(cache, name + ".gguf")


def tandem(binary, args):
    out = subprocess.run([binary] + args + ["--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def llama_prompt_tokens(llm, text, n):
    return llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)[:n]


def last_logits(llm):
    # With logits_all=False llama-cpp-python no longer copies logits into
    # llm.scores; read llama.cpp's buffer for the last position directly.
    import numpy as np
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))


def llama_generate(llm, prompt_ids, gen_tokens):
    import numpy as np
    import llama_cpp
    llm.reset()
    llama_cpp.llama_perf_context_reset(llm.ctx)
    t0 = time.perf_counter()
    llm.eval(prompt_ids)
    t1 = time.perf_counter()
    out = []
    tok = int(np.argmax(last_logits(llm)))
    out.append(tok)
    for _ in range(gen_tokens - 1):
        llm.eval([tok])
        tok = int(np.argmax(last_logits(llm)))
        out.append(tok)
    t2 = time.perf_counter()
    perf = llama_cpp.llama_perf_context(llm.ctx)
    internal_decode = perf.n_eval / (perf.t_eval_ms / 1000) if perf.t_eval_ms > 0 else 0
    return dict(prefill=len(prompt_ids) / (t1 - t0), decode=(gen_tokens - 1) / (t2 - t1),
                decode_internal=internal_decode, tokens=out)


def llama_perplexity(path, threads, ids, window, second_half=False):
    """second_half: llama.cpp's perplexity tool (examples/perplexity): full
    windows only, the first token replaced by BOS when the model adds one, rows
    window // 2 .. window - 2 scored."""
    import numpy as np
    from llama_cpp import Llama
    llm = Llama(model_path=path, n_ctx=window, n_batch=window, n_ubatch=window, n_threads=threads,
                n_threads_batch=threads, logits_all=True, verbose=False)
    add_bos = str(llm.metadata.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true"
    first = window // 2 if second_half else 0
    nll, scored = 0.0, 0
    for start in range(0, len(ids), window):
        w = list(ids[start:start + window])
        if len(w) < 2 or (second_half and len(w) < window):
            break
        if second_half and add_bos:
            w[0] = llm.token_bos()
        llm.reset()
        llm.eval(w)
        logits = np.asarray(llm.scores[first:len(w) - 1], dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        nll -= logp[np.arange(len(w) - 1 - first), w[first + 1:]].sum()
        scored += len(w) - 1 - first
    return math.exp(nll / scored), scored


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3, help="runs per setting; the median is reported")
    ap.add_argument("--ppl-tokens", type=int, default=8192)
    ap.add_argument("--ppl-window", type=int, default=512)
    ap.add_argument("--markdown", action="store_true", help="print a markdown table for docs/benchmarks.md")
    args = ap.parse_args()

    from llama_cpp import Llama
    path = model_path(args.model)
    text = long_text(args.prompt_tokens * 8)
    rows = []
    for t in args.threads:
        llm = Llama(model_path=path, n_ctx=args.prompt_tokens + args.gen_tokens + 8, n_batch=512,
                    n_threads=t, n_threads_batch=t, logits_all=False, verbose=False)
        prompt_ids = llama_prompt_tokens(llm, text, args.prompt_tokens)
        prompt_text = llm.detokenize(prompt_ids).decode("utf-8", errors="ignore")
        ll, td = [], []
        for _ in range(args.repeats):
            ll.append(llama_generate(llm, prompt_ids, args.gen_tokens))
            td.append(tandem(args.binary, ["generate", "--model", path, "--prompt", prompt_text,
                                           "--max-tokens", str(args.gen_tokens), "--temperature", "0",
                                           "--threads", str(t)]))
        del llm
        med = lambda xs: statistics.median(xs)
        same = 0
        for a, b in zip(ll[0]["tokens"], td[0]["token_ids"]):
            if a != b:
                break
            same += 1
        rows.append(dict(threads=t, prompt_tokens=td[0]["prompt_tokens"], llama_prompt_tokens=len(prompt_ids),
                         tandem_prefill=med([r["prefill_tokens_per_s"] for r in td]),
                         llama_prefill=med([r["prefill"] for r in ll]),
                         tandem_decode=med([r["decode_tokens_per_s"] for r in td]),
                         llama_decode=med([r["decode"] for r in ll]),
                         llama_decode_internal=med([r["decode_internal"] for r in ll]),
                         greedy_common_prefix=same))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    ppl_text = long_text(args.ppl_tokens * 6)
    with open("/tmp/tandem_ppl.txt", "w", encoding="utf-8") as f:
        f.write(ppl_text)
    td = tandem(args.binary, ["perplexity", "--model", path, "--file", "/tmp/tandem_ppl.txt",
                              "--window", str(args.ppl_window), "--max-tokens", str(args.ppl_tokens),
                              "--threads", str(max(args.threads))])
    tok = Llama(model_path=path, vocab_only=True, verbose=False)
    ids = tok.tokenize(ppl_text.encode("utf-8"), add_bos=False, special=False)[:args.ppl_tokens]
    lppl, lscored = llama_perplexity(path, max(args.threads), ids, args.ppl_window)
    td_half = tandem(args.binary, ["perplexity", "--model", path, "--file", "/tmp/tandem_ppl.txt",
                                   "--window", str(args.ppl_window), "--max-tokens", str(args.ppl_tokens),
                                   "--threads", str(max(args.threads)), "--scoring", "llama-cpp"])
    lppl_half, lscored_half = llama_perplexity(path, max(args.threads), ids, args.ppl_window, second_half=True)
    result = dict(rows=rows, perplexity=dict(tandem=td["perplexity"], tandem_scored=td["tokens_scored"],
                                             llama=lppl, llama_scored=lscored),
                  perplexity_llama_cpp_scoring=dict(tandem=td_half["perplexity"],
                                                    tandem_scored=td_half["tokens_scored"],
                                                    llama=lppl_half, llama_scored=lscored_half))
    if args.markdown:
        print(f"| threads | prompt tok | prefill tandem | prefill llama.cpp | ratio | decode tandem | "
              f"decode llama.cpp (loop / internal) | ratio (vs loop / vs internal) | greedy tokens identical |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['threads']} | {r['prompt_tokens']} | {r['tandem_prefill']:.0f} | {r['llama_prefill']:.0f} | "
                  f"{r['tandem_prefill'] / r['llama_prefill']:.2f}x | {r['tandem_decode']:.1f} | "
                  f"{r['llama_decode']:.1f} / {r['llama_decode_internal']:.1f} | "
                  f"{r['tandem_decode'] / r['llama_decode']:.2f}x / {r['tandem_decode'] / r['llama_decode_internal']:.2f}x | "
                  f"{r['greedy_common_prefix']}/{args.gen_tokens} |")
        p = result["perplexity"]
        print(f"\nPerplexity ({args.ppl_tokens} tokens of tests/data/long_text, windows of {args.ppl_window}): "
              f"tandem {p['tandem']:.4f} ({p['tandem_scored']} scored), llama.cpp {p['llama']:.4f} "
              f"({p['llama_scored']} scored)")
        p = result["perplexity_llama_cpp_scoring"]
        print(f"Perplexity, llama.cpp's scoring (second half of each window): tandem {p['tandem']:.4f} "
              f"({p['tandem_scored']} scored), llama.cpp {p['llama']:.4f} ({p['llama_scored']} scored)")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
