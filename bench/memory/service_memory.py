#!/usr/bin/env python3
"""Memory of the Qwen deployment, per service (issue 16): peak resident memory and KV bytes per token
against the formula.

  .venv/bin/python bench/memory/service_memory.py [--binary build/cli/tandem] [--streams 8]

Starts the deployment load_adaptive.py uses (`tandem up`: target Qwen2.5-Coder-1.5B, draft 0.5B,
orchestrator, on free loopback ports), then:

1. idle: each service's resident set (VmRSS) after a warm-up request;
2. KV per token: one speculative request with a long prompt, the target's and the draft's
   `tandem:kv_cache_bytes` polled every 20 ms; the peak over the tokens the session then held
   (prompt + generated, from the response's stats) against 2 (K and V) x layers x KV heads x head
   dim x 2 bytes (fp16), read from each model's GGUF header. The session holds up to γ drafted
   tokens more than it keeps and the pool allocates whole pages, so the measured value may exceed the
   formula by up to (γ + page tokens) / tokens;
3. load: `--streams` concurrent speculative requests with `--load-paragraphs` prompts, then each
   service's peak resident set (VmHWM) and the peak KV bytes seen.

Writes bench/results/memory/<UTC time>/summary.json and prints a markdown table.
"""
import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "speculative"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import load_adaptive  # noqa: E402  (the deployment config and gRPC driver)
from machine import loadavg, run_record  # noqa: E402

PARAGRAPH = ("The service keeps the key and value vectors of every token a session has seen, so that a "
             "new token attends to the whole context without recomputing it. ")


def model_dir():
    return os.environ.get("TANDEM_MODEL_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tandem", "models")


def kv_formula(name):
    """Bytes of fp16 K and V per token from the GGUF header of model `name`."""
    import gguf
    reader = gguf.GGUFReader(os.path.join(model_dir(), name + ".gguf"))

    def field(key):
        f = reader.fields.get(key)
        return None if f is None else int(f.parts[f.data[0]][0])

    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    layers = field(f"{arch}.block_count")
    heads = field(f"{arch}.attention.head_count")
    kv_heads = field(f"{arch}.attention.head_count_kv") or heads
    head_dim = field(f"{arch}.attention.key_length") or field(f"{arch}.embedding_length") // heads
    return dict(layers=layers, kv_heads=kv_heads, head_dim=head_dim, bytes_per_token=2 * layers * kv_heads * head_dim * 2)


