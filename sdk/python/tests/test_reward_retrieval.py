"""score / score_steps and retrieval collections against the fake server."""

import threading

import pytest

import tandem
from fake_server import FakeServer


def test_score_batches_responses(client, fake):
    result = client.score("What is 2+2?", ["4", "four"], reference="4", backend="math", options={"tolerance": 0.5})
    assert result == tandem.ScoreResult(scores=(1.0, 4.0), backend="math")
    req = fake.record.requests[-1]
    assert [(i.prompt, i.response, i.reference) for i in req.items] == [
        ("What is 2+2?", "4", "4"), ("What is 2+2?", "four", "4")]
    assert dict(req.spec.options) == {"tolerance": "0.5"}


def test_score_single_response_and_default_backend(client):
    assert client.score("q", "abc") == tandem.ScoreResult(scores=(3.0,), backend="length")


def test_score_steps_and_backends(client):
    assert client.score_steps("q", ["s1", "s2"]).scores == (1.0, 0.5)
    backends = client.reward_backends()
    assert backends[0] == tandem.RewardBackend(name="judge", supports_steps=True, is_default=True)


def test_separate_reward_and_retrieval_addresses():
    generation, services = FakeServer(), FakeServer()
    try:
        with tandem.Client(generation.address, reward_address=services.address,
                           retrieval_address=services.address) as c:
            c.score("q", "r")
            c.list_collections()
            c.models()
        assert set(services.record.attempts) == {"Score", "ListCollections"}
        assert set(generation.record.attempts) == {"ListModels"}
    finally:
        generation.stop()
        services.stop()


def test_collection_round_trip(client, fake):
    created = client.create_collection("docs", chunk_tokens=64)
    assert created.name == "docs" and created.documents == 0
    assert fake.record.requests[-1].chunk_tokens == 64
    progress = []
    stats = client.ingest("docs", ["the cat sat on the mat", ("dogs", "dogs bark at night"),
                                   tandem.Document(text="cats purr", id="purr")],
                          on_progress=progress.append, batch_documents=2)
    assert stats.documents == 3
    # One report per message of documents, then the commit's (a message of its own).
    assert [p.documents for p in progress] == [2, 3, 3]
    assert [p.committed for p in progress] == [False, False, True] and progress[-1].stats == stats
    assert set(fake.retrieval.collections["docs"]) == {"doc-0", "dogs", "purr"}
    result = client.search("dogs night", collection="docs", top_k=2, mode="bm25")
    assert result.hits[0].text == "dogs bark at night" and result.hits[0].document_id == "dogs"
    assert result.hits[0].score == 2.0 and result.total_chunks == 3 and len(result.hits) == 2
    assert fake.record.requests[-1].mode == tandem._requests.retrieval_pb2.SEARCH_MODE_BM25
    assert [c.name for c in client.list_collections()] == ["docs"]
    assert client.collection_stats("docs").documents == 3
    client.delete_collection("docs")
    with pytest.raises(tandem.NotFound):
        client.collection_stats("docs")


def test_large_documents_go_in_parts(client, fake):
    client.create_collection("big")
    text = "\u00e9t\u00e9 " * 1000  # multi-byte characters: parts must not split them
    client.ingest("big", [("long", text)], batch_bytes=1000)
    parts = [d for r in fake.record.requests if hasattr(r, "documents") for d in r.documents]
    assert len(parts) > 5 and all(len(p.text) <= 1000 for p in parts)
    assert [p.partial for p in parts] == [True] * (len(parts) - 1) + [False]
    assert fake.retrieval.collections["big"]["long"] == text


def test_failed_ingest_commits_nothing(client, fake):
    client.create_collection("docs")
    with pytest.raises(tandem.InvalidArgument, match=r"documents\[1\].text"):
        client.ingest("docs", ["fine", "FAIL here", "never sent"], batch_documents=1)
    assert fake.retrieval.collections["docs"] == {}


def test_error_in_progress_callback_cancels_the_ingest(client, fake):
    client.create_collection("docs")
    release = threading.Event()

    def documents():
        yield "a"
        yield "b"
        release.wait(10)  # hold the commit back until the client has given up
        yield "c"

    def explode(_progress):
        raise RuntimeError("callback failed")

    try:
        with pytest.raises(RuntimeError, match="callback failed"):
            client.ingest("docs", documents(), batch_documents=1, on_progress=explode)
    finally:
        release.set()
    assert fake.retrieval.collections["docs"] == {}


def test_a_refused_first_report_commits_nothing(client, fake):
    # Both documents fit one message: the commit used to ride along with them, so the server had
    # committed before on_progress saw its first report. Now the commit waits for that report.
    client.create_collection("docs")

    def refuse(progress):
        if not progress.committed:
            raise RuntimeError("not these")

    with pytest.raises(RuntimeError, match="not these"):
        client.ingest("docs", ["a", "b"], on_progress=refuse)
    assert fake.retrieval.collections["docs"] == {}
    reports = []
    stats = client.ingest("docs", ["a", "b"], on_progress=reports.append)
    assert stats.documents == 2 and [r.committed for r in reports] == [False, True]


def test_a_bad_document_raises_its_own_error_and_commits_nothing(client, fake):
    client.create_collection("docs")
    with pytest.raises(TypeError, match="expected Document"):
        client.ingest("docs", ["fine", b"bytes are not text"], batch_documents=1)
    assert fake.retrieval.collections["docs"] == {}

    def failing_reader():
        yield "first"
        raise FileNotFoundError("missing.txt")

    with pytest.raises(FileNotFoundError, match="missing.txt"):
        client.ingest("docs", failing_reader())
    assert fake.retrieval.collections["docs"] == {}


def test_search_inline_context(client, fake):
    result = client.search("secret code", context="intro\n\nthe secret code is 42\n\noutro", top_k=1,
                           chunk_tokens=32, min_score=1.0)
    assert [h.text for h in result.hits] == ["the secret code is 42"]
    req = fake.record.requests[-1]
    assert req.context.chunk_tokens == 32 and req.min_score == 1.0


def test_search_argument_errors(client):
    with pytest.raises(TypeError, match="exactly one"):
        client.search("q")
    with pytest.raises(ValueError, match="mode must be one of"):
        client.search("q", collection="c", mode="fuzzy")
