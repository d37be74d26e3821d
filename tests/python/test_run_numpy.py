#!/usr/bin/env python3
"""Reads a dlmscope run with numpy alone, guided only by its manifest, and recomputes the
capture statistics from the full per-head maps.

usage: test_run_numpy.py DLMSCOPE_BINARY MODEL_DIR WORK_DIR
Exits non-zero (with a message) on the first disagreement; prints 'N passed, 0 failed' at the end.
"""
import json
import os
import subprocess
import sys

import numpy as np

binary, model, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAIL: {what}")
        print(f"0 passed, 1 failed")
        sys.exit(1)
    checks += 1


# A run with every head in f32, so the statistics can be recomputed exactly from the maps.
subprocess.run([binary, "generate", "Why is the sky blue?", "--model", model, "--gen-length", "32", "--block-length", "16",
                "--steps", "8", "--visualize-attention", "--capture-heads", "all", "--capture-dtype", "f32",
                "--out", work, "--manifest", "run.json", "--overwrite", "-q"], check=True, stdout=subprocess.DEVNULL)

m = json.load(open(os.path.join(work, "run.json")))
check(m["format"] == "dlmscope-run" and m["version"] == 1, "format and version")
check(m["complete"] is True, "run complete")
P, L = m["prompt_length"], m["canvas_length"]
steps = m["params"]["steps"]
mask_id = m["params"]["mask_id"]

arrays = m["arrays"]
hist_entry = next(a for a in arrays if a["kind"] == "history")
history = np.load(os.path.join(work, hist_entry["file"]))
check(list(history.shape) == hist_entry["shape"] == [steps + 1, L], "history shape")
check(history.dtype == np.dtype(hist_entry["dtype"]), "history dtype")
check(history[-1, P:].tolist() == m["output_ids"], "output_ids = last canvas after the prompt")
check(history[0, :P].tolist() == m["prompt_ids"], "prompt_ids = first canvas before the prompt end")

stat_names = m["capture"]["stat_names"]
row_sets = m["capture"]["row_sets"]
window = m["capture"]["local_window"]
for step in range(steps):
    by_name = {a["name"]: a for a in arrays if a.get("step") == step}
    check(set(by_name) == {"canvas", "key_step", "stats", "attn"}, f"step {step} arrays indexed")
    z = np.load(os.path.join(work, by_name["attn"]["file"]))
    canvas, stats, attn = z["canvas"], z["stats"], z["attn"]
    # Without a cache every step recomputes every row, and every key is its own step's.
    check((z["key_step"] == step).all() and by_name["attn"]["query_rows"] == [0, L], f"step {step}: every row and key fresh")
    for name in ("canvas", "key_step", "stats", "attn"):
        check(list(z[name].shape) == by_name[name]["shape"] and z[name].dtype == np.dtype(by_name[name]["dtype"]),
              f"step {step} {name} shape/dtype as indexed")
    check((canvas == history[step]).all(), f"step {step} canvas = history row")
    check(np.allclose(attn.sum(-1), 1.0, atol=1e-5), f"step {step} rows sum to 1")
    # Recompute every statistic from the maps (float64).
    p = attn.astype(np.float64)                      # [layers, heads, L, L]
    masked = canvas == mask_id
    cls = np.where(masked, 2, np.where(np.arange(L) < P, 0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0.0).sum(-1)
    i = np.arange(L)
    local = (np.abs(i[:, None] - i[None, :]) <= window)
    per_row = {
        "entropy": ent,
        "max": p.max(-1),
        "self": np.diagonal(p, axis1=-2, axis2=-1),
        "inv_participation": 1.0 / (p ** 2).sum(-1),
        "local": (p * local).sum(-1),
        "mass_prompt": p[..., cls == 0].sum(-1),
        "mass_generated": p[..., cls == 1].sum(-1),
        "mass_masked": p[..., cls == 2].sum(-1),
        "mass_sink": p[..., 0],
    }
    rows = {"all": np.ones(L, bool), "generated": i >= P, "masked": masked}
    for r, rname in enumerate(row_sets):
        for s, sname in enumerate(stat_names):
            sel = rows[rname]
            want = per_row[sname][..., sel].mean(-1) if sel.any() else np.full(stats.shape[:2], np.nan)
            got = stats[:, :, r, s]
            ok = np.allclose(got, want, rtol=2e-5, atol=2e-6, equal_nan=True)
            check(ok, f"step {step} {rname}/{sname}: max diff {np.nanmax(np.abs(got - want)) if sel.any() else 'nan'}")

print(f"{checks} passed, 0 failed")
