"""What the benchmark scripts record about the machine and need from it.

Shared by the benchmark scripts (they put bench/ on sys.path).
"""
import os
import socket
import subprocess
from datetime import datetime, timezone


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_model():
    """`lscpu`'s "Model name", or "" where lscpu is missing."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return ""
    return next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), "")


def loadavg():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg writes them."""
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def run_record(root, out_base, **extra):
    """A new results folder out_base/<UTC stamp> and what every run records beside its numbers: the CPU
    model, core count, load average before, tandem's commit, the stamp, plus `extra`."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = os.path.join(out_base, stamp)
    os.makedirs(out_dir, exist_ok=True)
    commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    env = dict(cpu=cpu_model(), nproc=os.cpu_count(), loadavg_before=loadavg(), commit=commit, utc=stamp)
    env.update(extra)
    return out_dir, env
