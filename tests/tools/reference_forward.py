#!/usr/bin/env python3
"""Independent float64 reference forward pass of a llama/qwen2 GGUF model.

Written from the Hugging Face formulation rather than ggml's: tensors are
dequantized with the `gguf` package (ggml's own reference dequantizers), the
llama Q/K rows that llama.cpp's converter permuted are permuted back to the
Hugging Face order, and rotary embedding uses the "rotate half" form. So the
engine's adjacent-pair rope for llama and half-split rope for qwen2 are checked,
not assumed.

usage: reference_forward.py MODEL.gguf TOKENS OUT [OUT_Q8]
  TOKENS: token sequences separated by ';', each comma-separated ids.
  OUT: binary file, per sequence int64 n, int64 vocab, then n*vocab float64
  logits (row i = distribution after token i). OUT_Q8: the same with the
  engine's activation quantization simulated (see act() below); both come
  from one pass over the weights.
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


# The q8 mode (OUT_Q8, or TANDEM_REF_Q8_ACTIVATIONS=1 for OUT) simulates, in
# float64, the engine's documented activation numerics (kernels/cpu/matmul.h, dot_kernels.h, the scalar
# quantizers in dot_scalar.cc): every matmul input row is rounded per block
# (32 for the 32-element weight types, 256 for the K-quants) with an fp32
# scale d = amax / 127, q = nearest-even(x * (1 / d)) computed in fp32,
# clamped to [-127, 127]; the product then sees q * d exactly (the integer
# dot with fused dequantization is exact up to fp32 accumulation). The KV
# cache is fp16. Weights still come dequantized by gguf.quants, so the
# forward pass stays independent of the engine's code.
Q8_ACT = os.environ.get("TANDEM_REF_Q8_ACTIVATIONS") == "1"


def act(x, block, q8):
    """The engine's 8-bit activation rounding of the rows of x (see above)."""
    if not q8 or block is None:
        return x
    xb = x.astype(np.float32).reshape(-1, block)
    d = np.abs(xb).max(axis=1, keepdims=True) / np.float32(127.0)  # fp32, as the kernels
    inv = np.zeros_like(d)
    np.divide(np.float32(1.0), d, out=inv, where=d != 0)
    q = np.clip(np.rint(xb * inv), -127, 127)  # rint: nearest, ties to even (std::nearbyint)
    return (q.astype(np.float64) * d.astype(np.float64)).reshape(x.shape)


