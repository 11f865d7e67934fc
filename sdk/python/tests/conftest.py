"""Fixtures: the in-process fake server, and the tandem binary for the live tests."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # fake_server, live_deployment

from fake_server import FakeServer  # noqa: E402

import tandem  # noqa: E402

# Retries in unit tests: real backoff, kept short so that a test waits well under a second.
FAST_RETRY = tandem.RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.05)


def pytest_addoption(parser):
    parser.addoption("--tandem-bin", default=os.environ.get("TANDEM_BIN", ""),
                     help="path of the tandem binary; the live tests start a deployment with it (else they skip)")


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.stop()


@pytest.fixture
def client(fake):
    with tandem.Client(fake.address, retry=FAST_RETRY) as c:
        yield c
