#!/usr/bin/env python3
"""Writes a small GGUF file that exercises tandem's reader and dequantizers.

Written with the `gguf` package's own GGUFWriter (ggml's reference writer), so
tandem's reader is checked against an independent encoder. Contents:
  * one metadata key per value type, at boundary values, plus arrays of every
    element type, a string array and a nested array (keys "test.*");
  * for every tensor type tandem dequantizes (except Q8_K, which gguf-py cannot
    dequantize), a tensor "<type>" of random blocks (fixed seed) and a float32
    tensor "<type>.expected" holding gguf.quants.dequantize() of it, the oracle
    the C++ test compares against bit for bit;
  * a 4-d F32 tensor to exercise shapes.
Usage: make_gguf_fixture.py OUT.gguf [--alignment N]
"""
import argparse

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

ROW_LEN = 512  # a multiple of every block size (32 and 256)
ROWS = 3

# Byte offsets of the fp16 scale fields in each block type; random bytes there
# could be inf/nan, which we avoid so comparisons are about the format, not NaN
# payload handling.
HALF_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def finite_halves(rng, n):
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    inf_or_nan = (bits & 0x7C00) == 0x7C00
    bits[inf_or_nan] &= 0xBFFF  # drop the top exponent bit: finite, still varied
    return bits


def quant_tensor(rng, qtype):
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = ROWS * ROW_LEN // block_elems
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint32).astype(np.uint8)
    for off in HALF_FIELDS[qtype]:
        raw[:, off:off + 2] = finite_halves(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(ROWS, -1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--alignment", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(20241126)

    w = gguf.GGUFWriter(args.out, arch="tandemtest")
    if args.alignment:
        w.add_custom_alignment(args.alignment)
    w.add_key_value("test.u8", 255, V.UINT8)
    w.add_key_value("test.i8", -128, V.INT8)
    w.add_key_value("test.u16", 65535, V.UINT16)
    w.add_key_value("test.i16", -32768, V.INT16)
    w.add_key_value("test.u32", 4294967295, V.UINT32)
    w.add_key_value("test.i32", -2147483648, V.INT32)
    w.add_key_value("test.f32", 3.25, V.FLOAT32)
    w.add_key_value("test.bool_true", True, V.BOOL)
    w.add_key_value("test.bool_false", False, V.BOOL)
    w.add_key_value("test.string", "h\u00e9llo \u2713 \U0001F600", V.STRING)
    w.add_key_value("test.u64", (1 << 64) - 1, V.UINT64)
    w.add_key_value("test.i64", -(1 << 63), V.INT64)
    w.add_key_value("test.f64", 3.141592653589793, V.FLOAT64)
    for name, vt, vals in [
        ("u8", V.UINT8, [0, 1, 255]), ("i8", V.INT8, [-128, 0, 127]),
        ("u16", V.UINT16, [0, 65535]), ("i16", V.INT16, [-32768, 32767]),
        ("u32", V.UINT32, [0, 4294967295]), ("i32", V.INT32, [-2147483648, 7]),
        ("u64", V.UINT64, [0, (1 << 64) - 1]), ("i64", V.INT64, [-(1 << 63), (1 << 63) - 1]),
        ("f32", V.FLOAT32, [0.5, -2.0, 1e30]), ("f64", V.FLOAT64, [0.1, -1e300]),
        ("bool", V.BOOL, [True, False, True]),
        ("string", V.STRING, ["a", "", "\u00fcber", "x" * 300]),
    ]:
        w.add_key_value(f"test.array_{name}", vals, V.ARRAY, sub_type=vt)
    w.add_key_value("test.array_nested", [[1, 2, 3], [4], [5, 6]], V.ARRAY)

    # Plain float types: random bits (bf16 all patterns; f16 without NaN).
    f32 = rng.standard_normal((ROWS, ROW_LEN)).astype(np.float32)
    f16_bits = finite_halves(rng, ROWS * ROW_LEN).reshape(ROWS, ROW_LEN)
    bf16_bits = rng.integers(0, 1 << 16, size=(ROWS, ROW_LEN), dtype=np.uint32).astype(np.uint16)
    plain = [
        ("f32", f32.view(np.uint8), T.F32),
        ("f16", f16_bits.view(np.uint8), T.F16),
        ("bf16", bf16_bits.view(np.uint8), T.BF16),
    ]
    tensors = list(plain)
    for qtype in HALF_FIELDS:
        tensors.append((qtype.name.lower(), quant_tensor(rng, qtype), qtype))
    for name, raw, qtype in tensors:
        w.add_tensor(name, raw, raw_dtype=qtype)
        expected = gguf.quants.dequantize(raw, qtype).astype(np.float32)
        assert expected.shape == (ROWS, ROW_LEN), (name, expected.shape)
        w.add_tensor(name + ".expected", expected)
    # ggml dims [8, 4, 3, 2] (numpy shape is reversed).
    w.add_tensor("shape4d", np.arange(2 * 3 * 4 * 8, dtype=np.float32).reshape(2, 3, 4, 8))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
