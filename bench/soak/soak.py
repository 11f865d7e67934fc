#!/usr/bin/env python3
"""Soak benchmark: many concurrent streams against a loopback deployment for a long time.

Starts `tandem up` (target, draft, reward and retrieval services and the orchestrator, all on the
bundled SmolLM2-135M, free loopback ports), then keeps --streams Generate streams running for
--minutes with mixed strategies (target_only, speculative with the model and the n-gram drafter,
rapid on a long context, best_of_n and cards on the reward service) and cancels a random share of
them mid-stream. It records every outcome and samples each service's resident memory (RSS).

Pass criteria (issue 14): 0 unexpected errors (anything but the cancellations this script makes and
RESOURCE_EXHAUSTED from admission control) and RSS growth below 5 % per service between the
warm-up's end and the run's end, not counting the growth of the KV pool's high-water mark. Why that
is not counted: the draft and target services map their whole KV budget (kv_budget_mb) at start and
the OS commits a page on first touch; the pool hands out the most recently freed page first, so its
committed memory is the most pages ever in use at once, which rises (towards the budget, never past
it) whenever a new peak of concurrent context occurs, long after warm-up. That is the budget being
used, not a leak. The script samples each model service's tandem:kv_cache_bytes every second, and
reports the raw growth beside the growth net of the high-water mark's rise (a sampled maximum can
only miss a peak, so the net figure is an upper bound on the rest).
RSS at either end is the median of the samples in a minute (just after warm-up; the last minute of
load), so one sample taken mid-request does not decide it. The orchestrator admits 8 requests at once and queues the rest
(max_running_requests / max_queued_requests): on a small CPU, running all 64 at once would make
single target calls wait past their 30 s call deadline, which is overload, not a fault. Writes bench/results/soak/<UTC timestamp>/{summary.json,outcomes.jsonl}
and prints the summary; exits 1 when a criterion fails.

Usage: bench/soak/soak.py [--binary build/cli/tandem] [--streams 64] [--minutes 10]
       [--cancel-share 0.2] [--max-tokens 48]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from machine import cpu_model, free_port  # noqa: E402

STRATEGIES = [
    ("target_only", {}),
    ("speculative", {"drafter": "model"}),
    ("speculative", {"drafter": "ngram"}),
    ("rapid", {"l_min": "256"}),
    ("best_of_n", {"n": "2", "reward": "length", "reward_options": "max=64"}),
    ("cards", {"reward": "length", "reward_options": "max=64", "r_star": "-inf"}),
]
PROMPTS = ["Write a short poem about the sea.", "List three prime numbers and explain why they are prime.",
           "def fibonacci(n):", "Explain what a hash map is.", "1, 2, 3, 4, 5,"]
EXPECTED_CODES = {"CANCELLED", "RESOURCE_EXHAUSTED"}


def config(tmp):
    ports = {n: (free_port(), free_port()) for n in ("orchestrator", "target", "draft", "reward", "retrieval")}
    lines = ["name: soak", f"log_dir: {tmp}/logs", "services:"]

    def entry(name, role, extra=""):
        g, m = ports[name]
        lines.append(f"  - {{name: {name}, role: {role}, host: 127.0.0.1, grpc_port: {g}, metrics_port: {m}{extra}}}")

    entry("target", "target", ", model: smollm2-135m, threads: 1, kv_budget_mb: 1024, max_sessions: 512")
    entry("draft", "draft", ", model: smollm2-135m, threads: 1, kv_budget_mb: 512, max_sessions: 512")
    entry("reward", "reward", ", model: smollm2-135m, threads: 1")
    entry("retrieval", "retrieval", ", model: smollm2-135m, embedder: all-minilm-l6-v2, threads: 1")
    entry("orchestrator", "orchestrator", ", model: smollm2-135m, drafter: model, draft: draft, target: target, "
          "reward: reward, retrieval: retrieval, max_running_requests: 8, max_queued_requests: 128, "
          "queue_timeout_s: 600")
    path = os.path.join(tmp, "soak.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, ports


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def kv_cache_bytes(metrics_port):
    """The service's tandem:kv_cache_bytes gauge (KV pages in use), or None."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("tandem:kv_cache_bytes ") or line.startswith("tandem:kv_cache_bytes{"):
            return float(line.rsplit(" ", 1)[1])
    return None


