#!/usr/bin/env python3
"""Writes the fixed development / test splits of the evaluation protocol (issue 17).

  bench/eval/make_splits.py            # rewrites bench/data/splits/*.json (same bytes every time)

How the items were drawn (random.Random(17), Python's Mersenne Twister, stable across versions):

- GSM8K (tests/data/gsm8k/test.jsonl, 250 problems, id = 0-based line index): problems 0..19 were
  used to choose RSD's δ and the token cap before this protocol existed (docs/benchmarks.md, issue 5),
  so they are development items. The other 230 are shuffled; the first 100 are the test split, the
  next 30 join development (50 development items), the remaining 100 are unused reserve.
- HH-RLHF (tests/data/hh-rlhf/harmless-base-test.jsonl.gz, id = 0-based line index): the 54
  single-turn dialogues (bench/cards/run_cards_bench.py's filter). The first 18 (ids 4..80) were the
  evaluated and r*-calibration prompts of the earlier CARDS runs (issue 6), so they are development.
  The other 36 are shuffled: 30 test, 6 development (24 development items).
- RAPID (synthetic, built at run time from tests/data/long_text by bench/eval/rapid_items.py): per
  context length 4096 and 8192, 10 needle + 10 multi-fact test items and 3 + 3 development items.
  Every item's text, fact positions and answers follow from its id alone (seeded by crc32(id)).
  Development ids use seeds 0..2, test ids 100..109, so no test haystack offset/answer equals a
  development one.
"""
import gzip
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "bench", "data", "splits")
sys.path.insert(0, os.path.join(ROOT, "bench", "cards"))
import run_cards_bench  # noqa: E402  (single_turn_prompts: the one filter for single-turn prompts)


def gsm8k():
    with open(os.path.join(ROOT, "tests", "data", "gsm8k", "test.jsonl")) as f:
        n = sum(1 for line in f if line.strip())
    rest = list(range(20, n))
    random.Random(17).shuffle(rest)
    return dict(source="tests/data/gsm8k/test.jsonl", id="0-based line index",
                dev=sorted(list(range(20)) + rest[100:130]), test=sorted(rest[:100]), reserve=sorted(rest[130:]))


def hh_rlhf():
    ids = [p["id"] for p in run_cards_bench.single_turn_prompts(10 ** 6)]
    seen, rest = ids[:18], ids[18:]
    random.Random(17).shuffle(rest)
    return dict(source="tests/data/hh-rlhf/harmless-base-test.jsonl.gz (single-turn dialogues)",
                id="0-based line index", dev=sorted(seen + rest[30:]), test=sorted(rest[:30]))


def rapid():
    def ids(seeds):
        return [f"{kind}-{length}-{s:03d}" for length in (4096, 8192) for kind in ("needle", "multi")
                for s in seeds]
    return dict(source="synthetic over tests/data/long_text (bench/eval/rapid_items.py)",
                id="KIND-CONTEXT_TOKENS-SEED", dev=ids(range(3)), test=ids(range(100, 110)))


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, split in (("gsm8k", gsm8k()), ("hh_rlhf", hh_rlhf()), ("rapid", rapid())):
        assert not set(split["dev"]) & set(split["test"])
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(split, f, indent=None, separators=(", ", ": "))
            f.write("\n")
        print(f"{name}: {len(split['dev'])} dev, {len(split['test'])} test")


if __name__ == "__main__":
    main()
