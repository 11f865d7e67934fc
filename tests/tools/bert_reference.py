#!/usr/bin/env python3
"""Independent float64 reference for the BERT sentence embedder.

Reads model.safetensors with numpy directly (JSON header + raw little-endian
bytes; no torch, no transformers), tokenizes with Hugging Face `tokenizers`
(BertWordPieceTokenizer(vocab.txt, lowercase=True), truncated to
--max-tokens), runs the BERT encoder in float64 (post-LayerNorm layers, erf
GELU, padding-free per-sentence attention), mean-pools over the tokens and
L2-normalizes -- the sentence-transformers recipe of all-MiniLM-L6-v2.

Usage: bert_reference.py MODEL_DIR INPUT OUTPUT [--max-tokens N]
  INPUT: one text per line, hex-encoded UTF-8 (an empty line is the empty text).
  OUTPUT: int64 [n, dim] then n*dim float64 embeddings (row-major).
"""
import argparse
import json
import math
import os
import struct

import numpy as np
from tokenizers import BertWordPieceTokenizer

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16}


def load_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=np.dtype(DTYPES[t["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(t["shape"]).astype(np.float64)
    return out


def erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def embed(W, cfg, ids):
    H, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    D = H // heads
    eps = cfg.get("layer_norm_eps", 1e-12)
    n = len(ids)
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:n] \
        + W["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        lin = lambda v, name: v @ W[p + name + ".weight"].T + W[p + name + ".bias"]
        q = lin(x, "attention.self.query").reshape(n, heads, D).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(n, heads, D).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(n, heads, D).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(D)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, H)
        x1 = layer_norm(lin(ctx, "attention.output.dense") + x, W[p + "attention.output.LayerNorm.weight"],
                        W[p + "attention.output.LayerNorm.bias"], eps)
        h = lin(x1, "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
        x = layer_norm(lin(h, "output.dense") + x1, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    m = x.mean(axis=0)
    return m / max(np.linalg.norm(m), 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--max-tokens", type=int, default=512)
    a = ap.parse_args()
    with open(os.path.join(a.model_dir, "config.json")) as f:
        cfg = json.load(f)
    W = load_safetensors(os.path.join(a.model_dir, "model.safetensors"))
    tok = BertWordPieceTokenizer(os.path.join(a.model_dir, "vocab.txt"), lowercase=True)
    tok.enable_truncation(a.max_tokens)
    with open(a.input) as f:
        texts = [bytes.fromhex(line.rstrip("\n")).decode("utf-8") for line in f]
    rows = [embed(W, cfg, tok.encode(t).ids) for t in texts]
    out = np.array(rows, dtype=np.float64).reshape(len(texts), cfg["hidden_size"])
    with open(a.output, "wb") as f:
        f.write(np.array(out.shape, dtype=np.int64).tobytes())
        f.write(out.tobytes())


if __name__ == "__main__":
    main()
