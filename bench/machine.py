"""What the benchmark scripts record about the machine and need from it.

Shared by bench/soak/soak.py and bench/speculative/load_adaptive.py (they put bench/ on sys.path).
"""
import socket
import subprocess


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
