#!/usr/bin/env python3
"""Independent reference for the tokenizer tests, run once per test binary.

Builds a Hugging Face `tokenizers` BPE tokenizer from the vocabulary, merges
and token types stored in a GGUF file (read by a small metadata reader in this file), with the
pre-tokenizer the model was trained with, and renders chat templates with
jinja2 the way transformers' apply_chat_template does.

Input: one request per line, "<op> <hex utf-8 text>":
  E1 / E0        encode with special tokens parsed / not parsed -> ids
  Pgpt2 Psmollm Pllama-bpe Pqwen2   pre-tokenizer pieces -> hex pieces
  T              hex of JSON {"messages": [...], "add_generation_prompt": bool}
                 -> hex of the rendered template, or "ERR <message>"
Output: one line per request, in order.
Usage: hf_oracle.py --input IN --output OUT [--gguf MODEL.gguf]
"""
import argparse
import json
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

# The split patterns from the models' own tokenizer.json files.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_level_inverse():
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cps = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            cps.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, cps)}


BYTE_INV = byte_level_inverse()


def make_pre_tokenizer(kind):
    if kind in ("gpt2", "default"):
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), True
    if kind == "smollm":
        return pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]), True
    pattern = {"llama-bpe": LLAMA3_PATTERN, "qwen2": QWEN2_PATTERN}[kind]
    split = pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)
    return split, False


def full_pre_tokenizer(kind):
    pre, byte_level = make_pre_tokenizer(kind)
    if byte_level:
        return pre
    return pre_tokenizers.Sequence([pre, pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                  use_regex=False)])


def pieces(kind, text, cache={}):
    if kind not in cache:
        cache[kind] = make_pre_tokenizer(kind)
    pre, byte_level = cache[kind]
    out = []
    for piece, _ in pre.pre_tokenize_str(text):
        raw = bytes(BYTE_INV[c] for c in piece) if byte_level else piece.encode("utf-8")
        out.append(raw.hex())
    return " ".join(out)


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}


def read_gguf_metadata(path):
    """The metadata key/values of a GGUF v2/v3 file. A small reader of our own:
    gguf.GGUFReader also indexes every array element and takes ~15 s on a
    150K-token vocabulary; this one reads only the metadata, in ~1 s."""
    import mmap
    import struct
    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, buf, pos)[0]
        pos += struct.calcsize(fmt)
        return v

    def string():
        nonlocal pos
        n = take("<Q")
        v = bytes(buf[pos:pos + n]).decode("utf-8")
        pos += n
        return v

    def value(vtype):
        if vtype == 8:
            return string()
        if vtype == 9:
            etype, count = take("<I"), take("<Q")
            return [value(etype) for _ in range(count)]
        return take(_SCALARS[vtype])

    if bytes(buf[0:4]) != b"GGUF":
        raise SystemExit(f"hf_oracle: {path} is not a GGUF file")
    pos = 4
    version = take("<I")
    if version < 2:
        raise SystemExit(f"hf_oracle: GGUF v{version} not supported")
    take("<Q")  # tensor count
    kv_count = take("<Q")
    meta = {}
    for _ in range(kv_count):
        key = string()
        meta[key] = value(take("<I"))
    return meta


class GgufModel:
    """Builds the reference tokenizer lazily: template requests do not need it."""

    def __init__(self, path):
        self.meta = read_gguf_metadata(path)
        self._tok = None
        self.template = self.scalar("tokenizer.chat_template")
        bos, eos = self.scalar("tokenizer.ggml.bos_token_id"), self.scalar("tokenizer.ggml.eos_token_id")
        tokens = self.meta["tokenizer.ggml.tokens"]
        self.bos = tokens[bos] if bos is not None else ""
        self.eos = tokens[eos] if eos is not None else ""

    def scalar(self, name):
        return self.meta.get(name)

    def strings(self, name):
        return self.meta[name]

    @property
    def tok(self):
        if self._tok is None:
            self._tok = self.build_tokenizer()
        return self._tok

    def build_tokenizer(self):
        tokens = self.strings("tokenizer.ggml.tokens")
        types = self.meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)
        merges = [tuple(m.split(" ", 1)) for m in self.strings("tokenizer.ggml.merges")]
        pre = self.scalar("tokenizer.ggml.pre") or "default"
        vocab = {t: i for i, t in enumerate(tokens)}
        # Bytes missing from the vocabulary become the GGUF's unknown token.
        unk = self.scalar("tokenizer.ggml.unknown_token_id")
        bpe = models.BPE(vocab=vocab, merges=merges, ignore_merges=(pre == "llama-bpe"),
                         unk_token=tokens[unk] if unk is not None else None)
        tok = Tokenizer(bpe)
        tok.pre_tokenizer = full_pre_tokenizer(pre)
        tok.decoder = decoders.ByteLevel()
        # Control tokens are special (parsed only on request); user-defined
        # tokens are plain added tokens, always matched.
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                for t, ty in zip(tokens, types) if ty in (2, 3)])
        tok.add_tokens([AddedToken(t, special=False, normalized=False)
                        for t, ty in zip(tokens, types) if ty == 4])
        return tok

    def encode(self, text, parse_special):
        self.tok.encode_special_tokens = not parse_special
        return " ".join(str(i) for i in self.tok.encode(text, add_special_tokens=False).ids)

    def render(self, request, template=None):
        from jinja2.exceptions import TemplateError
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message):
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=[loopcontrols])
        env.globals["raise_exception"] = raise_exception
        compiled = env.from_string(template or self.template)
        try:
            text = compiled.render(messages=request["messages"],
                                   add_generation_prompt=request["add_generation_prompt"],
                                   bos_token=self.bos, eos_token=self.eos)
            return text.encode("utf-8").hex()
        except Exception as e:  # the C++ side must fail too
            return "ERR " + type(e).__name__


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--gguf")
    args = ap.parse_args()
    model = GgufModel(args.gguf) if args.gguf else None
    with open(args.input, encoding="ascii") as f_in, open(args.output, "w") as f_out:
        for line in f_in:
            op, _, payload = line.rstrip("\n").partition(" ")
            text = bytes.fromhex(payload).decode("utf-8")
            if op in ("E0", "E1"):
                f_out.write(model.encode(text, op == "E1") + "\n")
            elif op.startswith("P"):
                f_out.write(pieces(op[1:], text) + "\n")
            elif op == "T":
                req = json.loads(text)
                f_out.write(model.render(req, req.get("template")) + "\n")
            else:
                sys.exit(f"hf_oracle: unknown op {op!r}")


if __name__ == "__main__":
    main()