class KvHighWater:
    """Samples the model services' KV bytes in use every second; keeps each one's maximum so far."""

    def __init__(self, metrics_ports):
        self.ports = metrics_ports
        self.peak = {name: 0.0 for name in metrics_ports}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(1.0):
            for name, port in self.ports.items():
                v = kv_cache_bytes(port)
                if v is not None:
                    with self.lock:
                        self.peak[name] = max(self.peak[name], v)

    def snapshot(self):
        with self.lock:
            return dict(self.peak)


def median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def service_pids(log_dir):
    """`tandem up` writes NAME.pid beside NAME.log in the config's log_dir."""
    pids = {}
    for name in os.listdir(log_dir):
        if name.endswith(".pid"):
            with open(os.path.join(log_dir, name)) as f:
                pids[name[:-4]] = int(f.read().strip())
    return pids


class Soak:
    def __init__(self, args, address, context):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(args.binary)), "python"))
        import grpc
        from tandem.v1 import common_pb2, generation_pb2, generation_pb2_grpc
        self.grpc, self.common_pb2, self.generation_pb2 = grpc, common_pb2, generation_pb2
        self.channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])
        self.stub = generation_pb2_grpc.GenerationStub(self.channel)
        self.args, self.context = args, context
        self.lock = threading.Lock()
        self.outcomes = []
        self.stop_at = 0.0

    def one(self, rng, worker, n):
        strategy, params = rng.choice(STRATEGIES)
        req = self.generation_pb2.GenerateRequest(
            request_id=f"soak-{worker}-{n}".encode(), prompt=rng.choice(PROMPTS).encode(), strategy=strategy.encode(),
            max_tokens=self.args.max_tokens,
            sampling=self.common_pb2.SamplingParams(temperature=rng.choice([0.0, 0.7]), seed=rng.randrange(1 << 30)))
        for k, v in params.items():
            req.params[k] = v.encode()
        if strategy == "rapid":
            req.context = self.context.encode()
        cancel_after = rng.randint(1, 4) if rng.random() < self.args.cancel_share else None
        t0 = time.time()
        chunks, code, detail, finish = 0, "OK", "", ""
        call = self.stub.Generate(req, timeout=600)
        try:
            for resp in call:
                if resp.HasField("chunk"):
                    chunks += 1
                    if cancel_after is not None and chunks >= cancel_after:
                        call.cancel()
                elif resp.HasField("complete"):
                    finish = self.common_pb2.FinishReason.Name(resp.complete.finish_reason)
        except self.grpc.RpcError as e:
            code, detail = e.code().name, (e.details() or "")[:300]
        expected = code == "OK" or (code == "CANCELLED" and cancel_after is not None) or code == "RESOURCE_EXHAUSTED"
        if not expected:
            print(f"[soak] unexpected: {strategy} {params}: {code} {detail}", flush=True)
        with self.lock:
            self.outcomes.append(dict(worker=worker, n=n, strategy=strategy, params=params, code=code, detail=detail,
                                      finish=finish, chunks=chunks, cancelled_by_client=cancel_after is not None,
                                      expected=expected, seconds=round(time.time() - t0, 3)))

    def worker(self, worker):
        rng = random.Random(1000 + worker)
        n = 0
        while time.time() < self.stop_at:
            self.one(rng, worker, n)
            n += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--warmup-s", type=float, default=120, help="RSS baseline is taken after this")
    ap.add_argument("--cancel-share", type=float, default=0.2)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "soak"))
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)

    tmp = tempfile.mkdtemp(prefix="tandem-soak-")
    path, ports = config(tmp)
    env = dict(os.environ, TANDEM_STATE_DIR=os.path.join(tmp, "state"))
    up = subprocess.run([args.binary, "up", path, "--timeout", "600"], capture_output=True, text=True, env=env)
    if up.returncode != 0:
        sys.exit(f"tandem up failed: {up.stderr[-2000:]}")
    # RAPID's long context: the repository's generated long text (tests/data/long_text).
    with open(os.path.join(ROOT, "tests", "data", "long_text", "gsm8k_questions_01.txt"), encoding="utf-8") as f:
        context = f.read()[:6000]
    soak = Soak(args, f"127.0.0.1:{ports['orchestrator'][0]}", context)
    pids = service_pids(os.path.join(tmp, "logs"))
    start = time.time()
    soak.stop_at = start + args.minutes * 60
    threads = [threading.Thread(target=soak.worker, args=(w,), daemon=True) for w in range(args.streams)]
    for t in threads:
        t.start()
    kv = KvHighWater({name: ports[name][1] for name in ("target", "draft")})
    samples = []
    while time.time() < soak.stop_at:
        time.sleep(5)
        sample = {name: rss_kb(pid) for name, pid in pids.items()}
        samples.append(dict(t=round(time.time() - start, 1), rss_kb=sample,
                            kv_peak_kb={k: v / 1024 for k, v in kv.snapshot().items()}))
        with soak.lock:
            done = len(soak.outcomes)
            bad = sum(1 for o in soak.outcomes if not o["expected"])
        print(f"[soak] {time.time() - start:6.0f} s: {done} requests, {bad} unexpected errors, rss "
              + ", ".join(f"{k}={v // 1024 if v else '?'}MB" for k, v in sorted(sample.items())), flush=True)
    for t in threads:
        t.join(timeout=660)
    kv.stop.set()
    subprocess.run([args.binary, "down", path], capture_output=True, env=env)

    outcomes = soak.outcomes
    # Both ends: medians over a minute (the first after warm-up, the last of the load).
    first = [s for s in samples if args.warmup_s <= s["t"] < args.warmup_s + 60]
    last = [s for s in samples if s["t"] >= samples[-1]["t"] - 60] if samples else []
    baseline = {name: median(s["rss_kb"].get(name) for s in first) for name in pids} if first else None
    end = {name: median(s["rss_kb"].get(name) for s in last) for name in pids} if last else None
    growth, kv_rise_kb, net_growth = {}, {}, {}
    for name in pids:
        if not (baseline and end and baseline.get(name) and end.get(name)):
            continue
        growth[name] = (end[name] - baseline[name]) / baseline[name]
        rise = 0.0
        if name in kv.ports:
            rise = max(0.0, last[-1]["kv_peak_kb"].get(name, 0) - first[0]["kv_peak_kb"].get(name, 0))
        kv_rise_kb[name] = round(rise)
        net_growth[name] = (end[name] - rise - baseline[name]) / baseline[name]
    unexpected = [o for o in outcomes if not o["expected"]]
    by_code = {}
    for o in outcomes:
        by_code[o["code"]] = by_code.get(o["code"], 0) + 1
    summary = dict(streams=args.streams, minutes=args.minutes, requests=len(outcomes), by_code=by_code,
                   unexpected_errors=len(unexpected), unexpected_examples=unexpected[:5],
                   client_cancellations=sum(o["cancelled_by_client"] for o in outcomes),
                   rss_baseline_kb=baseline, rss_end_kb=end, rss_growth=growth,
                   kv_high_water_rise_kb=kv_rise_kb, rss_growth_net_of_kv_high_water=net_growth,
                   warmup_s=args.warmup_s, cpu=cpu_model(), cores=os.cpu_count(), load_avg_end=os.getloadavg(),
                   passed=not unexpected and bool(net_growth) and all(g < 0.05 for g in net_growth.values()))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = os.path.join(args.out, stamp)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(dict(summary, rss_samples=samples), f, indent=1)
    with open(os.path.join(out, "outcomes.jsonl"), "w") as f:
        for o in outcomes:
            f.write(json.dumps(o) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"[soak] results in {out}")
    sys.exit(0 if summary["passed"] else 1)


if __name__ == "__main__":
    main()
