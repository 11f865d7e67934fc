#!/usr/bin/env python3
"""Writes a tiny random llama or qwen2 GGUF model for the model unit tests.

Fixed seed, small dimensions, a mix of tensor types (F32 norms, F16, Q8_0,
Q4_0, Q4_1, Q5_0 matrices) and a byte-level BPE vocabulary (256 byte tokens,
a few merges, one control token) so the tokenizer loads. The llama variant
ties the output head to a Q8_0 token_embd (like SmolLM2) and carries a Llama 3
style rope_freqs.weight; the qwen2 variant has Q/K/V biases and an F16 output.

usage: make_tiny_model.py --arch llama|qwen2 --out PATH [--seed N] [--drop TENSOR]
                          [--reward-head score|dense] [--labels N] [--pooling N] [--requantize-q4-0]
  --drop leaves one tensor out (to test the loader's error).
  --requantize-q4-0 writes the layer matrices as tandem's load-time
    re-quantization to Q4_0 would hold them, for the bitwise test of it.
  --reward-head adds a llama.cpp classifier/reranker score head: "score" =
    cls.output.weight [n_embd -> labels] (F16) + cls.output.bias; "dense" also
    cls.weight [n_embd -> n_embd] (Q8_0) + cls.bias before it (tanh between).
  --pooling writes <arch>.pooling_type (3 = last, 4 = rank) with a head.
"""
import argparse

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import quants


def byte_tokens():
    # GPT-2's printable byte mapping: bytes that are printable map to
    # themselves, the rest to code points from 256 upward.
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["llama", "qwen2"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--drop", default="")
    ap.add_argument("--reward-head", choices=["none", "score", "dense"], default="none")
    ap.add_argument("--labels", type=int, default=1)
    ap.add_argument("--pooling", type=int, default=-1)
    ap.add_argument("--requantize-q4-0", action="store_true",
                    help="write every layer matrix (blk.*) whose Q4_0 rows are smaller as Q4_0, quantized from "
                         "its dequantized values (what tandem's ModelOptions::requantize does at load)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    arch = args.arch
    n_layers, n_embd, n_ff, n_head, n_head_kv = 2, 64, 128, 4, 2
    head_dim = n_embd // n_head
    tokens = byte_tokens()
    merges = ["Ġ t", "h e", "Ġt he", "i n"]
    tokens += ["Ġt", "he", "Ġthe", "in", "<|endoftext|>"]
    types = [1] * (len(tokens) - 1) + [3]
    vocab = len(tokens)

    w = gguf.GGUFWriter(args.out, arch)
    w.add_name(f"tiny-{arch}")
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
    w.add_token_merges(merges)
    w.add_eos_token_id(vocab - 1)
    w.add_bos_token_id(vocab - 1)

    def row_bytes(qtype, cols):
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        return cols // block * size

    def mat(name, rows, cols, qtype, scale=None):
        scale = scale if scale is not None else 1.0 / np.sqrt(cols)
        data = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
        if name == args.drop:
            return
        if args.requantize_q4_0 and name.startswith("blk.") and row_bytes(qtype, cols) > row_bytes(T.Q4_0, cols):
            stored = data.astype(np.float16).astype(np.float32) if qtype == T.F16 else (
                data if qtype == T.F32 else quants.dequantize(quants.quantize(data, qtype), qtype))
            w.add_tensor(name, quants.quantize(stored, T.Q4_0), raw_dtype=T.Q4_0)
        elif qtype == T.F32:
            w.add_tensor(name, data)
        elif qtype == T.F16:
            w.add_tensor(name, data.astype(np.float16))
        else:
            w.add_tensor(name, quants.quantize(data, qtype), raw_dtype=qtype)

    def vec(name, n, mean, std):
        v = (mean + std * rng.standard_normal(n)).astype(np.float32)
        if name != args.drop:
            w.add_tensor(name, v)

    mat("token_embd.weight", vocab, n_embd, T.Q8_0, scale=1.0)
    vec("output_norm.weight", n_embd, 1.0, 0.1)
    if arch == "qwen2":
        mat("output.weight", vocab, n_embd, T.F16)
    else:
        # Llama 3 style per-frequency rope factors (1 for high frequencies, up to 8).
        w.add_tensor("rope_freqs.weight", np.linspace(1.0, 8.0, head_dim // 2).astype(np.float32))
    for l in range(n_layers):
        p = f"blk.{l}."
        vec(p + "attn_norm.weight", n_embd, 1.0, 0.1)
        vec(p + "ffn_norm.weight", n_embd, 1.0, 0.1)
        mat(p + "attn_q.weight", n_head * head_dim, n_embd, T.Q8_0, scale=2.0 / np.sqrt(n_embd))
        mat(p + "attn_k.weight", n_head_kv * head_dim, n_embd, T.F16, scale=2.0 / np.sqrt(n_embd))
        mat(p + "attn_v.weight", n_head_kv * head_dim, n_embd, T.Q4_1)
        mat(p + "attn_output.weight", n_embd, n_head * head_dim, T.Q8_0)
        mat(p + "ffn_gate.weight", n_ff, n_embd, T.Q5_0)
        mat(p + "ffn_up.weight", n_ff, n_embd, T.Q4_0)
        mat(p + "ffn_down.weight", n_embd, n_ff, T.Q8_0)
        if arch == "qwen2":
            vec(p + "attn_q.bias", n_head * head_dim, 0.0, 0.5)
            vec(p + "attn_k.bias", n_head_kv * head_dim, 0.0, 0.5)
            vec(p + "attn_v.bias", n_head_kv * head_dim, 0.0, 0.5)

    # Drawn after every backbone tensor so that the backbone of a model with
    # a head is bit-identical to the one without (same seed).
    if args.reward_head != "none":
        if args.pooling >= 0:
            w.add_uint32(f"{arch}.pooling_type", args.pooling)
        if args.reward_head == "dense":
            mat("cls.weight", n_embd, n_embd, T.Q8_0)
            vec("cls.bias", n_embd, 0.0, 0.1)
        mat("cls.output.weight", args.labels, n_embd, T.F16)
        vec("cls.output.bias", args.labels, 0.0, 0.5)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
