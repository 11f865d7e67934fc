"""The SDK against a real local deployment (`tandem up`: target, draft, reward, retrieval and
orchestrator on SmolLM2-135M). Skipped without a tandem binary (--tandem-bin / TANDEM_BIN)."""

import asyncio
import os
import subprocess
import time
import uuid

import pytest

import tandem
from live_deployment import Deployment
from test_examples import STRATEGIES, example_args

pytestmark = pytest.mark.live

PROMPT = "The three primary colors are"


@pytest.fixture(scope="module")
def deployment(request, tmp_path_factory):
    binary = request.config.getoption("--tandem-bin")
    if not binary:
        pytest.skip("no tandem binary given (--tandem-bin or TANDEM_BIN)")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"--tandem-bin {binary}: not an executable file")
    dep = Deployment(binary, tmp_path_factory.mktemp("deployment"))
    yield dep
    dep.stop()


@pytest.fixture(scope="module")
def live(deployment):
    with tandem.Client(deployment.addresses["orchestrator"], reward_address=deployment.addresses["reward"],
                       retrieval_address=deployment.addresses["retrieval"], timeout=120) as c:
        yield c


def test_info_and_models(live):
    info = live.info()
    names = {s.name for s in info.strategies}
    assert {"target_only", "speculative", "rapid", "rsd", "cards", "best_of_n", "args", "draft_only"} <= names
    assert info.default_strategy == "speculative" and info.drafter == "model"
    assert "gamma" in {p.name for p in info.strategy("speculative").params}
    assert "smollm2-135m" in [m.name for m in live.models().models]


def test_greedy_speculative_equals_target_only(live):
    reference = live.generate(PROMPT, strategy="target_only", max_tokens=24, temperature=0, stream=False)
    stream = live.generate(PROMPT, strategy="speculative", max_tokens=24, temperature=0, gamma=4)
    chunks = list(stream)
    spec = stream.result()
    assert spec.text == reference.text and spec.token_ids == reference.token_ids
    assert "".join(c.text for c in chunks) == spec.text
    assert len(reference.token_ids) > 0 and reference.finish_reason in ("stop", "length")
    assert reference.stats.strategy == "target_only" and spec.stats.strategy == "speculative"
    assert spec.stats.generated_tokens == len(spec.token_ids)
    assert spec.stats.prompt_tokens > 0 and spec.stats.e2e_latency_ms > 0
    assert spec.stats.drafted_tokens > 0 and spec.stats.accepted_tokens > 0  # the draft is the target model
    assert spec.stats.raw["strategy"] == "speculative"


def test_logprobs_of_every_token(live):
    # Greedy: the chosen token is the most likely one, and speculative reports target-only's numbers
    # (the same tokens decided on the same rows of the target).
    reference = live.generate(PROMPT, strategy="target_only", max_tokens=12, temperature=0, logprobs=True,
                              top_logprobs=3, stream=False)
    stream = live.generate(PROMPT, strategy="speculative", max_tokens=12, temperature=0, gamma=3, logprobs=True,
                           top_logprobs=3)
    chunks = list(stream)
    spec = stream.result()
    assert spec.token_ids == reference.token_ids
    for r in (reference, spec):
        assert len(r.logprobs) == len(r.token_ids) == len(r.top_logprobs) > 0
        for token, lp, top in zip(r.token_ids, r.logprobs, r.top_logprobs):
            assert lp < 0 and len(top) == 3
            assert top[0].token_id == token and top[0].logprob == lp
            assert top[0].logprob >= top[1].logprob >= top[2].logprob
    assert spec.logprobs == reference.logprobs
    assert [lp for c in chunks for lp in c.logprobs] == list(spec.logprobs)
    # Without the option, none; a strategy that cannot report them refuses.
    plain = live.generate(PROMPT, strategy="target_only", max_tokens=4, temperature=0, stream=False)
    assert plain.logprobs == () and plain.top_logprobs == ()
    with pytest.raises(tandem.InvalidArgument, match="logprobs"):
        live.generate(PROMPT, strategy="draft_only", max_tokens=4, logprobs=True, stream=False)
    with pytest.raises(tandem.InvalidArgument, match="top_logprobs"):
        live.generate(PROMPT, strategy="target_only", max_tokens=4, top_logprobs=2, stream=False)


