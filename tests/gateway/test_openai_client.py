"""The OpenAI-compatible gateway through the official `openai` Python client, as a real client of a
`tandem up` deployment (scripts/test-gateway.sh starts it and passes its URLs in the environment):
chat and completions, streaming and not, strategy selection through extra_body, usage and tandem
statistics, token logprobs in both endpoints' shapes, bad input as the client's typed exceptions,
and a stream closed mid-way cancelling its request on the orchestrator."""

import math
import os
import re
import time
import urllib.request

import openai
import pytest

BASE_URL = os.environ["TANDEM_GATEWAY_URL"]  # http://127.0.0.1:PORT/v1
METRICS_URL = os.environ["TANDEM_METRICS_URL"]  # the orchestrator's /metrics
QUESTION = [{"role": "user", "content": "Name three colors of the rainbow."}]


@pytest.fixture(scope="module")
def client():
    # The gateway has no auth in this deployment; the client insists on some key.
    with openai.OpenAI(base_url=BASE_URL, api_key="unused", max_retries=0, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def model(client):
    models = client.models.list().data
    assert len(models) == 1
    return models[0].id


def tandem(strategy, **params):
    return {"tandem": {"strategy": strategy, "params": params}}


def test_models_lists_the_target(client, model):
    assert model == "smollm2-135m"
    assert client.models.retrieve(model).id == model


def test_chat_greedy_speculative_equals_target_only(client, model):
    base = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=24,
                                          extra_body=tandem("target_only"))
    spec = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=24,
                                          extra_body=tandem("speculative", gamma=4))
    text = base.choices[0].message.content
    assert text
    assert spec.choices[0].message.content == text
    assert base.choices[0].message.role == "assistant"
    assert base.choices[0].finish_reason in ("stop", "length")
    assert base.object == "chat.completion" and base.id.startswith("chatcmpl-")
    assert base.usage.prompt_tokens > 0 and 0 < base.usage.completion_tokens <= 24
    assert base.usage.total_tokens == base.usage.prompt_tokens + base.usage.completion_tokens
    assert base.model_extra["tandem"]["strategy"] == "target_only"
    stats = spec.model_extra["tandem"]
    assert stats["strategy"] == "speculative"
    assert stats["drafter"] == "model" and stats["draft_calls"] > 0
    assert stats["generated_tokens"] == spec.usage.completion_tokens


def test_chat_stream_equals_non_streamed(client, model):
    whole = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=20,
                                           extra_body=tandem("speculative"))
    stream = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=20,
                                            stream=True, stream_options={"include_usage": True},
                                            extra_body=tandem("speculative"))
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == whole.usage.completion_tokens
    assert last.model_extra["tandem"]["strategy"] == "speculative"
    assert len({c.id for c in chunks}) == 1


def test_completions_stream_and_not(client, model):
    prompt = "The capital of France is"
    whole = client.completions.create(model=model, prompt=prompt, temperature=0, max_tokens=12,
                                      extra_body=tandem("target_only"))
    assert whole.object == "text_completion" and whole.choices[0].text
    spec = client.completions.create(model=model, prompt=prompt, temperature=0, max_tokens=12,
                                     extra_body=tandem("speculative", drafter="ngram"))
    assert spec.choices[0].text == whole.choices[0].text
    chunks = list(client.completions.create(model=model, prompt=prompt, temperature=0, max_tokens=12, stream=True,
                                            extra_body=tandem("target_only")))
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert chunks[-1].model_extra["tandem"]["strategy"] == "target_only"


def test_sampling_is_seeded(client, model):
    kwargs = dict(model=model, messages=QUESTION, temperature=0.9, top_p=0.95, seed=7, max_tokens=16)
    a = client.chat.completions.create(**kwargs)
    b = client.chat.completions.create(**kwargs)
    assert a.choices[0].message.content == b.choices[0].message.content


def test_stop_string_cuts_the_text(client, model):
    base = client.completions.create(model=model, prompt="1, 2, 3, 4,", temperature=0, max_tokens=16)
    text = base.choices[0].text
    assert "," in text
    stop = text[text.index(",") :][:2]
    cut = client.completions.create(model=model, prompt="1, 2, 3, 4,", temperature=0, max_tokens=16, stop=[stop])
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].text == text[: text.index(stop)]


