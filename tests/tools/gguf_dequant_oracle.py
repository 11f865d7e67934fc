#!/usr/bin/env python3
"""Streams gguf-py's dequantization of a GGUF file's tensors to stdout.

The oracle for tandem's reader and dequantizers (tests/runtime/gguf/gguf_model_test.cc
reads this through a pipe, so nothing large touches the disk). For each tensor,
in file order, it writes one text line

    <name> <ggml type id> <absolute data offset> <n_dims> <dim0> .. <dimN-1> <n_rows> <n_sampled>\n

followed by n_sampled int64 row indices and n_sampled * dim0 float32 values
(little-endian), then a final "END\n". Rows are all rows when --max-rows is 0
or the tensor is small enough, else an evenly spaced sample that always includes
the first and last row.
Usage: gguf_dequant_oracle.py MODEL.gguf [--max-rows N]
"""
import argparse
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

CHUNK_ROWS = 2048  # bounds numpy's temporaries for large tensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--max-rows", type=int, default=0)
    args = ap.parse_args()
    out = sys.stdout.buffer
    reader = GGUFReader(args.model)
    for t in reader.tensors:
        dims = [int(d) for d in t.shape]  # ggml order: dims[0] is the row length
        n_rows = int(np.prod(dims[1:])) if len(dims) > 1 else 1
        raw = np.asarray(t.data).view(np.uint8).reshape(n_rows, -1)
        if args.max_rows and n_rows > args.max_rows:
            rows = np.unique(np.linspace(0, n_rows - 1, args.max_rows).round().astype(np.int64))
        else:
            rows = np.arange(n_rows, dtype=np.int64)
        header = [t.name, int(t.tensor_type), int(t.data_offset), len(dims), *dims, n_rows, len(rows)]
        out.write((" ".join(str(x) for x in header) + "\n").encode())
        out.write(rows.astype("<i8").tobytes())
        for start in range(0, len(rows), CHUNK_ROWS):
            sel = raw[rows[start:start + CHUNK_ROWS]]
            vals = dequantize(sel, t.tensor_type).astype("<f4", copy=False)
            assert vals.shape == (len(sel), dims[0]), (t.name, vals.shape)
            out.write(np.ascontiguousarray(vals).tobytes())
    out.write(b"END\n")
    out.flush()


if __name__ == "__main__":
    main()
