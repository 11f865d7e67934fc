#!/usr/bin/env python3
"""Token ids from Hugging Face `tokenizers` for the WordPiece tests:
BertWordPieceTokenizer(vocab.txt, lowercase=True), [CLS] ... [SEP], truncated
to --max-tokens.

Usage: wordpiece_oracle.py VOCAB INPUT OUTPUT [--max-tokens N]
  INPUT: one text per line, hex-encoded UTF-8 (an empty line is the empty text).
  OUTPUT: one line per text, the ids separated by spaces.
"""
import argparse

from tokenizers import BertWordPieceTokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vocab")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--max-tokens", type=int, default=512)
    a = ap.parse_args()
    tok = BertWordPieceTokenizer(a.vocab, lowercase=True)
    tok.enable_truncation(a.max_tokens)
    with open(a.input) as f:
        texts = [bytes.fromhex(line.rstrip("\n")).decode("utf-8") for line in f]
    with open(a.output, "w") as out:
        for t in texts:
            out.write(" ".join(str(i) for i in tok.encode(t).ids) + "\n")


if __name__ == "__main__":
    main()
