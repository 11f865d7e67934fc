"""AsyncClient against the fake server: the same surface as Client, as coroutines."""

import asyncio

import pytest

import tandem
from conftest import FAST_RETRY


def run(coro_fn, fake, **client_kwargs):
    """Runs coro_fn(client) on a fresh event loop with an AsyncClient of the fake server."""
    async def main():
        async with tandem.AsyncClient(fake.address, retry=FAST_RETRY, **client_kwargs) as c:
            return await coro_fn(c)
    return asyncio.run(main())


def test_streaming_and_result(fake):
    async def body(c):
        stream = await c.generate("one two", strategy="speculative")
        texts = [chunk.text async for chunk in stream]
        return texts, await stream.result()

    texts, result = run(body, fake)
    assert texts == ["one ", "two ", "\u2026"]
    assert result.text == "one two \u2026" and result.stats.drafted_tokens == 8 and result.finish_reason == "stop"


def test_result_after_cancel_raises_cancelled(fake):
    async def body(c):
        stream = await c.generate("a b c d e f")
        await stream.__anext__()
        assert stream.cancel() is True
        with pytest.raises(tandem.errors.Cancelled):
            await stream.result()

    run(body, fake)


def test_non_streaming_chat(fake):
    async def body(c):
        return await c.chat([("user", "hello there")], max_tokens=1, stream=False, drafter="ngram")

    result = run(body, fake)
    assert result.text == "hello there \u2026" and result.finish_reason == "length"
    assert dict(fake.record.requests[-1].params) == {"drafter": b"ngram"}


def test_typed_error(fake):
    async def body(c):
        await c.generate("x", strategy="bogus", stream=False)

    with pytest.raises(tandem.InvalidArgument, match="unknown strategy 'bogus'"):
        run(body, fake)


def test_deadline(fake):
    fake.behaviour.chunk_delay_s = 0.2

    async def body(c):
        await c.generate("a b c d e f", timeout=0.3, stream=False)

    with pytest.raises(tandem.DeadlineExceeded):
        run(body, fake)
    assert fake.record.cancelled.wait(5)


def test_cancel_stops_the_server(fake):
    fake.behaviour.chunk_delay_s = 0.1

    async def body(c):
        async with await c.generate("a b c d e f g h i j k l") as stream:
            first = await stream.__anext__()
        return first, [chunk async for chunk in stream]

    first, rest = run(body, fake)
    assert first.text == "a " and rest == []
    assert fake.record.cancelled.wait(5)


def test_cancelling_the_reading_task_cancels_the_call(fake):
    fake.behaviour.chunk_delay_s = 0.1

    async def body(c):
        stream = await c.generate("a b c d e f g h i j k l")

        async def consume():
            async for _ in stream:
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.25)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(body, fake)
    assert fake.record.cancelled.wait(5)


def test_retry_on_unavailable(fake):
    fake.behaviour.unavailable_first = {"Generate": 2, "ListModels": 1}

    async def body(c):
        return await c.generate("a", stream=False), await c.models()

    result, models = run(body, fake)
    assert result.text == "a \u2026" and models.models[0].name == "smollm2-135m"
    assert fake.record.attempts["Generate"] == 3 and fake.record.attempts["ListModels"] == 2


def test_ingest_failures_commit_nothing_and_raise_their_own_error(fake):
    async def body(c):
        await c.create_collection("docs")

        def refuse(progress):
            if not progress.committed:
                raise RuntimeError("not these")

        with pytest.raises(RuntimeError, match="not these"):
            await c.ingest("docs", ["a", "b"], on_progress=refuse)
        with pytest.raises(TypeError, match="expected Document"):
            await c.ingest("docs", ["fine", 42])

    run(body, fake)
    assert fake.retrieval.collections["docs"] == {}


def test_reward_and_collections(fake):
    async def body(c):
        score = await c.score("q", ["ab", "abcd"])
        steps = await c.score_steps("q", ["s"])
        await c.create_collection("docs")
        progress = []
        stats = await c.ingest("docs", ["red apples", "green pears"], on_progress=progress.append)
        hits = await c.search("pears", collection="docs", top_k=1)
        listed = await c.list_collections()
        await c.delete_collection("docs")
        with pytest.raises(tandem.NotFound):
            await c.collection_stats("docs")
        return score, steps, stats, progress, hits, listed, await c.info(), await c.abort("running")

    score, steps, stats, progress, hits, listed, info, found = run(body, fake)
    assert score.scores == (2.0, 4.0) and steps.scores == (1.0,)
    assert stats.documents == 2 and progress[-1].committed
    assert hits.hits[0].text == "green pears" and [c.name for c in listed] == ["docs"]
    assert info.default_model == "smollm2-135m" and found is True