def test_prompt_logprobs(live):
    # A completion fed back as the prompt scores exactly as it was generated; the first chunk carries
    # the prompt's scores; speculative reports target-only's numbers.
    written = live.generate(PROMPT, strategy="target_only", max_tokens=6, temperature=0, logprobs=True,
                            top_logprobs=2, prompt_logprobs=True, ignore_eos=True, stream=False)
    ids = written.prompt_token_ids
    assert len(ids) == written.stats.prompt_tokens and len(written.prompt_logprobs) == len(ids) - 1
    assert len(written.prompt_top_logprobs) == len(ids) - 1
    assert all(lp <= 0 for lp in written.prompt_logprobs)
    fed_back = list(ids) + list(written.token_ids)
    for strategy in ("target_only", "speculative"):
        stream = live.generate(fed_back, strategy=strategy, max_tokens=1, temperature=0, logprobs=True,
                               top_logprobs=2, prompt_logprobs=True)
        chunks = list(stream)
        again = stream.result()
        assert again.prompt_token_ids == tuple(fed_back)
        assert again.prompt_logprobs[len(ids) - 1:] == written.logprobs
        assert again.prompt_top_logprobs[len(ids) - 1:] == written.top_logprobs
        assert again.prompt_logprobs[:len(ids) - 1] == written.prompt_logprobs
        assert chunks[0].prompt_logprobs == again.prompt_logprobs
        assert all(c.prompt_token_ids == () for c in chunks[1:])
    with pytest.raises(tandem.InvalidArgument, match="prompt_logprobs"):
        live.generate(PROMPT, strategy="target_only", max_tokens=4, prompt_logprobs=True, stream=False)


def test_logit_bias_and_penalties(live):
    # A +100 bias forces its token on every position, for both strategies; penalties change the greedy
    # output and speculation still equals target-only under them; a token beyond the vocabulary is refused.
    for strategy in ("target_only", "speculative"):
        forced = live.generate(PROMPT, strategy=strategy, max_tokens=5, temperature=0, logit_bias={1000: 100},
                               ignore_eos=True, stream=False)
        assert forced.token_ids == (1000,) * 5
    plain = live.generate(PROMPT, strategy="target_only", max_tokens=12, temperature=0, ignore_eos=True, stream=False)
    penalized = {"presence_penalty": 1.5, "frequency_penalty": 2.0, "repetition_window": 0}
    base = live.generate(PROMPT, strategy="target_only", max_tokens=12, temperature=0, ignore_eos=True,
                         stream=False, **penalized)
    spec = live.generate(PROMPT, strategy="speculative", max_tokens=12, temperature=0, ignore_eos=True,
                         stream=False, **penalized)
    assert base.token_ids != plain.token_ids and spec.token_ids == base.token_ids
    banned = live.generate(PROMPT, strategy="target_only", max_tokens=12, temperature=0, ignore_eos=True,
                           logit_bias={plain.token_ids[0]: -100}, stream=False)
    assert banned.token_ids[0] != plain.token_ids[0]
    with pytest.raises(tandem.InvalidArgument, match="logit_bias"):
        live.generate(PROMPT, max_tokens=2, logit_bias={10 ** 8: 1.0}, stream=False)


def test_suffix_is_refused_by_a_model_without_fill_in_the_middle_tokens(live):
    # The live deployment serves SmolLM2, which has no FIM tokens: the suffix is refused, not ignored.
    with pytest.raises(tandem.InvalidArgument, match="suffix"):
        live.generate("def f(", suffix="):\n    pass\n", max_tokens=2, stream=False)


def test_chat(live):
    result = live.chat([{"role": "user", "content": "Say hello."}], max_tokens=12, temperature=0,
                       strategy="target_only", stream=False)
    assert result.text and result.stats.prompt_tokens > 3  # the chat template adds tokens around the message