def service_pids(cfg):
    """pid of each `tandem serve ... --config cfg --service NAME` process, by NAME."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "serve" in args and cfg in args and "--service" in args:
            out[args[args.index("--service") + 1]] = int(pid)
    return out


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} missing for pid {pid}")


def gauge(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise RuntimeError(f"{name} not exported on port {port}")


class Poller:
    """Peak of tandem:kv_cache_bytes on each metrics port while running."""

    def __init__(self, ports):
        self.ports, self.peak, self.stop = ports, {n: 0.0 for n in ports}, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            for n, p in self.ports.items():
                self.peak[n] = max(self.peak[n], gauge(p, "tandem:kv_cache_bytes"))
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--target", default="qwen2.5-coder-1.5b")
    ap.add_argument("--draft", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--paragraphs", type=int, default=40, help="prompt length: copies of a ~30-token paragraph")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--load-paragraphs", type=int, default=12,
                    help="prompt length under load: the orchestrator gives a session's prefill 120 s "
                         "(OpenSession), and on 2 cores 16 concurrent 1284-token prefills (the first attempt) "
                         "exceeded it")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "memory"))
    args = ap.parse_args()

    out_dir, env = run_record(ROOT, args.out, binary=args.binary, target=args.target, draft=args.draft,
                              streams=args.streams, max_tokens=args.max_tokens)
    formula = {"target": kv_formula(args.target), "draft": kv_formula(args.draft)}

    tmp = tempfile.mkdtemp(prefix="tandem-memory-")
    cfg, ports = load_adaptive.write_config(tmp, args.target, args.draft, args.threads)
    if not load_adaptive.up(args.binary, cfg):
        return 1
    try:
        pids = service_pids(cfg)
        if set(pids) != {"target", "draft", "orchestrator"}:
            raise RuntimeError(f"found services {sorted(pids)} for {cfg}")
        # Every request gets the long prompt (distinct endings, so no two share a cache entry).
        load_adaptive.PROMPTS[:] = [PARAGRAPH * args.paragraphs + f"Note {i}." for i in range(max(args.streams, 1))]
        driver = load_adaptive.Driver(args.binary, f"127.0.0.1:{ports['orchestrator'][0]}",
                                      argparse.Namespace(temperature=0.7))
        driver.batch("spec_fixed", 1, 8)  # warm-up: both models paged in
        idle = {n: status_kib(p, "VmRSS") for n, p in pids.items()}
        kv_ports = {"target": ports["target"][1], "draft": ports["draft"][1]}

        # One long request: KV bytes per token held.
        with Poller(kv_ports) as poll:
            stats = []
            req = driver.request("spec_fixed", 0, args.max_tokens)
            for resp in driver.stub.Generate(req, timeout=1800):
                if resp.HasField("complete"):
                    stats.append(resp.complete.stats)
        if not stats:
            raise RuntimeError("the long request returned no stats")
        held = stats[0].prompt_tokens + stats[0].generated_tokens
        one = {n: dict(peak_kv_bytes=poll.peak[n], tokens=held, bytes_per_token=poll.peak[n] / held,
                       formula_bytes_per_token=formula[n]["bytes_per_token"],
                       ratio=poll.peak[n] / held / formula[n]["bytes_per_token"]) for n in kv_ports}

        # Load: many sessions at once, shorter prompts.
        load_adaptive.PROMPTS[:] = [PARAGRAPH * args.load_paragraphs + f"Load {i}." for i in range(max(args.streams, 1))]
        with Poller(kv_ports) as poll:
            recs = driver.batch("spec_fixed", args.streams, args.max_tokens)
        errors = [r["error"] for r in recs if r["error"]]
        if errors:
            raise RuntimeError(f"requests failed: {errors[:2]}")
        peak = {n: status_kib(p, "VmHWM") for n, p in pids.items()}
        budget = {n: gauge(p, "tandem:kv_cache_budget_bytes") for n, p in kv_ports.items()}
        loaded_kv = dict(poll.peak)
    finally:
        load_adaptive.down(args.binary, cfg)

    env["loadavg_after"] = loadavg()
    summary = dict(env=env, formula=formula, idle_rss_kib=idle, peak_rss_kib=peak, kv_one_request=one,
                   kv_peak_bytes_under_load=loaded_kv, kv_budget_bytes=budget, prompt_tokens=stats[0].prompt_tokens)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)

    print(f"{env['cpu']}, {env['nproc']} cores, load {' '.join(env['loadavg_before'])} -> "
          f"{' '.join(env['loadavg_after'])}; {args.target} <- {args.draft}, prompt {stats[0].prompt_tokens} tokens, "
          f"{args.max_tokens} generated, {args.streams} streams for the peak")
    print("| service | RSS idle (MiB) | peak RSS, {} streams (MiB) | peak KV in use (MiB) | KV budget (MiB) | "
          "KV bytes / token held (one request) | formula | ratio |".format(args.streams))
    print("|---|---|---|---|---|---|---|---|")
    for n in ("target", "draft", "orchestrator"):
        kv = one.get(n)
        print(f"| {n} | {idle[n] / 1024:.0f} | {peak[n] / 1024:.0f} | "
              f"{loaded_kv[n] / 2**20:.1f} | {budget[n] / 2**20:.0f} | " if n in loaded_kv else
              f"| {n} | {idle[n] / 1024:.0f} | {peak[n] / 1024:.0f} | - | - | ", end="")
        print(f"{kv['bytes_per_token']:.0f} ({kv['tokens']} tokens) | {kv['formula_bytes_per_token']} | "
              f"{kv['ratio']:.3f} |" if kv else "- | - | - |")
    print(f"raw: {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