def block_of(W, name):
    """The activation block of a weight's dot type; None: fp32 activations."""
    t = W.t[name].tensor_type.name
    if t in ("F32", "F16", "BF16"):
        return None
    return 256 if t.endswith("_K") else 32


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def forward(path, sequences, modes, return_hidden=False):
    """Logits [n_i x vocab] of every token sequence, for every mode (False:
    pure float64, True: with the engine's activation rounding simulated).
    All runs go through the layers in lock step so each weight is
    dequantized once."""
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
    group = n_head // n_head_kv

    inv = base ** (-np.arange(0, rope_dim, 2, dtype=np.float64) / rope_dim)
    if W.has("rope_freqs.weight"):
        inv = inv / W.get("rope_freqs.weight").reshape(-1)

    emb_t = W.t["token_embd.weight"]
    runs = []  # (q8, n, x, cos, sin, mask)
    for tokens in sequences:
        n = len(tokens)
        emb_rows = quants.dequantize(emb_t.data[np.asarray(tokens)], emb_t.tensor_type)
        x0 = np.asarray(emb_rows, dtype=np.float64).reshape(n, n_embd)
        ang = np.arange(n, dtype=np.float64)[:, None] * inv[None, :]
        cos = np.cos(np.concatenate([ang, ang], axis=-1))[:, None, :]  # n, 1, hd
        sin = np.sin(np.concatenate([ang, ang], axis=-1))[:, None, :]
        mask = np.triu(np.full((n, n), -np.inf), k=1)
        for q8 in modes:
            runs.append([q8, n, x0.copy(), cos, sin, mask])

    for l in range(n_layers):
        b = f"blk.{l}."
        an, fn = W.get(b + "attn_norm.weight"), W.get(b + "ffn_norm.weight")
        wq, wk, wv = W.get(b + "attn_q.weight"), W.get(b + "attn_k.weight"), W.get(b + "attn_v.weight")
        bq = W.get(b + "attn_q.bias").reshape(-1) if W.has(b + "attn_q.bias") else np.zeros(wq.shape[0])
        bk = W.get(b + "attn_k.bias").reshape(-1) if W.has(b + "attn_k.bias") else np.zeros(wk.shape[0])
        bv = W.get(b + "attn_v.bias").reshape(-1) if W.has(b + "attn_v.bias") else np.zeros(wv.shape[0])
        if arch == "llama":
            wq, bq = unpermute(wq, n_head), unpermute(bq, n_head)
            wk, bk = unpermute(wk, n_head_kv), unpermute(bk, n_head_kv)
        wo = W.get(b + "attn_output.weight")
        wg, wu, wd = W.get(b + "ffn_gate.weight"), W.get(b + "ffn_up.weight"), W.get(b + "ffn_down.weight")
        blk = {name: block_of(W, b + name + ".weight")
               for name in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")}
        for run in runs:
            q8, n, x, cos, sin, mask = run
            h = rms_norm(x, an, eps)
            # Each weight quantizes the activations for its own type's block.
            q = (act(h, blk["attn_q"], q8) @ wq.T + bq).reshape(n, n_head, head_dim)
            k = (act(h, blk["attn_k"], q8) @ wk.T + bk).reshape(n, n_head_kv, head_dim)
            v = (act(h, blk["attn_v"], q8) @ wv.T + bv).reshape(n, n_head_kv, head_dim)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if q8:  # the engine's KV cache is fp16
                k = k.astype(np.float16).astype(np.float64)
                v = v.astype(np.float16).astype(np.float64)
            out = np.empty((n, n_head, head_dim))
            for hh in range(n_head):
                g = hh // group
                s = q[:, hh, :] @ k[:, g, :].T / np.sqrt(head_dim) + mask
                s = np.exp(s - s.max(axis=-1, keepdims=True))
                s /= s.sum(axis=-1, keepdims=True)
                out[:, hh, :] = s @ v[:, g, :]
            x = x + act(out.reshape(n, -1), blk["attn_output"], q8) @ wo.T
            h = rms_norm(x, fn, eps)
            gate = act(h, blk["ffn_gate"], q8) @ wg.T
            up = act(h, blk["ffn_up"], q8) @ wu.T
            x = x + act(gate / (1.0 + np.exp(-gate)) * up, blk["ffn_down"], q8) @ wd.T
            run[2] = x

    out_name = "output.weight" if W.has("output.weight") else "token_embd.weight"
    out_t = W.t[out_name]
    onorm = W.get("output_norm.weight")
    hs = [act(rms_norm(run[2], onorm, eps), block_of(W, out_name), run[0]) for run in runs]
    rows = int(out_t.shape[1])
    logits = [np.empty((run[1], rows)) for run in runs]
    chunk = 16384  # dequantize the (possibly huge) output matrix in slices
    for r0 in range(0, rows, chunk):
        r1 = min(rows, r0 + chunk)
        wo = np.asarray(quants.dequantize(out_t.data[r0:r1], out_t.tensor_type), dtype=np.float64)
        wo = wo.reshape(r1 - r0, n_embd)
        for h, lg in zip(hs, logits):
            lg[:, r0:r1] = h @ wo.T
    if return_hidden:
        # The final normalized hidden state (what score heads read), before
        # the output projection's activation quantization.
        return logits, [rms_norm(run[2], onorm, eps) for run in runs]
    return logits  # sequence-major, then mode


def main():
    path, toks, out = sys.argv[1], sys.argv[2], sys.argv[3]
    out_q8 = sys.argv[4] if len(sys.argv) > 4 else None
    sequences = [[int(t) for t in seq.split(",") if t] for seq in toks.split(";") if seq.strip(",")]
    if out_q8 is not None:
        modes, files = [False, True], [out, out_q8]
    else:
        modes, files = [Q8_ACT], [out]
    logits = forward(path, sequences, modes)
    for m, name in enumerate(files):
        with open(name, "wb") as f:
            for si in range(len(sequences)):
                lg = logits[si * len(modes) + m]
                np.asarray(lg.shape, dtype="<i8").tofile(f)
                lg.astype("<f8").tofile(f)


if __name__ == "__main__":
    main()
