"""Client.generate / chat against the fake server: streaming, the final result, request fields."""

import pytest

import tandem


def test_streaming_yields_chunks_then_result(client, fake):
    stream = client.generate("one two three", strategy="speculative", max_tokens=8)
    chunks = list(stream)
    assert [c.text for c in chunks] == ["one ", "two ", "three ", "\u2026"]  # the held-back tail comes last
    assert [c.token_ids for c in chunks] == [(0,), (1,), (2,), ()]
    result = stream.result()
    assert result.text == "one two three \u2026"
    assert result.token_ids == (0, 1, 2)
    assert result.finish_reason == "length"
    assert result.request_id == "srv-1" == stream.request_id
    assert all(c.request_id == "srv-1" for c in chunks)


def test_non_streaming_returns_the_result(client):
    result = client.generate("alpha beta", stream=False)
    assert isinstance(result, tandem.GenerationResult)
    assert result.text == "alpha beta \u2026"
    assert result.finish_reason == "stop"


def test_result_without_iterating_drains_the_stream(client):
    stream = client.generate("a b c d")
    assert stream.result().token_ids == (0, 1, 2, 3)
    assert list(stream) == []  # already consumed


def test_result_after_cancel_raises_cancelled(client):
    stream = client.generate("a b c d e f")
    next(stream)
    assert stream.cancel() is True
    with pytest.raises(tandem.errors.Cancelled) as info:
        stream.result()
    assert info.value.code.name == "CANCELLED"
    # A stream that ended before the cancel keeps its result.
    done = client.generate("a b")
    done.result()
    assert done.cancel() is False
    assert done.result().token_ids == (0, 1)


def test_request_fields_reach_the_server(client, fake):
    client.generate("hi", strategy="speculative", model="smollm2-135m", max_tokens=5, temperature=0.5, top_k=40,
                    top_p=0.9, min_p=0.05, repetition_penalty=1.1, repetition_window=32, presence_penalty=0.5,
                    frequency_penalty=-0.25, logit_bias={7: -100, "12": 2.5}, seed=7, stop=["\n\n", "END"],
                    gamma=6, adaptive_gamma=True, context="a long document", collection="docs", ignore_eos=True,
                    request_id="req-42", params={"lambda": 24, "drafter": "model"}, min_gamma=2, adaptive=False,
                    suffix="\nprint(x)\n", stream=False)
    req = fake.record.requests[-1]
    assert req.prompt == b"hi" and req.strategy == b"speculative" and req.model == b"smollm2-135m"
    assert req.max_tokens == 5 and req.gamma == 6 and req.adaptive_gamma
    assert req.sampling.temperature == pytest.approx(0.5) and req.sampling.top_k == 40
    assert req.sampling.top_p == pytest.approx(0.9) and req.sampling.min_p == pytest.approx(0.05)
    assert req.sampling.repetition_penalty == pytest.approx(1.1) and req.sampling.repetition_window == 32
    assert req.sampling.presence_penalty == pytest.approx(0.5) and req.sampling.frequency_penalty == -0.25
    assert dict(req.sampling.logit_bias) == {7: -100.0, 12: 2.5}
    assert req.sampling.seed == 7
    assert list(req.stop) == [b"\n\n", b"END"]
    assert req.context == b"a long document" and req.collection == b"docs" and req.ignore_eos
    assert req.request_id == b"req-42"
    assert req.suffix == b"\nprint(x)\n"
    # params= and keyword parameters merge; booleans and numbers are sent as the text the server parses.
    assert dict(req.params) == {"lambda": b"24", "drafter": b"model", "min_gamma": b"2", "adaptive": b"false"}


def test_unset_options_stay_unset(client, fake):
    client.generate("hi", stream=False)
    req = fake.record.requests[-1]
    assert not req.HasField("sampling")  # the server's default: greedy
    assert not req.HasField("max_tokens") and not req.HasField("gamma")
    assert not req.HasField("adaptive_gamma")  # the server's rule: adaptive unless gamma or a seeded sample
    assert not req.HasField("suffix")  # a plain completion; an empty suffix would be a gap at the end
    assert req.strategy == b"" and req.model == b"" and len(req.params) == 0


def test_adaptive_gamma_false_is_sent(client, fake):
    client.generate("hi", strategy="speculative", adaptive_gamma=False, stream=False)
    req = fake.record.requests[-1]
    assert req.HasField("adaptive_gamma") and not req.adaptive_gamma


def test_prompt_tokens(client, fake):
    result = client.generate([5, 17, 3], stream=False)
    assert fake.record.requests[-1].prompt_tokens.ids == [5, 17, 3]
    assert result.text == "<5> <17> <3> \u2026"


def test_chat_accepts_messages_mappings_and_tuples(client, fake):
    result = client.chat([tandem.Message("system", "Be brief."), {"role": "user", "content": "Hi"},
                          ("assistant", "Hello")], max_tokens=3, temperature=0.0, gamma=3, drafter="ngram",
                         stream=False)
    req = fake.record.requests[-1]
    assert [(m.role, m.content) for m in req.messages.messages] == [
        (b"system", b"Be brief."), (b"user", b"Hi"), (b"assistant", b"Hello")]
    assert req.max_tokens == 3 and req.gamma == 3 and dict(req.params) == {"drafter": b"ngram"}
    assert result.text == "Be brief. Hi Hello \u2026"


def test_chat_streams(client):
    stream = client.chat([{"role": "user", "content": "Hi there"}])
    assert "".join(c.text for c in stream) == "Hi there \u2026"


def test_bad_arguments_are_rejected_before_sending(client, fake):
    with pytest.raises(TypeError, match="role"):
        client.chat([{"content": "no role"}])
    with pytest.raises(TypeError, match="params.n"):
        client.generate("x", n=[1, 2])
    with pytest.raises(ValueError, match="timeout"):
        client.generate("x", timeout=0)
    assert fake.record.attempts.get("Generate", 0) == 0


def test_info_and_models(client):
    info = client.info()
    assert info.default_strategy == "speculative" and info.mode == "remote"
    assert [s.name for s in info.strategies] == ["target_only", "speculative"]
    assert info.strategy("speculative").params[0] == tandem.StrategyParam("gamma", "draft length, 1..32", "4")
    with pytest.raises(KeyError, match="served: target_only, speculative"):
        info.strategy("rsd")
    models = client.models()
    assert models.models[0].name == "smollm2-135m" and models.models[0].context_length == 8192
    assert models.draft_models[0].parameters == 134_515_008


def test_abort(client, fake):
    assert client.abort("running") is True
    assert client.abort("other") is False
    assert fake.record.requests[-1].request_id == "other"
