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
# The plain public headers (errors, the API's data types, the tap, the capture selection) are the
# vocabulary every module shares.
VOCABULARY = {"dlmscope/error.h", "dlmscope/types.h", "dlmscope/tap.h", "dlmscope/selection.h"}
ALLOWED = {
    "core": {"core", "dlmscope/error.h"},
    "engine": {"core", "engine", "dlmscope/engine.h"} | VOCABULARY,
    "capture": {"core", "capture", "dlmscope/capture.h", "dlmscope/run.h"} | VOCABULARY,
    "analysis": {"core", "capture", "analysis", "dlmscope/analysis.h"} | VOCABULARY,
    "render": {"core", "capture", "analysis", "render", "dlmscope/analysis.h"} | VOCABULARY,
}
# The public headers belong to the module that implements them; the vocabulary includes nothing.
PUBLIC = {"error.h": set(), "types.h": set(), "tap.h": set(), "selection.h": set(),
          "engine.h": VOCABULARY, "capture.h": VOCABULARY, "run.h": VOCABULARY, "analysis.h": VOCABULARY}

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
    scan(os.path.join(root, "include", "dlmscope", f), allowed)

for b in bad:
    print("layering:", b)
print(f"{checked} includes checked, {len(bad)} across a forbidden boundary")
sys.exit(1 if bad else 0)
