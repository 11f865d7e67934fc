"""Every example runs to completion against the fake server (the live tests run them for real)."""

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
STRATEGIES = ["target_only", "speculative", "rapid", "rsd", "cards", "best_of_n", "args", "draft_only"]


def example_args(name, orchestrator, retrieval):
    args = [sys.executable, str(EXAMPLES / f"{name}.py"), "--server", orchestrator, "--max-tokens", "8"]
    if name == "rapid":
        args += ["--retrieval", retrieval, "--collection", "sdk-example"]
    return args


def test_one_example_per_strategy():
    assert {p.stem for p in EXAMPLES.glob("*.py")} >= set(STRATEGIES)


@pytest.mark.parametrize("name", STRATEGIES + ["async_concurrent"])
def test_example_runs(fake, name):
    run = subprocess.run(example_args(name, fake.address, fake.address), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    sent = [r for r in fake.record.requests if hasattr(r, "strategy")]
    assert sent, "the example sent no generation request"
    if name in STRATEGIES:
        assert sent[0].strategy.decode() == name
    assert run.stdout.strip()
