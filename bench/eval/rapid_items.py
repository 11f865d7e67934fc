"""RAPID evaluation items (issue 17): needle and multi-fact questions over tests/data/long_text.

An item id is KIND-CONTEXT_TOKENS-SEED (bench/data/splits/rapid.json); everything about the item
(haystack offset, fact depths, things asked about, 5-digit answers) follows from crc32(id), so the
splits file only has to name ids.
- needle: one invented fact "The secret code of the <thing> is <5 digits>." at one depth; the
  question asks for it; correct when the code appears in the answer.
- multi: three such facts (three different things) at three depths; the question asks for two of
  them; correct when both codes appear.
"""
import os
import random
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "rapid"))
import bench_rapid  # noqa: E402  (long_texts, CHARS_PER_TOKEN, THINGS, INTRO)


def make_item(item_id, texts=None, reserve_tokens=264):
    kind, length, _ = item_id.split("-")
    length = int(length)
    rng = random.Random(zlib.crc32(item_id.encode()))
    texts = texts or bench_rapid.long_texts()
    budget = int((length - reserve_tokens) * bench_rapid.CHARS_PER_TOKEN)
    start = rng.randrange(len(texts))
    parts, used, i = [], 0, start
    while used < budget:
        t = texts[i % len(texts)]
        parts.append(t)
        used += len(t) + 2
        i += 1
    context = "\n\n".join(parts)
    context = context[rng.randrange(0, max(1, len(context) - budget)):][:budget]
    context = context[context.find("\n\n") + 2:] if "\n\n" in context[:2000] else context
    context = context[:context.rfind(" ")]
    nfacts = 1 if kind == "needle" else 3
    things = rng.sample(bench_rapid.THINGS, nfacts)
    answers = [str(rng.randint(10000, 99999)) for _ in things]
    depths = sorted(rng.uniform(0.05, 0.95) for _ in things)
    for thing, answer, depth in reversed(list(zip(things, answers, depths))):  # deepest first: offsets stay valid
        at = context.find(". ", int(len(context) * depth))
        at = at + 2 if at >= 0 else int(len(context) * depth)
        context = context[:at] + f"The secret code of the {thing} is {answer}. " + context[at:]
    if kind == "needle":
        asked = [0]
        question = f"What is the secret code of the {things[0]}?"
    else:
        asked = sorted(rng.sample(range(3), 2))
        question = (f"What are the secret codes of the {things[asked[0]]} and of the {things[asked[1]]}? "
                    "Give both codes.")
    return dict(id=item_id, kind=kind, length=length, context=context, question=question,
                answers=[answers[k] for k in asked], depths=depths, things=things)


def is_correct(text, answers):
    text = text.split("<|im_end|>")[0].split("<|endoftext|>")[0]
    return all(a in text for a in answers)
