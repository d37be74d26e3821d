#!/usr/bin/env python3
"""Summarise the attention structure of captured runs: per layer, the normalised entropy, the sink
mass (attention to the first token) and the local mass (|i - j| <= the report's local window),
averaged over heads, steps and runs, for every row of the canvas (report.json "metrics", row set "all").

usage: attention-summary.py LABEL=REPORT.json[,REPORT.json...] [LABEL=...] [--json OUT]
"""
import json
import sys

METRICS = [("entropy_norm", "normalised entropy"), ("mass_sink", "sink mass"), ("focus_local", "local mass")]


def layer_means(paths):
    acc, window = {}, None
    for p in paths:
        with open(p) as f:
            m = json.load(f)["metrics"]
        window = m["local_window"]
        for layer in m["layers"]:
            row = layer["rows"]["all"]
            for key, _ in METRICS:
                acc.setdefault(layer["layer"], {}).setdefault(key, []).append(row[key]["mean"])
    return {l: {k: sum(v) / len(v) for k, v in d.items()} for l, d in sorted(acc.items())}, window


def main(argv):
    out_json = None
    if "--json" in argv:
        i = argv.index("--json")
        out_json = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if not argv:
        sys.exit(__doc__)
    result = {}
    for spec in argv:
        label, _, files = spec.partition("=")
        layers, window = layer_means(files.split(","))
        overall = {k: sum(d[k] for d in layers.values()) / len(layers) for k, _ in METRICS}
        result[label] = {"runs": len(files.split(",")), "local_window": window, "layers": layers, "mean": overall}
    labels = list(result)
    w = max(10, *(len(l) + 2 for l in labels))
    span = w * len(labels)
    print(f"{'':<6}" + "".join(f"{name:>{span}}" for _, name in METRICS))
    print(f"{'layer':<6}" + "".join(f"{lab:>{w}}" for _ in METRICS for lab in labels))
    depth = max(len(r["layers"]) for r in result.values())
    for l in range(depth):
        cells = []
        for key, _ in METRICS:
            for lab in labels:
                v = result[lab]["layers"].get(l, {}).get(key)
                cells.append(f"{v:>{w}.3f}" if v is not None else f"{'-':>{w}}")
        print(f"{l:<6}" + "".join(cells))
    print(f"{'mean':<6}" + "".join(f"{result[lab]['mean'][key]:>{w}.3f}" for key, _ in METRICS for lab in labels))
    windows = {r["local_window"] for r in result.values()}
    print(f"(means over heads, steps and runs; every canvas row; local window |i-j| <= {', '.join(map(str, windows))})")
    if out_json:
        with open(out_json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main(sys.argv[1:])
