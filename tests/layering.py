#!/usr/bin/env python3
"""Fails when a module includes one it may not (docs/architecture.md, "Modules and who may include whom").

usage: layering.py SOURCE_DIR

Reads every #include "..." under src/ and include/dlmscope/ and checks it against the table below:
the engine never sees capture, analysis or render (the CLI wires them through the tap); capture sees
the tap, not the engine; analysis and render read run directories only, never the engine. Prints each
offending line and exits 1, or prints the number of includes checked.
"""
import os
import re
import sys

# module -> modules (first path component of an include) it may include
ALLOWED = {
    "core": {"core"},
    "engine": {"core", "engine", "dlmscope/tap.h", "dlmscope/engine.h"},
    "capture": {"core", "capture", "dlmscope/tap.h", "dlmscope/capture.h"},
    "analysis": {"core", "capture", "analysis"},
    "render": {"core", "capture", "analysis", "render"},
}
# The public headers belong to the module that implements them.
PUBLIC = {"tap.h": {"core"}, "engine.h": ALLOWED["engine"], "capture.h": ALLOWED["capture"]}

root = sys.argv[1]
include = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
bad, checked = [], 0


def target(name):
    return name if name.startswith("dlmscope/") else name.split("/")[0]


def scan(path, allowed):
    global checked
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = include.match(line)
            if not m:
                continue
            checked += 1
            name = m.group(1)
            if "/" not in name:  # a file beside this one
                continue
            if target(name) not in allowed:
                bad.append(f"{os.path.relpath(path, root)}:{n}: includes \"{name}\"")


for module, allowed in ALLOWED.items():
    for d, _, files in os.walk(os.path.join(root, "src", module)):
        for f in files:
            if f.endswith((".h", ".cpp")):
                scan(os.path.join(d, f), allowed)
for f, allowed in PUBLIC.items():
    scan(os.path.join(root, "include", "dlmscope", f), allowed | {"dlmscope/tap.h"})

for b in bad:
    print("layering:", b)
print(f"{checked} includes checked, {len(bad)} across a forbidden boundary")
sys.exit(1 if bad else 0)
