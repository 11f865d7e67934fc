"""A live tandem deployment (`tandem up`) scraped by a real Prometheus on loopback, for the
end-to-end dashboard test. Ports are picked free so the test does not collide with a
deployment someone else runs on the machine."""
import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import yaml

from manifests import ROOT
from observability import RULE_FILES

PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")


def free_ports(n):
    """n distinct ports that were free a moment ago (bound to port 0, then released)."""
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


def local_config(workdir):
    """deploy/local.yaml with fresh ports, its own name and log/data folders under `workdir`."""
    with open(os.path.join(ROOT, "deploy", "local.yaml")) as f:
        config = yaml.safe_load(f)
    config["name"] = "deploy-e2e-%d" % os.getpid()
    config["log_dir"] = os.path.join(workdir, "logs")
    ports = iter(free_ports(2 * len(config["services"])))
    for s in config["services"]:
        s["grpc_port"], s["metrics_port"] = next(ports), next(ports)
        if s["role"] == "retrieval":
            s["data_dir"] = os.path.join(workdir, "retrieval")
        # Five services on a small machine: one compute thread each, not one per core each.
        s["threads"] = 1
    path = os.path.join(workdir, "deployment.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return path, config


def prometheus_config(workdir, config, scrape_interval="1s"):
    """Scrapes every service's /metrics as job="tandem" with the role and model target labels
    the Helm ServiceMonitors add in a cluster, and loads tandem's rule files."""
    targets = [{"targets": [f"127.0.0.1:{s['metrics_port']}"],
                "labels": {"role": s["role"], "model": s["model"]}} for s in config["services"]]
    prom = {"global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "rule_files": RULE_FILES,
            "scrape_configs": [{"job_name": "tandem", "static_configs": targets}]}
    path = os.path.join(workdir, "prometheus.yml")
    with open(path, "w") as f:
        yaml.safe_dump(prom, f, sort_keys=False)
    return path


class Prometheus:
    def __init__(self, workdir, config_path):
        (self.port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config_path}", f"--storage.tsdb.path={os.path.join(workdir, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}; see {self.log.name}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            time.sleep(0.5)
        raise RuntimeError(f"prometheus not ready after {timeout} s; see {self.log.name}")

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}?" + urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r)
        if body["status"] != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
