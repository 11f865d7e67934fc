"""Bearer token metadata and TLS, against a fake server that checks them."""

import asyncio
import shutil
import subprocess

import pytest

import tandem
from fake_server import FakeServer


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory):
    """A self-signed certificate for "localhost" (openssl is always there: ca-certificates needs it)."""
    openssl = shutil.which("openssl")
    assert openssl, "openssl not found (Debian: apt-get install openssl)"
    d = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(d / "key.pem"), "-out",
                    str(d / "cert.pem")], check=True, capture_output=True)
    return (d / "key.pem").read_bytes(), (d / "cert.pem").read_bytes()


def test_token_is_sent_as_bearer_metadata(fake):
    fake.behaviour.required_token = "s3cret"
    with tandem.Client(fake.address, token="s3cret") as c:
        assert c.generate("a", stream=False).text == "a \u2026"
        c.score("q", "r")
    assert all(m.get("authorization") == "Bearer s3cret" for m in fake.record.metadata)


def test_wrong_or_missing_token_is_unauthenticated(fake):
    fake.behaviour.required_token = "s3cret"
    with tandem.Client(fake.address, token="wrong") as c:
        with pytest.raises(tandem.Unauthenticated, match="bearer token"):
            c.info()
    with tandem.Client(fake.address) as c:
        with pytest.raises(tandem.Unauthenticated):
            c.generate("a", stream=False)


def test_async_token(fake):
    fake.behaviour.required_token = "s3cret"

    async def main():
        async with tandem.AsyncClient(fake.address, token="s3cret") as c:
            return await c.generate("b", stream=False)

    assert asyncio.run(main()).text == "b \u2026"


def test_tls_with_custom_roots(key_pair):
    key, cert = key_pair
    server = FakeServer(tls_key_pair=(key, cert))
    server.behaviour.required_token = "t"
    try:
        with tandem.Client(f"localhost:{server.port}", tls=tandem.TLS(root_certificates=cert), token="t") as c:
            assert c.generate("secure", stream=False).text == "secure \u2026"
        # By IP, the certificate's name is given explicitly.
        with tandem.Client(server.address, tls=tandem.TLS(root_certificates=cert, server_name="localhost"),
                           token="t") as c:
            assert c.models().models[0].name == "smollm2-135m"
        # A plaintext client cannot talk to a TLS server.
        with tandem.Client(server.address, token="t", retry=None, timeout=5) as c:
            with pytest.raises(tandem.Unavailable):
                c.info()
    finally:
        server.stop()


def test_tls_rejects_an_untrusted_server(key_pair):
    key, cert = key_pair
    server = FakeServer(tls_key_pair=(key, cert))
    try:
        # System roots do not trust the self-signed certificate.
        with tandem.Client(f"localhost:{server.port}", tls=True, retry=None, timeout=5) as c:
            with pytest.raises(tandem.Unavailable):
                c.info()
        assert "GetInfo" not in server.record.attempts
    finally:
        server.stop()


def test_bad_tls_argument():
    with pytest.raises(TypeError, match="tls"):
        tandem.Client("127.0.0.1:1", tls="yes")
