#!/usr/bin/env python3
"""Float64 reference of a GGUF reward model's score (backbone + score head).

The hidden state comes from reference_forward.py (the independent float64
forward pass); the head is llama.cpp's classifier/reranker layout applied to
the last token's final normalized hidden state:
    h = tanh(cls.weight @ h + cls.bias)          (if cls.weight exists)
    y = cls.output.weight @ h + cls.output.bias  (if cls.output.weight exists)

usage: reward_head_reference.py MODEL.gguf TOKENS OUT
  TOKENS: sequences separated by ';', each comma-separated ids.
  OUT: per sequence int64 n_labels then n_labels float64 scores for the pure
  float64 forward, then the same for the forward with the engine's activation
  quantization simulated.
"""
import os
import sys

import numpy as np
from gguf import quants

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_forward as rf  # noqa: E402


def head(W, h):
    x = h
    if W.has("cls.weight"):
        b = W.get("cls.bias").reshape(-1) if W.has("cls.bias") else 0.0
        x = np.tanh(W.get("cls.weight") @ x + b)
    if W.has("cls.output.weight"):
        b = W.get("cls.output.bias").reshape(-1) if W.has("cls.output.bias") else 0.0
        x = W.get("cls.output.weight") @ x + b
    return np.atleast_1d(x)


def main():
    path, toks, out = sys.argv[1], sys.argv[2], sys.argv[3]
    sequences = [[int(t) for t in seq.split(",") if t] for seq in toks.split(";") if seq.strip(",")]
    _, hidden = rf.forward(path, sequences, [False, True], return_hidden=True)
    W = rf.Weights(path)
    with open(out, "wb") as f:
        for mode in range(2):
            for si in range(len(sequences)):
                y = head(W, hidden[si * 2 + mode][-1])
                np.asarray([len(y)], dtype="<i8").tofile(f)
                y.astype("<f8").tofile(f)


if __name__ == "__main__":
    main()
