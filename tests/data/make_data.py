#!/usr/bin/env python3
"""Builds the test data in tests/data/ from the upstream GSM8K and HH-RLHF files.

The repository ships the output (small, MIT-licensed); this script documents exactly how it was
made and rebuilds it byte for byte from the same inputs:

  tests/data/make_data.py --gsm8k PATH/test.jsonl --hh-rlhf PATH/test.jsonl.gz

  --gsm8k    openai/grade-school-math, grade_school_math/data/test.jsonl (1,319 problems upstream;
             the copy used here holds the first 1,000 lines, sha256 below)
  --hh-rlhf  anthropics/hh-rlhf, harmless-base/test.jsonl.gz

Outputs (see tests/data/README.md):
  gsm8k/test.jsonl                      the first GSM8K_PROBLEMS lines, unchanged
  hh-rlhf/harmless-base-test.jsonl.gz   the first HH_RLHF_LINES lines, unchanged, gzip without
                                        a timestamp (so the bytes are reproducible)
  long_text/gsm8k_questions_NN.txt      every input problem's question, in input order, as
                                        hard-wrapped prose paragraphs, PROBLEMS_PER_FILE per file

The long text replaces an essay collection whose license did not allow shipping it: the
perplexity, tokenizer, embedding and needle-in-a-haystack tests and the retrieval/RAPID
benchmarks need tens of thousands of tokens of natural English, and GSM8K's questions are
human-written, varied and MIT-licensed.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))

# The input copies this data was made from. A different copy (e.g. upstream's full 1,319-line
# GSM8K test file) gives different long-text files, so the script refuses it unless told.
GSM8K_SHA256 = "5020a06ac8c7739794ddcb7391660a8d005ab5f9c800390fe7ce0b87f1753391"
HH_RLHF_SHA256 = "773acfab0dbda0a8df041cb6b83eccd69d127f70a3cdc3a196d3552bb706becd"

# Enough for every reader: the reward test checks every reference answer it finds, the
# tokenizer tests read 200 lines, the RSD/speculative/reward benches the first few dozen.
GSM8K_PROBLEMS = 250
# The CARDS bench takes the single-turn dialogues among these: 54 of the first 200 lines,
# enough for its default 10 prompts plus calibration prompts.
HH_RLHF_LINES = 200
PROBLEMS_PER_FILE = 100
WRAP_COLUMNS = 72


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_input(path, want, force):
    got = sha256(path)
    if got != want:
        msg = f"{path}: sha256 {got}, this data was made from {want}"
        if not force:
            sys.exit(msg + " (--force to build from it anyway)")
        print("warning: " + msg, file=sys.stderr)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    print(f"{os.path.relpath(path, HERE)}: {len(data)} bytes")


def paragraph(question):
    # Questions are single paragraphs; a few carry stray line breaks or double spaces.
    return textwrap.fill(" ".join(question.split()), width=WRAP_COLUMNS, break_long_words=False,
                         break_on_hyphens=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gsm8k", required=True, help="GSM8K test.jsonl")
    ap.add_argument("--hh-rlhf", required=True, help="HH-RLHF harmless-base test.jsonl.gz")
    ap.add_argument("--out", default=HERE, help="output folder (default: tests/data)")
    ap.add_argument("--force", action="store_true", help="build from inputs with other checksums")
    a = ap.parse_args()
    check_input(a.gsm8k, GSM8K_SHA256, a.force)
    check_input(a.hh_rlhf, HH_RLHF_SHA256, a.force)

    with open(a.gsm8k, "rb") as f:
        gsm_lines = f.read().splitlines(keepends=True)
    write(os.path.join(a.out, "gsm8k", "test.jsonl"), b"".join(gsm_lines[:GSM8K_PROBLEMS]))

    with gzip.open(a.hh_rlhf, "rb") as f:
        hh_lines = f.read().splitlines(keepends=True)[:HH_RLHF_LINES]
    buf = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of names and times.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as g:
        g.write(b"".join(hh_lines))
    write(os.path.join(a.out, "hh-rlhf", "harmless-base-test.jsonl.gz"), buf.getvalue())

    questions = [json.loads(line)["question"] for line in gsm_lines if line.strip()]
    for start in range(0, len(questions), PROBLEMS_PER_FILE):
        text = "\n\n".join(paragraph(q) for q in questions[start:start + PROBLEMS_PER_FILE]) + "\n"
        name = f"gsm8k_questions_{start // PROBLEMS_PER_FILE + 1:02d}.txt"
        write(os.path.join(a.out, "long_text", name), text.encode("utf-8"))


if __name__ == "__main__":
    main()