def check_chat_logprobs(content, top_n, text):
    """One entry per generated token: log probabilities, the top_n likeliest alternatives best first
    (greedy: the chosen token is the likeliest), and bytes that rebuild the message text."""
    for entry in content:
        assert entry.logprob <= 0, entry
        assert len(entry.top_logprobs) == top_n, entry
        tops = [t.logprob for t in entry.top_logprobs]
        assert tops == sorted(tops, reverse=True), entry
        assert all(t <= 0 for t in tops), entry
        assert entry.top_logprobs[0].bytes == entry.bytes, entry
        assert math.isclose(entry.top_logprobs[0].logprob, entry.logprob, abs_tol=1e-5), entry
        assert entry.token == bytes(entry.bytes).decode("utf-8", errors="replace"), entry
    assert b"".join(bytes(e.bytes) for e in content).decode("utf-8", errors="replace") == text


def test_chat_logprobs(client, model):
    kwargs = dict(model=model, messages=QUESTION, temperature=0, max_tokens=16, logprobs=True, top_logprobs=3)
    base = client.chat.completions.create(**kwargs, extra_body=tandem("target_only"))
    content = base.choices[0].logprobs.content
    assert len(content) == base.usage.completion_tokens
    check_chat_logprobs(content, 3, base.choices[0].message.content)
    # Greedy speculative: the same tokens scored on the same rows of the target, whose kernels are
    # batch-invariant (a verify block's row is bitwise the row of a one-token step): the same numbers.
    spec = client.chat.completions.create(**kwargs, extra_body=tandem("speculative", gamma=4))
    spec_content = spec.choices[0].logprobs.content
    assert [e.token for e in spec_content] == [e.token for e in content]
    assert [e.logprob for e in spec_content] == [e.logprob for e in content]
    # Streamed: the chunks' entries together are the whole answer's.
    chunks = list(client.chat.completions.create(**kwargs, stream=True, extra_body=tandem("target_only")))
    streamed = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert [e.token for e in streamed] == [e.token for e in content]
    assert [e.bytes for e in streamed] == [e.bytes for e in content]
    for a, b in zip(streamed, content):
        assert math.isclose(a.logprob, b.logprob, abs_tol=1e-5), (a, b)
    # Not asked for: none.
    plain = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=4)
    assert plain.choices[0].logprobs is None
    no_top = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=4,
                                            logprobs=True, extra_body=tandem("speculative"))
    assert len(no_top.choices[0].logprobs.content) == no_top.usage.completion_tokens
    assert all(e.top_logprobs == [] for e in no_top.choices[0].logprobs.content)


def test_completions_logprobs(client, model):
    prompt = "The capital of France is"
    whole = client.completions.create(model=model, prompt=prompt, temperature=0, max_tokens=12, logprobs=2,
                                      extra_body=tandem("target_only"))
    lp = whole.choices[0].logprobs
    text = whole.choices[0].text
    n = whole.usage.completion_tokens
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
    for token, logprob, top, offset in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, lp.text_offset):
        assert logprob <= 0
        # The 2 likeliest, plus the chosen token when it is not among them (greedy: it is the likeliest).
        assert 1 <= len(top) <= 3 and all(v <= 0 for v in top.values()), top
        assert math.isclose(max(top.values()), logprob, abs_tol=1e-5), (token, logprob, top)
        assert math.isclose(top[token], logprob, abs_tol=1e-5), (token, top)
        if "\ufffd" not in token:  # a whole-character token sits at its offset in the text
            assert text[offset:offset + len(token)] == token, (text, offset, token)
    assert lp.text_offset == sorted(lp.text_offset) and lp.text_offset[0] == 0
    if "\ufffd" not in "".join(lp.tokens):
        assert "".join(lp.tokens) == text
    # Streamed pieces add up to the same lists (text_offset counts on across chunks).
    chunks = list(client.completions.create(model=model, prompt=prompt, temperature=0, max_tokens=12, logprobs=2,
                                            stream=True, extra_body=tandem("target_only")))
    pieces = [c.choices[0].logprobs for c in chunks if c.choices and c.choices[0].logprobs]
    assert [t for p in pieces for t in p.tokens] == lp.tokens
    assert [o for p in pieces for o in p.text_offset] == lp.text_offset
    # logprobs=0: the chosen tokens' logprobs only.
    zero = client.completions.create(model=model, prompt=prompt, temperature=0, max_tokens=4, logprobs=0)
    assert len(zero.choices[0].logprobs.token_logprobs) == zero.usage.completion_tokens
    assert zero.choices[0].logprobs.top_logprobs is None


