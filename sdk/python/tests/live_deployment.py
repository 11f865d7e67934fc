"""A real local tandem deployment for the live tests: its own config (free loopback ports, its own
log and data folders, so it never collides with another deployment on the machine), started with
`tandem up` and stopped with `tandem down`."""

from __future__ import annotations

import pathlib
import socket
import subprocess
from typing import Dict, List

SERVICES = ("target", "draft", "reward", "retrieval", "orchestrator")


def free_ports(n: int) -> List[int]:
    """n distinct loopback ports that are free right now (bound together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def config_text(name: str, workdir: pathlib.Path, ports: Dict[str, int]) -> str:
    """Every service on SmolLM2-135M (the draft is the target model: greedy speculation must give
    the target's text), one compute thread each: CI shares two cores between five processes."""
    return f"""\
name: {name}
log_dir: {workdir / 'logs'}
services:
  - name: target
    role: target
    model: smollm2-135m
    grpc_port: {ports['target']}
    threads: 1
    kv_budget_mb: 256
  - name: draft
    role: draft
    model: smollm2-135m
    grpc_port: {ports['draft']}
    threads: 1
    kv_budget_mb: 128
  - name: reward
    role: reward
    model: smollm2-135m
    grpc_port: {ports['reward']}
    threads: 1
  - name: retrieval
    role: retrieval
    model: smollm2-135m
    embedder: all-minilm-l6-v2
    data_dir: {workdir / 'retrieval'}
    grpc_port: {ports['retrieval']}
    threads: 1
  - name: orchestrator
    role: orchestrator
    model: smollm2-135m
    grpc_port: {ports['orchestrator']}
    drafter: model
    draft: draft
    target: target
    reward: reward
    retrieval: retrieval
    default_strategy: speculative
"""


class Deployment:
    """`tandem up` on construction; addresses by service name; `stop()` runs `tandem down`."""

    def __init__(self, binary: str, workdir: pathlib.Path, timeout_s: int = 300) -> None:
        self.binary = binary
        self.workdir = workdir
        ports = dict(zip(SERVICES, free_ports(len(SERVICES))))
        self.addresses = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
        self.config = workdir / "deployment.yaml"
        self.config.write_text(config_text(f"sdk-test-{ports['orchestrator']}", workdir, ports))
        up = subprocess.run([binary, "up", str(self.config), "--timeout", str(timeout_s)], capture_output=True,
                            text=True, timeout=timeout_s + 60)
        if up.returncode != 0:
            logs = self.log_tails()
            self.stop()
            raise RuntimeError(f"tandem up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}\n{logs}")

    def log_tails(self, lines: int = 20) -> str:
        out = []
        for log in sorted((self.workdir / "logs").glob("*.log")):
            out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    def stop(self) -> None:
        subprocess.run([self.binary, "down", str(self.config), "--grace", "5"], capture_output=True, timeout=120)