@pytest.mark.parametrize("kwargs, field", [
    ({"strategy": "speculative", "gamma": 0}, "gamma"),
    ({"strategy": "speculative", "no_such_param": 1}, "no_such_param"),
    ({"strategy": "no_such_strategy"}, "strategy"),
    ({"temperature": -1}, "temperature"),
])
def test_bad_parameters_are_invalid_argument(live, kwargs, field):
    with pytest.raises(tandem.InvalidArgument) as info:
        live.generate(PROMPT, max_tokens=4, stream=False, **kwargs)
    assert field in info.value.message


def test_tiny_deadline_is_deadline_exceeded(live):
    with pytest.raises(tandem.DeadlineExceeded):
        live.generate(PROMPT, strategy="target_only", max_tokens=1000, ignore_eos=True, timeout=0.3, stream=False)
    # The server is still healthy afterwards.
    assert live.generate(PROMPT, strategy="target_only", max_tokens=2, stream=False).token_ids


def test_closing_a_stream_cancels_the_request(live):
    stream = live.generate(PROMPT, strategy="speculative", max_tokens=1000, ignore_eos=True)
    next(stream)
    start = time.monotonic()
    stream.close()
    result = live.generate(PROMPT, strategy="target_only", max_tokens=2, temperature=0, stream=False)
    assert result.token_ids and time.monotonic() - start < 60


def test_abort_by_request_id(live):
    request_id = f"sdk-abort-{uuid.uuid4().hex[:8]}"
    stream = live.generate(PROMPT, strategy="target_only", max_tokens=1000, ignore_eos=True, request_id=request_id)
    next(stream)
    assert stream.request_id == request_id
    assert live.abort(request_id) is True
    result = stream.result()
    assert result.finish_reason == "aborted" and len(result.token_ids) < 1000
    assert live.abort(request_id) is False  # no longer running


def test_async_client_matches(live, deployment):
    reference = live.generate(PROMPT, strategy="target_only", max_tokens=12, temperature=0, stream=False)

    async def main():
        async with tandem.AsyncClient(deployment.addresses["orchestrator"], timeout=120) as c:
            stream = await c.generate(PROMPT, strategy="speculative", max_tokens=12, temperature=0)
            text = "".join([chunk.text async for chunk in stream])
            return text, await stream.result()

    text, result = asyncio.run(main())
    assert text == result.text == reference.text


def test_score(live):
    result = live.score("What is 2+2?", ["The answer is 4.", "The answer is 5."], reference="4", backend="math")
    assert result.scores == (1.0, 0.0) and result.backend == "math"
    keyword = live.score("Can I download a car?", "No, a car cannot be downloaded.", backend="keyword",
                         options={"required": "car,download"})
    assert keyword.scores[0] > 0
    with pytest.raises(tandem.InvalidArgument, match="no_such_backend"):
        live.score("q", "r", backend="no_such_backend")
    assert any(b.is_default for b in live.reward_backends())


def test_collection_round_trip(live):
    name = f"sdk-test-{uuid.uuid4().hex[:8]}"
    created = live.create_collection(name, chunk_tokens=64)
    assert created.name == name and created.documents == 0
    progress = []
    docs = [("apples", "Apples are red or green fruit that grow on trees in orchards."),
            ("ocean", "The Pacific Ocean is the largest and deepest ocean on Earth."),
            ("code", "The secret code for the vault is 7319.")]
    stats = live.ingest(name, docs, on_progress=progress.append, batch_documents=2)
    assert stats.documents == 3 and stats.chunks >= 3 and stats.generation >= 1
    assert progress[-1].committed and progress[-1].documents == 3
    bm25 = live.search("vault secret code", collection=name, top_k=2, mode="bm25")
    assert bm25.hits[0].document_id == "code" and "7319" in bm25.hits[0].text
    dense = live.search("largest ocean on Earth", collection=name, top_k=1)
    assert dense.hits[0].document_id == "ocean" and dense.total_chunks == stats.chunks
    assert name in [c.name for c in live.list_collections()]
    assert live.collection_stats(name).documents == 3
    live.delete_collection(name)
    with pytest.raises(tandem.NotFound):
        live.collection_stats(name)


@pytest.mark.parametrize("name", STRATEGIES)
def test_example_against_the_deployment(deployment, name):
    run = subprocess.run(example_args(name, deployment.addresses["orchestrator"], deployment.addresses["retrieval"]),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()
