#!/usr/bin/env python3
"""Served aggregate throughput, tandem vs llama.cpp's llama-server (issue 16, "Serving under load").

One run on one machine, the same target GGUF, the same prompts, sampling and token counts:
  tandem        a loopback deployment (`tandem up`: target, draft and orchestrator services, the
                config of bench/speculative/load_adaptive.py), target-only Generate streams over gRPC
  llama-server  built from the pinned llama.cpp source (bench/build_llama_cpp.sh), `-np SLOTS`
                (parallel sequences, continuous batching), POST /completion over HTTP
For each concurrency C, C requests start at once; aggregate = generated tokens / wall time (first
start to last finish). Every request generates exactly --max-tokens tokens (ignore_eos on both) at
--temperature with a fixed seed. The two engines alternate per pass (order reversed on every other
pass); the summary takes the median over passes.

Writes bench/results/serving/<UTC stamp>/{requests.jsonl,summary.json,env.json} and prints a
markdown table with the CPU model.

Usage: .venv/bin/python bench/serving/compare_llama_server.py [--concurrency 1 4 16] [--passes 2]
       [--max-tokens 64] [--temperature 0.7] [--threads 2] [--slots 16]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "bench", "speculative"))
import load_adaptive  # noqa: E402  (deployment config, gRPC driver, prompts)
from machine import free_port, loadavg, run_record  # noqa: E402


def model_path(name):
    d = os.environ.get("TANDEM_MODEL_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tandem", "models")
    return os.path.join(d, name + ".gguf")


class LlamaServer:
    def __init__(self, binary, model, threads, slots, ctx_per_slot, log_path):
        self.port = free_port()
        self.log = open(log_path, "w")
        # -c is the total context, split evenly over the slots.
        self.proc = subprocess.Popen(
            [binary, "-m", model, "--host", "127.0.0.1", "--port", str(self.port), "-t", str(threads),
             "-tb", str(threads), "-np", str(slots), "-c", str(slots * ctx_per_slot), "--no-webui"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.proc.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"llama-server not healthy after 300 s; see {log_path}")

    def one(self, index, max_tokens, temperature, out):
        body = json.dumps(dict(prompt=load_adaptive.PROMPTS[index % len(load_adaptive.PROMPTS)], n_predict=max_tokens,
                               temperature=temperature, seed=1000 + index, ignore_eos=True,
                               cache_prompt=False)).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/completion", data=body,
                                     headers={"Content-Type": "application/json"})
        t0, tokens, error = time.time(), 0, ""
        try:
            with urllib.request.urlopen(req, timeout=1800) as r:
                tokens = int(json.load(r).get("tokens_predicted", 0))
        except (urllib.error.URLError, OSError, ValueError) as e:
            error = str(e)[:200]
        out.append(dict(engine="llama-server", index=index, tokens=tokens, start=t0, end=time.time(), error=error))

    def batch(self, concurrency, max_tokens, temperature):
        out = []
        threads = [threading.Thread(target=self.one, args=(i, max_tokens, temperature, out)) for i in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def aggregate(recs):
    errors = [r["error"] for r in recs if r["error"]]
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed: {errors[:2]}")
    wall = max(r["end"] for r in recs) - min(r["start"] for r in recs)
    return sum(r["tokens"] for r in recs) / wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--llama-server", default=os.path.join(os.environ.get("LLAMA_BUILD_DIR", os.path.join(ROOT, "build-llama")),
                                                           "build", "bin", "llama-server"))
    ap.add_argument("--target", default="qwen2.5-coder-1.5b")
    ap.add_argument("--draft", default="qwen2.5-coder-0.5b", help="started by the deployment, idle in target-only")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--slots", type=int, default=16, help="llama-server -np")
    ap.add_argument("--ctx-per-slot", type=int, default=512)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "serving"))
    args = ap.parse_args()
    if not os.access(args.llama_server, os.X_OK):
        sys.exit(f"{args.llama_server} missing: run bench/build_llama_cpp.sh")
    if max(args.concurrency) > args.slots:
        sys.exit("--concurrency above --slots would queue inside llama-server")

    out_dir, env = run_record(ROOT, args.out, target=args.target, threads=args.threads, slots=args.slots,
                              max_tokens=args.max_tokens, temperature=args.temperature,
                              concurrency=args.concurrency, passes=args.passes)
    commit = env["commit"][:7]

    tmp = tempfile.mkdtemp(prefix="tandem-serving-")
    cfg, ports = load_adaptive.write_config(tmp, args.target, args.draft, args.threads)
    if not load_adaptive.up(args.binary, cfg):
        return 1
    server = None
    recs = []
    try:
        server = LlamaServer(args.llama_server, model_path(args.target), args.threads, args.slots, args.ctx_per_slot,
                             os.path.join(out_dir, "llama-server.log"))
        driver = load_adaptive.Driver(args.binary, f"127.0.0.1:{ports['orchestrator'][0]}",
                                      argparse.Namespace(temperature=args.temperature))
        # Warm-up: both engines' weights paged in.
        driver.batch("target_only", 1, 8)
        server.batch(1, 8, args.temperature)
        for p in range(args.passes):
            engines = ["tandem", "llama-server"] if p % 2 == 0 else ["llama-server", "tandem"]
            for c in args.concurrency:
                for e in engines:
                    if e == "tandem":
                        batch = driver.batch("target_only", c, args.max_tokens)
                        for r in batch:
                            r["engine"] = "tandem"
                    else:
                        batch = server.batch(c, args.max_tokens, args.temperature)
                    rate = aggregate(batch)
                    for r in batch:
                        r.update(p=p, concurrency=c)
                    recs.extend(batch)
                    print(f"pass {p} C={c} {e}: {rate:.2f} tok/s", file=sys.stderr, flush=True)
    finally:
        if server is not None:
            server.close()
        load_adaptive.down(args.binary, cfg)
    env["loadavg_after"] = loadavg()

    with open(os.path.join(out_dir, "requests.jsonl"), "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    summary = {}
    for c in args.concurrency:
        row = {}
        for e in ("tandem", "llama-server"):
            rates = [aggregate([r for r in recs if r["engine"] == e and r["concurrency"] == c and r["p"] == p])
                     for p in range(args.passes)]
            row[e] = dict(passes=rates, median=statistics.median(rates))
        row["ratio"] = row["tandem"]["median"] / row["llama-server"]["median"]
        summary[str(c)] = row
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out_dir, "env.json"), "w") as f:
        json.dump(env, f, indent=1)

    print(f"{env['cpu']}, {env['nproc']} cores, load {' '.join(env['loadavg_before'])} -> "
          f"{' '.join(env['loadavg_after'])}; tandem {commit}; {args.target}, target-only, T={args.temperature}, "
          f"{args.max_tokens} tokens per request, llama-server -np {args.slots}, {args.threads} threads each; "
          f"median of {args.passes} passes")
    print("| streams | tandem (tok/s) | llama-server (tok/s) | tandem / llama-server |")
    print("|---|---|---|---|")
    for c in args.concurrency:
        row = summary[str(c)]
        print(f"| {c} | {row['tandem']['median']:.1f} | {row['llama-server']['median']:.1f} | {row['ratio']:.2f}x |")
    one = summary[str(min(args.concurrency))]
    top = summary[str(max(args.concurrency))]
    print(f"{max(args.concurrency)} streams / {min(args.concurrency)}: tandem "
          f"{top['tandem']['median'] / one['tandem']['median']:.2f}x, llama-server "
          f"{top['llama-server']['median'] / one['llama-server']['median']:.2f}x")
    print(f"raw: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
