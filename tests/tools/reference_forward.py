#!/usr/bin/env python3
"""Independent float64 reference forward pass of a llama/qwen2 GGUF model.

Written from the Hugging Face formulation rather than ggml's: tensors are
dequantized with the `gguf` package (ggml's own reference dequantizers), the
llama Q/K rows that llama.cpp's converter permuted are permuted back to the
Hugging Face order, and rotary embedding uses the "rotate half" form. So the
engine's adjacent-pair rope for llama and half-split rope for qwen2 are checked,
not assumed.

usage: reference_forward.py MODEL.gguf TOKENS OUT
  TOKENS: comma-separated token ids. OUT: binary file, int64 n, int64 vocab,
  then n*vocab float64 logits (row i = distribution after token i).
"""
import os
import sys

import numpy as np
import gguf
from gguf import quants


class Weights:
    def __init__(self, path):
        self.r = gguf.GGUFReader(path)
        self.t = {t.name: t for t in self.r.tensors}
        self.f = self.r.fields

    def meta(self, key, default=None):
        if key not in self.f:
            return default
        return self.f[key].contents()

    def has(self, name):
        return name in self.t

    def get(self, name):
        t = self.t[name]
        a = quants.dequantize(t.data, t.tensor_type)
        a = np.asarray(a, dtype=np.float64)
        shape = [int(d) for d in reversed(t.shape)]  # numpy order: rows, cols
        return a.reshape(shape)


