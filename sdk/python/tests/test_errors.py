"""Typed errors, deadlines, cancellation and retries against the fake server."""

import socket
import time

import grpc
import pytest

import tandem
from conftest import FAST_RETRY


def test_invalid_argument_is_typed_and_carries_the_message(client):
    with pytest.raises(tandem.InvalidArgument) as info:
        client.generate("x", strategy="bogus", stream=False)
    err = info.value
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.message == "strategy: unknown strategy 'bogus' (known: target_only, speculative)"
    assert err.method == "/tandem.v1.Generation/Generate"
    assert isinstance(err, ValueError) and isinstance(err, tandem.TandemError)
    assert "INVALID_ARGUMENT" in str(err) and "bogus" in str(err)


def test_error_raised_while_iterating(client):
    stream = client.generate("x", gamma=0)
    with pytest.raises(tandem.InvalidArgument, match="gamma: must be in"):
        next(stream)


@pytest.mark.parametrize("call, error", [
    (lambda c: c.collection_stats("missing"), tandem.NotFound),
    (lambda c: c.delete_collection("missing"), tandem.NotFound),
    (lambda c: c.create_collection(".hidden"), tandem.InvalidArgument),
    (lambda c: c.score("p", []), tandem.InvalidArgument),
])
def test_status_codes_map_to_classes(client, call, error):
    with pytest.raises(error):
        call(client)


def test_already_exists(client):
    client.create_collection("docs")
    with pytest.raises(tandem.AlreadyExists, match="collection 'docs' exists"):
        client.create_collection("docs")


def test_every_code_has_its_class():
    for code in grpc.StatusCode:
        if code == grpc.StatusCode.OK:
            continue
        err = tandem.errors.error_for_code(code, "m")
        assert err.code == code
        assert type(err).__name__ != "TandemError"
    assert isinstance(tandem.errors.error_for_code(grpc.StatusCode.DEADLINE_EXCEEDED, ""), TimeoutError)
    assert isinstance(tandem.errors.error_for_code(grpc.StatusCode.UNAVAILABLE, ""), ConnectionError)


def test_deadline_exceeded_and_the_server_sees_it(client, fake):
    fake.behaviour.chunk_delay_s = 0.2
    start = time.monotonic()
    with pytest.raises(tandem.DeadlineExceeded):
        client.generate("a b c d e f g h", timeout=0.3, stream=False)
    assert time.monotonic() - start < 2
    assert fake.record.cancelled.wait(5), "the server never noticed the expired deadline"


def test_client_default_timeout_applies(fake):
    fake.behaviour.chunk_delay_s = 0.2
    with tandem.Client(fake.address, timeout=0.3) as c:
        with pytest.raises(tandem.DeadlineExceeded):
            c.generate("a b c d e f g h", stream=False)
        fake.behaviour.chunk_delay_s = 0.0
        assert c.generate("a b", stream=False, timeout=5).text == "a b \u2026"  # per-call timeout wins


def test_closing_the_stream_cancels_the_call_on_the_server(client, fake):
    fake.behaviour.chunk_delay_s = 0.1
    stream = client.generate("a b c d e f g h i j k l m n o p")
    first = next(stream)
    assert first.text == "a "
    assert stream.close() is True
    assert fake.record.cancelled.wait(5), "the server never saw the cancellation"
    assert list(stream) == []  # a closed stream ends


def test_with_block_cancels(client, fake):
    fake.behaviour.chunk_delay_s = 0.1
    with client.generate("a b c d e f g h i j k l m n o p") as stream:
        next(stream)
    assert fake.record.cancelled.wait(5)


def test_dropping_the_stream_cancels(client, fake):
    fake.behaviour.chunk_delay_s = 0.1
    stream = client.generate("a b c d e f g h i j k l m n o p")
    next(stream)
    del stream
    assert fake.record.cancelled.wait(5)


def test_unavailable_is_retried_for_safe_calls(client, fake):
    fake.behaviour.unavailable_first = {"Generate": 2, "GetInfo": 3, "Search": 1}
    assert client.generate("a b", stream=False).text == "a b \u2026"
    assert fake.record.attempts["Generate"] == 3
    assert client.info().version == "0.1.0"
    assert fake.record.attempts["GetInfo"] == 4
    client.create_collection("docs")
    assert client.search("x", collection="docs").hits == ()
    assert fake.record.attempts["Search"] == 2


def test_retries_give_up_after_max_attempts(client, fake):
    fake.behaviour.unavailable_first = {"GetInfo": 10}
    with pytest.raises(tandem.Unavailable, match="backend restarting"):
        client.info()
    assert fake.record.attempts["GetInfo"] == FAST_RETRY.max_attempts


def test_unsafe_calls_are_not_retried(client, fake):
    fake.behaviour.unavailable_first = {"CreateCollection": 1}
    with pytest.raises(tandem.Unavailable):
        client.create_collection("docs")
    assert fake.record.attempts["CreateCollection"] == 1


def test_generate_is_not_retried_after_output_arrived(client, fake):
    fake.behaviour.unavailable_after_first_chunk = True
    stream = client.generate("a b c")
    assert next(stream).text == "a "
    with pytest.raises(tandem.Unavailable, match="mid-stream"):
        next(stream)
    assert fake.record.attempts["Generate"] == 1


def test_retry_can_be_disabled(fake):
    fake.behaviour.unavailable_first = {"GetInfo": 1}
    with tandem.Client(fake.address, retry=None) as c:
        with pytest.raises(tandem.Unavailable):
            c.info()
    assert fake.record.attempts["GetInfo"] == 1


def test_no_server_is_unavailable():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tandem.Client(f"127.0.0.1:{port}", retry=FAST_RETRY, timeout=10) as c:
        with pytest.raises(tandem.Unavailable):
            c.models()


def test_retry_policy_validation():
    with pytest.raises(ValueError, match="max_attempts"):
        tandem.RetryPolicy(max_attempts=6)
    with pytest.raises(ValueError, match="backoff"):
        tandem.RetryPolicy(initial_backoff_s=0)
