#!/usr/bin/env python3
"""Checks tandem's layering from the #include lines of its C++ sources.

The layers, outermost first: cli -> services -> decoding -> runtime -> kernels
(proto/ is the services' contract: only services and cli may include its
generated headers). A file may include its own layer and the layers below
it, never one above. Inside services/, the role folders (draft, target,
reward, retrieval, orchestrator, model_host, common) must not form an
include cycle. sdk/ (the client SDKs) is a client of proto/: it includes no
tandem layer, except its build-time generator of typed strategy options
(sdk/cpp/gen/), which reads decoding/registry/. Prints every violation and
exits 1 if there is one.

Usage: tools/check_layers.py [REPO_ROOT]
"""
import collections
import os
import re
import sys

LAYERS = ["kernels", "runtime", "decoding", "services", "cli"]  # lowest first
RANK = {name: i for i, name in enumerate(LAYERS)}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCE_EXTS = (".h", ".cc", ".cu", ".cuh", ".inc")
SDK_GENERATOR = "sdk/cpp/gen/"


def layer_of_include(path):
    top = path.split("/", 1)[0]
    if top == "tandem" or path.endswith((".pb.h", ".grpc.pb.h")):
        return "proto"
    return top if top in RANK else None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    errors = []
    service_edges = collections.defaultdict(set)
    for layer in LAYERS:
        for dirpath, _, files in os.walk(os.path.join(root, layer)):
            for name in files:
                if not name.endswith(SOURCE_EXTS):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for inc in INCLUDE.findall(text):
                    target = layer_of_include(inc)
                    if target is None:
                        continue
                    if target == "proto":
                        if RANK[layer] < RANK["services"]:
                            errors.append(f"{rel}: includes generated proto header {inc} ({layer}/ must stay "
                                          "protobuf-free)")
                        continue
                    if RANK[target] > RANK[layer]:
                        errors.append(f"{rel}: includes {inc} ({layer}/ may not depend on {target}/)")
                    if layer == "services" and target == "services":
                        src = rel.split(os.sep)[1]
                        dst = inc.split("/")[1]
                        if src != dst:
                            service_edges[src].add(dst)
    for dirpath, _, files in os.walk(os.path.join(root, "sdk")):
        for name in files:
            if not name.endswith(SOURCE_EXTS):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                target = layer_of_include(inc)
                if target is None or target == "proto":
                    continue
                if rel.replace(os.sep, "/").startswith(SDK_GENERATOR) and inc.startswith("decoding/registry/"):
                    continue
                errors.append(f"{rel}: includes {inc} (sdk/ is a client: proto/ and its own headers only)")
    # Cycles between service folders (depth-first search for a back edge).
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(service_edges.get(node, ())):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                errors.append("services/ include cycle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(service_edges):
        if node not in state:
            visit(node, [])
    for e in errors:
        print(e)
    print(f"layers: {len(errors)} violation(s)" if errors else "layers: ok (" + " -> ".join(reversed(LAYERS)) + ")")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
