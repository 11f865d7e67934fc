#!/usr/bin/python3
"""Writes the fuzzers' seed corpus (tests/fuzz/corpus/NAME/): a few small,
valid inputs per fuzzer so that libFuzzer starts from the interesting parts
of each format instead of finding the magic numbers first.

Usage: tests/fuzz/corpus/make_seeds.py [BUILD_DIR]  (the tandem.v1 Python
stubs come from BUILD_DIR/python; default build)."""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "build")
sys.path.insert(0, os.path.join(BUILD, "python"))


def write(name, file, data):
    os.makedirs(os.path.join(HERE, name), exist_ok=True)
    with open(os.path.join(HERE, name, file), "wb") as f:
        f.write(data)


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf():
    # GGUF v3: magic, version, tensor count, kv count; one string kv, one
    # u32 array kv; one F32 tensor [4] at offset 0; data aligned to 32.
    kv = gguf_string("general.architecture") + struct.pack("<I", 8) + gguf_string("llama")
    kv += gguf_string("a.arr") + struct.pack("<I", 9) + struct.pack("<IQ", 4, 3) + struct.pack("<3I", 1, 2, 3)
    tensor = gguf_string("t") + struct.pack("<I", 1) + struct.pack("<Q", 4) + struct.pack("<I", 0) + struct.pack("<Q", 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 2) + kv + tensor
    head += b"\0" * (-len(head) % 32)
    write("gguf", "tiny_f32.gguf", head + struct.pack("<4f", 1, 2, 3, 4))
    write("gguf", "empty.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 0))


def safetensors():
    header = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                         "b": {"dtype": "F16", "shape": [1, 2], "data_offsets": [8, 12]},
                         "__metadata__": {"format": "pt"}}).encode()
    write("safetensors", "two_tensors.safetensors",
          struct.pack("<Q", len(header)) + header + struct.pack("<2f", 1, 2) + b"\0\x3c\0\x3c")


def wordpiece():
    write("wordpiece", "ascii.txt", b"the abs, aab the")
    write("wordpiece", "unicode.txt", "caf\u00e9 \u7684\u2014 \u00c9t\u00e9 na\u00efve".encode())
    write("wordpiece", "controls.txt", b"a\tb\r\n\x00c  [CLS] [SEP]")


def service_request():
    from tandem.v1 import common_pb2, draft_pb2, generation_pb2, target_pb2
    vocab = 40  # the fuzzer's vocabulary is 1 + (first byte >> 2)
    head = lambda kind: bytes([((vocab - 1) << 2) | kind])
    v = target_pb2.VerifyRequest(session_id="s1", draft_tokens=[3, 7], greedy=False)
    sparse = v.draft_distributions.add().sparse
    sparse.token_ids.extend([3, 5])
    sparse.probs.extend([0.75, 0.25])
    dense = v.draft_distributions.add().dense
    dense.probs.extend([1.0 / vocab] * vocab)
    write("service_request", "verify.bin", head(0) + v.SerializeToString())
    p = draft_pb2.ProposeRequest(session_id="s1", accepted_count=2, next_token=4, gamma=4, append_tokens=[1, 2])
    write("service_request", "propose.bin", head(1) + p.SerializeToString())
    g = generation_pb2.GenerateRequest(request_id=b"r-1", prompt=b"Hello", strategy=b"speculative",
                                       max_tokens=16, stop=[b"\n\n"])
    g.params["gamma"] = b"4"
    g.sampling.temperature = 0.7
    g.sampling.top_k = 5
    g.sampling.top_p = 0.9
    write("service_request", "generate.bin", head(2) + g.SerializeToString())
    c = generation_pb2.GenerateRequest(request_id=b"r-2")
    m = c.messages.messages.add()
    m.role, m.content = b"user", "caf\u00e9?".encode()
    write("service_request", "chat.bin", head(3) + c.SerializeToString())


def session_handlers():
    # Scripts of calls for session_handlers_fuzzer.cc: records of
    # [op][selector][length u16 LE][request]; selector < 0x80 aims the call
    # at a session the script opened. Vocabulary 48, context 96.
    from tandem.v1 import common_pb2, draft_pb2, target_pb2

    def rec(op, msg, selector=0):
        b = msg.SerializeToString()
        return bytes([op, selector]) + struct.pack("<H", len(b)) + b

    t_open = target_pb2.TargetOpenSessionRequest(prompt_tokens=[5, 9, 11, 3])
    t_open.sampling.temperature = 0.8
    d_open = draft_pb2.DraftOpenSessionRequest(prompt_tokens=[5, 9, 11, 3], return_distributions=True)
    d_open.sampling.temperature = 0.8
    propose = draft_pb2.ProposeRequest(gamma=4)
    verify = target_pb2.VerifyRequest(draft_tokens=[7, 8, 2])
    for _ in range(3):
        row = verify.draft_distributions.add().sparse
        row.token_ids.extend([2, 7, 8])
        row.probs.extend([0.2, 0.5, 0.3])
    greedy = target_pb2.VerifyRequest(draft_tokens=[4, 4], greedy=True)
    write("session_handlers", "speculate.bin",
          rec(0, t_open) + rec(7, d_open) + rec(8, propose) + rec(1, verify) +
          rec(8, draft_pb2.ProposeRequest(accepted_count=1, next_token=6, gamma=2)) + rec(1, greedy) +
          rec(6, common_pb2.CloseSessionRequest()) + rec(9, common_pb2.CloseSessionRequest()))
    write("session_handlers", "fork_truncate.bin",
          rec(0, t_open) + rec(3, target_pb2.AppendRequest(tokens=[1, 2, 3], top_k=4)) +
          rec(5, target_pb2.ForkRequest(seed=7)) + rec(4, target_pb2.TruncateRequest(length=2), 1) +
          rec(2, target_pb2.StepRequest(num_tokens=5, return_logprobs=True), 1) +
          rec(4, target_pb2.TruncateRequest(length=200)))


gguf()
safetensors()
wordpiece()
service_request()
session_handlers()
