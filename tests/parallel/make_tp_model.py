#!/usr/bin/env python3
"""Writes a small random llama or qwen2 GGUF model shaped for tensor-parallel tests.

Unlike tests/tools/make_tiny_model.py (4 heads of 16 dims), the dimensions here
split into 1, 2 and 4 ranks on quantization-block boundaries: 8 query heads
and 2 KV heads of 32 dims (grouped-query attention, KV heads replicated at
world size 4), n_embd 256, n_ff 512, and a 261-token vocabulary that needs
padding for 2 and 4 ranks. Column-parallel weights (Q/K/V, gate/up) use the
K-quants and 32-blocks; the row-parallel ones (attn_output, ffn_down) use
32-element blocks so that their column slices (64 and 128 columns at world
size 4) fall on block boundaries. --kquant-output makes attn_output Q4_K,
whose 256-element blocks cannot be split: the loader must refuse W > 1.

K-quant tensors are random bytes with small fp16 scales (gguf-py cannot
quantize K-quants); the engine only needs them to be valid blocks.

usage: make_tp_model.py --arch llama|qwen2 --out PATH [--seed N] [--kquant-output]
"""
import argparse

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import quants


def byte_tokens():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


def f16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8).reshape(-1, 2)


def kquant(rng, rows, cols, qtype):
    """Random valid K-quant blocks: random code bytes, small positive scales."""
    nb = cols // 256
    if qtype == T.Q4_K:
        blk = rng.integers(0, 256, size=(rows * nb, 144), dtype=np.uint8)
        blk[:, 0:2] = f16_bytes(rng.uniform(2e-4, 6e-4, rows * nb))
        blk[:, 2:4] = f16_bytes(rng.uniform(0.0, 6e-4, rows * nb))
    elif qtype == T.Q5_K:
        blk = rng.integers(0, 256, size=(rows * nb, 176), dtype=np.uint8)
        blk[:, 0:2] = f16_bytes(rng.uniform(1e-4, 3e-4, rows * nb))
        blk[:, 2:4] = f16_bytes(rng.uniform(0.0, 3e-4, rows * nb))
    elif qtype == T.Q6_K:
        blk = rng.integers(0, 256, size=(rows * nb, 210), dtype=np.uint8)
        blk[:, 208:210] = f16_bytes(rng.uniform(3e-5, 1e-4, rows * nb))
    else:
        raise ValueError(qtype)
    return blk.reshape(rows, -1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["llama", "qwen2"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--kquant-output", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    arch = args.arch
    n_layers, n_embd, n_ff, n_head, n_head_kv, head_dim = 2, 256, 512, 8, 2, 32
    tokens = byte_tokens() + ["Ġt", "he", "Ġthe", "in", "<|endoftext|>"]
    types = [1] * (len(tokens) - 1) + [3]
    vocab = len(tokens)

    w = gguf.GGUFWriter(args.out, arch)
    w.add_name(f"tp-{arch}")
    w.add_block_count(n_layers)
    w.add_context_length(1024)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(10000.0 if arch == "llama" else 1000000.0)
    w.add_layer_norm_rms_eps(1e-5 if arch == "llama" else 1e-6)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(["Ġ t", "h e", "Ġt he", "i n"])
    w.add_eos_token_id(vocab - 1)
    w.add_bos_token_id(vocab - 1)

    def mat(name, rows, cols, qtype, scale=None):
        if qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
            w.add_tensor(name, kquant(rng, rows, cols, qtype), raw_dtype=qtype)
            return
        scale = scale if scale is not None else 1.0 / np.sqrt(cols)
        data = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
        if qtype == T.F32:
            w.add_tensor(name, data)
        elif qtype == T.F16:
            w.add_tensor(name, data.astype(np.float16))
        else:
            w.add_tensor(name, quants.quantize(data, qtype), raw_dtype=qtype)

    def vec(name, n, mean, std):
        w.add_tensor(name, (mean + std * rng.standard_normal(n)).astype(np.float32))

    mat("token_embd.weight", vocab, n_embd, T.Q8_0, scale=1.0)
    vec("output_norm.weight", n_embd, 1.0, 0.1)
    if arch == "qwen2":
        mat("output.weight", vocab, n_embd, T.F16)
    for l in range(n_layers):
        p = f"blk.{l}."
        vec(p + "attn_norm.weight", n_embd, 1.0, 0.1)
        vec(p + "ffn_norm.weight", n_embd, 1.0, 0.1)
        mat(p + "attn_q.weight", n_head * head_dim, n_embd, T.Q4_K)
        mat(p + "attn_k.weight", n_head_kv * head_dim, n_embd, T.Q6_K)
        mat(p + "attn_v.weight", n_head_kv * head_dim, n_embd, T.Q5_K)
        mat(p + "attn_output.weight", n_embd, n_head * head_dim, T.Q4_K if args.kquant_output else T.Q8_0)
        mat(p + "ffn_gate.weight", n_ff, n_embd, T.Q4_0)
        mat(p + "ffn_up.weight", n_ff, n_embd, T.Q5_0)
        mat(p + "ffn_down.weight", n_embd, n_ff, T.Q4_1)
        if arch == "qwen2":
            vec(p + "attn_q.bias", n_head * head_dim, 0.0, 0.5)
            vec(p + "attn_k.bias", n_head_kv * head_dim, 0.0, 0.5)
            vec(p + "attn_v.bias", n_head_kv * head_dim, 0.0, 0.5)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