def test_completions_echo_scores_the_prompt(client, model):
    """lm-eval's loglikelihood request: echo, logprobs=1, max_tokens=1; the continuation's tokens are
    read from the echoed prompt's logprobs, and a continuation the model itself wrote must come back
    with the logprobs it was written with, and as greedy."""
    prompt = "The capital of France is"
    written = client.completions.create(model=model, prompt=prompt, temperature=0, max_tokens=6, logprobs=1,
                                        extra_body={"tandem": {"strategy": "target_only", "ignore_eos": True}})
    continuation = written.choices[0].text
    wlp = written.choices[0].logprobs
    answers = {}
    for strategy in ["target_only", "speculative"]:
        echoed = client.completions.create(model=model, prompt=prompt + continuation, temperature=0, max_tokens=1,
                                           logprobs=1, echo=True, extra_body=tandem(strategy))
        choice = echoed.choices[0]
        lp = choice.logprobs
        n = echoed.usage.prompt_tokens + echoed.usage.completion_tokens
        assert choice.text.startswith(prompt + continuation)
        assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
        assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None  # nothing before it to score by
        assert all(v <= 0 for v in lp.token_logprobs[1:])
        assert lp.text_offset == sorted(lp.text_offset) and lp.text_offset[0] == 0
        ctx = echoed.usage.prompt_tokens - len(wlp.tokens)
        # The prompt re-encodes into the same tokens, so the continuation's scores are the written ones.
        assert lp.tokens[ctx:echoed.usage.prompt_tokens] == wlp.tokens, (lp.tokens, wlp.tokens)
        for got, want in zip(lp.token_logprobs[ctx:], wlp.token_logprobs):
            assert math.isclose(got, want, abs_tol=1e-6), (got, want)
        # lm-eval's is_greedy: every continuation token is the likeliest at its position.
        for token, logprob, top in zip(lp.tokens[ctx:-1], lp.token_logprobs[ctx:-1], lp.top_logprobs[ctx:-1]):
            assert math.isclose(max(top.values()), logprob, abs_tol=1e-6), (token, logprob, top)
        answers[strategy] = (choice.text, lp.token_logprobs, lp.top_logprobs)
    assert answers["speculative"] == answers["target_only"]
    # Streamed: the echoed prompt comes first, and the pieces add up to the same answer.
    chunks = list(client.completions.create(model=model, prompt=prompt + continuation, temperature=0, max_tokens=1,
                                            logprobs=1, echo=True, stream=True, extra_body=tandem("target_only")))
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert texts[0] == "" or texts[0] == prompt + continuation  # the opening chunk, then the echo
    assert "".join(texts) == answers["target_only"][0]
    pieces = [c.choices[0].logprobs for c in chunks if c.choices and c.choices[0].logprobs]
    assert [v for p in pieces for v in p.token_logprobs] == answers["target_only"][1]
    # max_tokens=0 (OpenAI's legacy scoring request): the prompt alone, with the same entries.
    zero = client.completions.create(model=model, prompt=prompt + continuation, temperature=0, max_tokens=0,
                                     logprobs=1, echo=True, extra_body=tandem("target_only"))
    assert zero.usage.completion_tokens == 0 and zero.choices[0].text == prompt + continuation
    assert zero.choices[0].logprobs.token_logprobs == answers["target_only"][1][:-1]
    # Without logprobs the prompt still comes back in front.
    plain = client.completions.create(model=model, prompt=prompt, temperature=0, max_tokens=3, echo=True)
    assert plain.choices[0].text.startswith(prompt) and plain.choices[0].logprobs is None