def unpermute(w, n_head):
    """Inverse of llama.cpp's convert permute: adjacent-pair rows -> half-split rows."""
    shape = w.shape
    hd = shape[0] // n_head
    return w.reshape(n_head, hd // 2, 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


# Diagnostic: TANDEM_REF_Q8_ACTIVATIONS=1 rounds every matmul input to Q8_0
# blocks the way ggml-style kernels quantize activations, to tell kernel
# numerics apart from real errors when the engine and the reference disagree.
Q8_ACT = os.environ.get("TANDEM_REF_Q8_ACTIVATIONS") == "1"


def act(x, block=32):
    """Symmetric 8-bit rounding per block: Q8_0 (32) for the 32-element weight
    types, Q8_K (256) for the K-quants, as ggml-style kernels do."""
    if not Q8_ACT:
        return x
    xb = x.reshape(-1, block)
    d = np.abs(xb).max(axis=1, keepdims=True) / 127.0
    d[d == 0] = 1.0
    if block == 32:  # Q8_0 stores its scale as fp16
        d = d.astype(np.float16).astype(np.float64)
    return (np.clip(np.round(xb / d), -127, 127) * d).reshape(x.shape)


def block_of(W, name):
    t = W.t[name]
    return 256 if t.tensor_type.name.endswith("_K") else 32


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def forward(path, tokens):
    W = Weights(path)
    arch = W.meta("general.architecture")
    p = arch + "."
    n_layers = W.meta(p + "block_count")
    n_embd = W.meta(p + "embedding_length")
    n_head = W.meta(p + "attention.head_count")
    n_head_kv = W.meta(p + "attention.head_count_kv", n_head)
    head_dim = W.meta(p + "attention.key_length", n_embd // n_head)
    rope_dim = W.meta(p + "rope.dimension_count", head_dim)
    base = W.meta(p + "rope.freq_base", 10000.0)
    eps = W.meta(p + "attention.layer_norm_rms_epsilon")
    assert rope_dim == head_dim, "reference supports full-head rope only"
    n = len(tokens)
    toks = np.asarray(tokens)

    emb_t = W.t["token_embd.weight"]
    emb_rows = quants.dequantize(emb_t.data[toks], emb_t.tensor_type)
    x = np.asarray(emb_rows, dtype=np.float64).reshape(n, n_embd)

    inv = base ** (-np.arange(0, rope_dim, 2, dtype=np.float64) / rope_dim)
    if W.has("rope_freqs.weight"):
        inv = inv / W.get("rope_freqs.weight").reshape(-1)
    ang = np.arange(n, dtype=np.float64)[:, None] * inv[None, :]
    cos = np.cos(np.concatenate([ang, ang], axis=-1))[:, None, :]  # n, 1, hd
    sin = np.sin(np.concatenate([ang, ang], axis=-1))[:, None, :]
    mask = np.triu(np.full((n, n), -np.inf), k=1)
    group = n_head // n_head_kv

    for l in range(n_layers):
        b = f"blk.{l}."
        h = rms_norm(x, W.get(b + "attn_norm.weight"), eps)
        wq, wk, wv = W.get(b + "attn_q.weight"), W.get(b + "attn_k.weight"), W.get(b + "attn_v.weight")
        bq = W.get(b + "attn_q.bias").reshape(-1) if W.has(b + "attn_q.bias") else np.zeros(wq.shape[0])
        bk = W.get(b + "attn_k.bias").reshape(-1) if W.has(b + "attn_k.bias") else np.zeros(wk.shape[0])
        bv = W.get(b + "attn_v.bias").reshape(-1) if W.has(b + "attn_v.bias") else np.zeros(wv.shape[0])
        if arch == "llama":
            wq, bq = unpermute(wq, n_head), unpermute(bq, n_head)
            wk, bk = unpermute(wk, n_head_kv), unpermute(bk, n_head_kv)
        ha = act(h, block_of(W, b + "attn_q.weight"))
        q = (ha @ wq.T + bq).reshape(n, n_head, head_dim)
        k = (ha @ wk.T + bk).reshape(n, n_head_kv, head_dim)
        v = (ha @ wv.T + bv).reshape(n, n_head_kv, head_dim)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if Q8_ACT:  # the engine's KV cache is fp16
            k = k.astype(np.float16).astype(np.float64)
            v = v.astype(np.float16).astype(np.float64)
        out = np.empty((n, n_head, head_dim))
        for hh in range(n_head):
            g = hh // group
            s = q[:, hh, :] @ k[:, g, :].T / np.sqrt(head_dim) + mask
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            out[:, hh, :] = s @ v[:, g, :]
        x = x + act(out.reshape(n, -1), block_of(W, b + "attn_output.weight")) @ W.get(b + "attn_output.weight").T
        h = rms_norm(x, W.get(b + "ffn_norm.weight"), eps)
        ha = act(h, block_of(W, b + "ffn_gate.weight"))
        gate = ha @ W.get(b + "ffn_gate.weight").T
        up = ha @ W.get(b + "ffn_up.weight").T
        x = x + act(gate / (1.0 + np.exp(-gate)) * up, block_of(W, b + "ffn_down.weight")) @ W.get(b + "ffn_down.weight").T

    out_name = "output.weight" if W.has("output.weight") else "token_embd.weight"
    h = act(rms_norm(x, W.get("output_norm.weight"), eps), block_of(W, out_name))
    out_t = W.t["output.weight"] if W.has("output.weight") else emb_t
    rows = int(out_t.shape[1])
    logits = np.empty((n, rows))
    chunk = 16384  # dequantize the (possibly huge) output matrix in slices
    for r0 in range(0, rows, chunk):
        r1 = min(rows, r0 + chunk)
        wo = np.asarray(quants.dequantize(out_t.data[r0:r1], out_t.tensor_type), dtype=np.float64)
        logits[:, r0:r1] = h @ wo.reshape(r1 - r0, n_embd).T
    return logits


def main():
    path, toks, out = sys.argv[1], sys.argv[2], sys.argv[3]
    tokens = [int(t) for t in toks.split(",") if t]
    logits = forward(path, tokens)
    with open(out, "wb") as f:
        np.asarray(logits.shape, dtype="<i8").tofile(f)
        logits.astype("<f8").tofile(f)


if __name__ == "__main__":
    main()