def test_several_choices(client, model):
    """n choices: choice i is the sample a single request with seed + i gives, streamed or not; usage
    sums the completions; greedy choices are equal."""
    args = dict(model=model, messages=QUESTION, temperature=1.0, max_tokens=12, seed=11,
                extra_body={"tandem": {"strategy": "speculative", "ignore_eos": True}})
    several = client.chat.completions.create(n=3, **args)
    assert [c.index for c in several.choices] == [0, 1, 2]
    singles = [client.chat.completions.create(**{**args, "seed": 11 + i}) for i in range(3)]
    assert [c.message.content for c in several.choices] == [s.choices[0].message.content for s in singles]
    assert several.usage.completion_tokens == sum(s.usage.completion_tokens for s in singles)
    assert several.usage.prompt_tokens == singles[0].usage.prompt_tokens
    streamed = ["", "", ""]
    for chunk in client.chat.completions.create(n=3, stream=True, **args):
        for c in chunk.choices:
            streamed[c.index] += c.delta.content or ""
    assert streamed == [c.message.content for c in several.choices]
    greedy = client.completions.create(model=model, prompt="The capital of France is", temperature=0, max_tokens=6,
                                       n=2)
    assert greedy.choices[0].text == greedy.choices[1].text and greedy.choices[1].index == 1


def test_best_of_returns_the_most_likely_candidates(client, model):
    """best_of=3, n=1 through the official client: the answer is the candidate (seeds 5, 6, 7, each what a
    single request with that seed gives) with the highest mean token logprob; usage counts all three;
    streaming above n is a typed 400."""
    args = dict(model=model, prompt="Once upon a time", temperature=1.0, max_tokens=8, seed=5, logprobs=0,
                extra_body={"tandem": {"strategy": "speculative", "ignore_eos": True}})
    singles = [client.completions.create(**{**args, "seed": 5 + i}).choices[0] for i in range(3)]
    means = [sum(c.logprobs.token_logprobs) / len(c.logprobs.token_logprobs) for c in singles]
    best = client.completions.create(best_of=3, **args)
    assert len(best.choices) == 1 and best.choices[0].index == 0
    assert best.choices[0].text == singles[means.index(max(means))].text
    assert best.usage.completion_tokens == 3 * 8
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(best_of=3, stream=True, **args)
    assert info.value.status_code == 400 and info.value.body["param"] == "best_of", info.value.body


def test_several_prompts_in_one_request(client, model):
    """lm-eval's batched loglikelihood request: a list of prompts, echo, logprobs=1, max_tokens=1; each
    choice is what the prompt alone gets, in the list's order."""
    prompts = ["The capital of France is Paris", "Two plus two is four", "The sky is blue"]
    batch = client.completions.create(model=model, prompt=prompts, temperature=0, max_tokens=1, logprobs=1,
                                      echo=True, extra_body=tandem("target_only"))
    assert [c.index for c in batch.choices] == [0, 1, 2]
    prompt_tokens = 0
    for prompt, choice in zip(prompts, batch.choices):
        alone = client.completions.create(model=model, prompt=prompt, temperature=0, max_tokens=1, logprobs=1,
                                          echo=True, extra_body=tandem("target_only"))
        assert choice.text == alone.choices[0].text and choice.text.startswith(prompt)
        assert choice.logprobs.token_logprobs == alone.choices[0].logprobs.token_logprobs
        prompt_tokens += alone.usage.prompt_tokens
    assert batch.usage.prompt_tokens == prompt_tokens


def test_logit_bias_and_penalties(client, model):
    """logit_bias forces or bans tokens by id; presence/frequency penalties change greedy output, and
    greedy speculation still equals target-only under them (draft and target process alike)."""
    prompt = "one two one two one two one two"

    def greedy(strategy, **sampling):
        r = client.completions.create(model=model, prompt=prompt, temperature=0, max_tokens=8, logprobs=0,
                                      extra_body={"tandem": {"strategy": strategy, "ignore_eos": True}}, **sampling)
        return r.choices[0].logprobs.tokens

    plain = greedy("target_only")
    forced = greedy("target_only", logit_bias={"1000": 100})
    assert len(forced) == 8 and len(set(forced)) == 1 and forced != plain, forced
    assert greedy("speculative", logit_bias={"1000": 100}) == forced
    penalized = {"presence_penalty": 1.5, "frequency_penalty": 2.0}
    base = greedy("target_only", **penalized)
    assert base != plain  # the prompt's own repetition is penalized
    assert greedy("speculative", **penalized) == base
    # The same id banned: the token it forced above never appears.
    banned = greedy("target_only", logit_bias={"1000": -100})
    assert forced[0] not in banned
    with pytest.raises(openai.BadRequestError) as e:  # beyond the vocabulary
        client.completions.create(model=model, prompt=prompt, max_tokens=2, logit_bias={"99999999": 5})
    assert e.value.body["param"] == "logit_bias"


@pytest.mark.parametrize("strategy", ["draft_only", "best_of_n"])
def test_logprobs_need_a_strategy_that_reports_them(client, model, strategy):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=QUESTION, max_tokens=4, logprobs=True,
                                       extra_body={"tandem": {"strategy": strategy}})
    assert info.value.status_code == 400 and info.value.body["param"] == "logprobs", info.value.body
    assert strategy in info.value.body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model=model, prompt="Hi", max_tokens=4, logprobs=1,
                                  extra_body={"tandem": {"strategy": strategy}})
    assert info.value.status_code == 400 and info.value.body["param"] == "logprobs", info.value.body


@pytest.mark.parametrize("kwargs, exception, status, param", [
    (dict(model="gpt-4o"), openai.NotFoundError, 404, "model"),
    (dict(temperature=3.5), openai.BadRequestError, 400, "temperature"),
    (dict(extra_body={"tandem": {"strategy": "beam_search"}}), openai.BadRequestError, 400, "tandem.strategy"),
    (dict(extra_body=tandem("speculative", gama=4)), openai.BadRequestError, 400, "tandem.params"),
    (dict(n=17), openai.BadRequestError, 400, "n"),
    (dict(presence_penalty=2.5), openai.BadRequestError, 400, "presence_penalty"),
    (dict(top_logprobs=3), openai.BadRequestError, 400, "top_logprobs"),  # needs logprobs=True
    (dict(logprobs=True, top_logprobs=21), openai.BadRequestError, 400, "top_logprobs"),
    (dict(messages=[{"role": "user", "content": "hello " * 9000}]), openai.BadRequestError, 400, "messages"),
])
def test_bad_input_raises_typed_errors(client, model, kwargs, exception, status, param):
    args = dict(model=model, messages=QUESTION, max_tokens=4)
    args.update(kwargs)
    with pytest.raises(exception) as info:
        client.chat.completions.create(**args)
    assert info.value.status_code == status
    assert info.value.body["param"] == param, info.value.body
    assert info.value.body["message"]
    if param == "model":
        assert info.value.code == "model_not_found"
    if param == "messages":
        assert info.value.code == "context_length_exceeded"


def test_streaming_request_with_bad_input_fails_before_streaming(client, model):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=model, messages=QUESTION, stream=True, temperature=-1)


def metric(name, **labels):
    """Sum of the orchestrator's samples of `name` whose labels include `labels`."""
    text = urllib.request.urlopen(METRICS_URL, timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:]+)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def test_closing_a_stream_cancels_the_request(client, model):
    aborted_before = metric("tandem:request_success_total", finished_reason="abort")
    stream = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=4000,
                                            stream=True, extra_body={"tandem": {"strategy": "target_only",
                                                                                "ignore_eos": True}})
    received = 0
    for chunk in stream:
        received += 1
        if received == 3:
            break
    stream.close()  # drops the connection
    # The orchestrator notices at its next write and counts the request as aborted; a request that
    # ran to its 4000 tokens would count as "length" instead.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if metric("tandem:request_success_total", finished_reason="abort") > aborted_before:
            break
        time.sleep(0.2)
    assert metric("tandem:request_success_total", finished_reason="abort") == aborted_before + 1
    while time.monotonic() < deadline and metric("tandem:active_sessions") != 0:
        time.sleep(0.2)
    assert metric("tandem:active_sessions") == 0


def test_suffix_needs_a_model_with_fill_in_the_middle_tokens(client, model):
    """`suffix` is fill in the middle: refused (400, param suffix) on SmolLM2, which has no FIM tokens, instead
    of being ignored; "" is OpenAI's default and a plain completion."""
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=model, prompt="def f(", suffix="):\n    pass\n", max_tokens=4)
    assert e.value.body["param"] == "suffix", e.value.body
    assert "fill-in-the-middle" in e.value.body["message"], e.value.body
    r = client.completions.create(model=model, prompt="def f(", suffix="", max_tokens=2)
    assert r.choices[0].finish_reason in ("length", "stop")
