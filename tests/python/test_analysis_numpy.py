#!/usr/bin/env python3
"""Checks `dlmscope analyze` against an independent numpy computation.

usage: test_analysis_numpy.py DLMSCOPE_BINARY MODEL_DIR WORK_DIR

Generates runs with the real binary on the tiny model, analyses them, then recomputes every metric
of docs/metrics.md from the stored maps with numpy alone (float64) and compares it with
metrics.csv, report.json and rollout.npy. Also checks the head-mean and statistics-only runs, an
incomplete run and bad inputs through the CLI. Prints 'N passed, 0 failed' at the end; exits
non-zero with a message on the first disagreement.
"""
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-NaN columns (empty row sets) is expected

binary, model, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
checks = 0
RTOL, ATOL = 1e-4, 1e-6  # statistics are float32 sums in the capture; numpy recomputes in float64
ROWS = ("all", "generated", "masked")
METRICS = ("entropy", "entropy_norm", "density", "focus_self", "focus_local", "mass_prompt", "mass_generated",
           "mass_masked", "mass_sink", "step_change")


def check(cond, what):
    global checks
    if not cond:
        print(f"FAIL: {what}")
        print(f"{checks} passed, 1 failed")
        sys.exit(1)
    checks += 1


def close(a, b, what, rtol=RTOL, atol=ATOL):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    diff = np.nanmax(np.abs(a - b)) if a.shape == b.shape and np.isfinite(a - b).any() else "n/a"
    check(ok, f"{what}: max diff {diff} (shapes {a.shape} vs {b.shape})")


def generate(name, *extra):
    out = os.path.join(work, name)
    subprocess.run([binary, "generate", "Why is the sky blue?", "--model", model, "--gen-length", "32", "--block-length", "16",
                    "--steps", "8", "--visualize-attention", *extra, "--out", out, "-q"], check=True, stdout=subprocess.DEVNULL)
    return out


def analyze(run, name, *extra, ok=True):
    out = os.path.join(work, name)
    p = subprocess.run([binary, "analyze", "--input", run, "--output", out, *extra], capture_output=True, text=True)
    if ok:
        check(p.returncode == 0, f"analyze {name} exits 0 (stderr: {p.stderr.strip()})")
    return out, p


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    table = {}
    for r in rows:
        head = r["head"] if r["head"] == "mean" else int(r["head"])
        table[(int(r["step"]), int(r["layer"]), head, r["rows"])] = [float(r[m]) if r[m] != "" else math.nan for m in METRICS]
    return list(rows[0].keys()) if rows else [], table


def load_run(run):
    m = json.load(open(os.path.join(run, "generation_with_attention.json")))
    steps = {}
    for a in m["arrays"]:
        if a["kind"] in ("stats", "attention"):
            steps[a["step"]] = a
    data = {}
    for s in sorted(steps):
        z = np.load(os.path.join(run, steps[s]["file"]))
        data[s] = {k: z[k] for k in z.files}
        data[s]["entry"] = steps[s]
    return m, data


def row_metrics(p, canvas, P, mask_id, window=2):
    """Per-row metrics of p [..., R, L] with rows = canvas positions 0..L-1 (float64)."""
    L = p.shape[-1]
    i = np.arange(L)
    cls = np.where(canvas == mask_id, 2, np.where(i < P, 0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0.0).sum(-1)
    local = np.abs(i[:, None] - i[None, :]) <= window
    return {
        "entropy": ent,
        "entropy_norm": ent / np.log(L),
        "density": (1.0 / (p ** 2).sum(-1)) / L,
        "focus_self": np.diagonal(p, axis1=-2, axis2=-1),
        "focus_local": (p * local).sum(-1),
        "mass_prompt": p[..., cls == 0].sum(-1),
        "mass_generated": p[..., cls == 1].sum(-1),
        "mass_masked": p[..., cls == 2].sum(-1),
        "mass_sink": p[..., 0],
    }


def js(p, q):
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(p / m), 0.0).sum(-1)
        b = np.where(q > 0, q * np.log(q / m), 0.0).sum(-1)
    return 0.5 * a + 0.5 * b


def row_sets(canvas, P, mask_id):
    L = len(canvas)
    return {"all": np.ones(L, bool), "generated": np.arange(L) >= P, "masked": canvas == mask_id}


def numbers_are_numbers(node, path="report"):
    """No number hides in a string: every string outside the text fields must not parse as a float."""
    text_keys = {"text", "prompt", "prompt_text", "text_with_special", "manifest", "path", "error", "note", "reason",
                 "definition", "chosen_steps", "source", "maps", "heads", "pairs", "layer_selection", "visualizations",
                 "file", "report", "metrics", "rollout", "generator", "schema", "map_dtype", "commit_source"}
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str) and k not in text_keys:
                try:
                    float(v)
                    return f"{path}.{k} = {v!r} is a string"
                except ValueError:
                    pass
            bad = numbers_are_numbers(v, f"{path}.{k}")
            if bad:
                return bad
    elif isinstance(node, list):
        for k, v in enumerate(node):
            bad = numbers_are_numbers(v, f"{path}[{k}]")
            if bad:
                return bad
    return None


# ---- run A: every head in f32; every metric recomputed from the maps ------------------------------
runA = generate("runA", "--capture-heads", "all", "--capture-dtype", "f32")
outA, _ = analyze(runA, "outA", "--max-tokens", "7")
m, data = load_run(runA)
rep = json.load(open(os.path.join(outA, "report.json")))
cols, table = read_csv(os.path.join(outA, "metrics.csv"))
P, L, mask_id = m["prompt_length"], m["canvas_length"], m["params"]["mask_id"]
H, NL = m["model"]["config"]["n_heads"], m["model"]["config"]["n_layers"]
steps = sorted(data)
layers = data[steps[0]]["entry"]["layers"]
check(cols == ["step", "layer", "head", "rows", *METRICS], f"metrics.csv columns {cols}")
check(len(table) == len(steps) * len(layers) * (H + 1) * 3, f"metrics.csv has {len(table)} rows")
check(rep["schema"] == "dlmscope-report" and rep["schema_version"] == 1, "report schema")
check(numbers_are_numbers(rep) is None, f"numbers are numbers: {numbers_are_numbers(rep)}")
check(rep["metadata"]["prompt_length"] == P and rep["metadata"]["canvas_length"] == L, "metadata lengths")
check(rep["options"]["visualizations"] in ("enabled", "disabled"), "visualizations recorded")

# metrics.csv: every (step, layer, head, rows) against numpy.
per_head_steps = {}  # (layer, rows, metric) -> [steps, heads]
prev = None
for k, s in enumerate(steps):
    canvas, attn = data[s]["canvas"], data[s]["attn"].astype(np.float64)  # [layers, heads, L, L]
    sets = row_sets(canvas, P, mask_id)
    rm = row_metrics(attn, canvas, P, mask_id)
    if prev is not None:
        rm["step_change"] = js(attn, prev)
    for li, layer in enumerate(layers):
        for rname in ROWS:
            sel = sets[rname]
            want = np.full((H, len(METRICS)), np.nan)
            for mi, name in enumerate(METRICS):
                if name in rm and sel.any():
                    want[:, mi] = rm[name][li][:, sel].mean(-1)
            got = np.array([table[(s, layer, h, rname)] for h in range(H)])
            close(got, want, f"step {s} layer {layer} rows {rname} per-head metrics")
            close(table[(s, layer, "mean", rname)], np.nanmean(want, 0) if sel.any() else np.full(len(METRICS), np.nan),
                  f"step {s} layer {layer} rows {rname} head mean")
            for mi, name in enumerate(METRICS):
                per_head_steps.setdefault((layer, rname, name), []).append(want[:, mi])
    prev = attn

# report.json per-layer summaries: per-head mean over steps, then aggregated over heads.
for entry in rep["metrics"]["layers"]:
    layer = entry["layer"]
    for rname in ROWS:
        for name in METRICS:
            v = np.array(per_head_steps[(layer, rname, name)])  # [steps, heads]
            per = np.nanmean(v, 0)
            s = entry["rows"][rname][name]
            got_per = np.array([np.nan if x is None else x for x in s["per_head"]])
            close(got_per, per, f"layer {layer} {rname} {name} per_head")
            if np.isfinite(per).any():
                close([s["mean"], s["min"], s["max"], s["std"]], [np.nanmean(per), np.nanmin(per), np.nanmax(per), np.nanstd(per)],
                      f"layer {layer} {rname} {name} aggregate")
                check(s["argmax_head"] == int(np.nanargmax(per)), f"layer {layer} {rname} {name} argmax head")

# Token influence: column means of the head-mean maps, averaged over steps and layers.
mean_maps = {s: data[s]["attn"].astype(np.float64).mean(1) for s in steps}  # [layers, L, L]
infl = np.mean([mean_maps[s][li].mean(0) for s in steps for li in range(len(layers))], 0)
ti = rep["token_influence"]
check(ti["available"], "token influence available")
for region, lo, hi in (("prompt", 0, P), ("generated", P, L)):
    order = lo + np.argsort(-infl[lo:hi], kind="stable")
    got = ti[region]
    check(len(got) == min(7, hi - lo), f"{region} ranking has --max-tokens entries")
    check([g["position"] for g in got] == order[:7].tolist(), f"{region} ranking order")
    close([g["influence"] for g in got], infl[order[:7]], f"{region} influence values")
    check(all(g["text"] == m["tokens"][g["position"]] for g in got), f"{region} ranking texts are the manifest's tokens")

# Cross-attention: from the maps and from the statistics, which must agree.
g2p = np.mean([mean_maps[s][li][P:, :P].sum(-1).mean() for s in steps for li in range(len(layers))])
p2g = np.mean([mean_maps[s][li][:P, P:].sum(-1).mean() for s in steps for li in range(len(layers))])
ca = rep["cross_attention"]
close([ca["generated_to_prompt"]["maps"], ca["generated_to_prompt"]["statistics"]], [g2p, g2p], "generated->prompt")
close([ca["prompt_to_generated"]["maps"], ca["prompt_to_generated"]["statistics"]], [p2g, p2g], "prompt->generated")

# Rollout at the last step of each block.
spb = m["steps_per_block"]
roll_steps = [s for s in steps if data[s]["entry"]["step_in_block"] == spb - 1]
rollout = np.load(os.path.join(outA, "rollout.npy"))
check(rep["rollout"]["available"] and [e["step"] for e in rep["rollout"]["steps"]] == roll_steps, "rollout steps")
check(rollout.shape == (len(roll_steps), L, L), f"rollout.npy shape {rollout.shape}")
for k, s in enumerate(roll_steps):
    R = np.eye(L)
    for li in range(len(layers)):
        A = 0.5 * mean_maps[s][li] + 0.5 * np.eye(L)
        A /= A.sum(-1, keepdims=True)
        R = A @ R
    close(rollout[k], R, f"rollout at step {s}")
    close(rep["rollout"]["steps"][k]["generated_to_prompt"], R[P:, :P].sum(-1).mean(), f"rollout generated->prompt at step {s}")
    check(np.allclose(R.sum(-1), 1.0), "rollout rows sum to 1")

# Diffusion views: decode order, attention at the commit step, mass on masked keys.
dec = rep["diffusion"]["decode_order"]
conf = {p: c for st in m["steps"] for p, c in zip(st["positions"], st["confidences"])}
check(len(dec) == L - P, "every generated position in the decode order")
check([d["step"] for d in dec] == sorted(d["step"] for d in dec), "decode order sorted by step")
check(all(d["step"] == m["commit_step"][d["position"]] for d in dec), "decode order steps = commit_step")
close([d["confidence"] for d in dec], [conf[d["position"]] for d in dec], "decode order confidences")
rows = rep["diffusion"]["commit_attention"]["rows"]
check(len(rows) == L - P, "attention at the commit step for every generated position")
for r in rows:
    s, i = r["commit_step"], r["position"]
    check(data[s]["canvas"][i] == mask_id, f"position {i} was masked in the canvas of its commit step {s}")
    for li, e in enumerate(r["layers"]):
        p = data[s]["attn"][li][:, i, :].astype(np.float64)  # [heads, L]
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(p > 0, p * np.log(p), 0.0).sum(-1).mean()
        cls = np.where(data[s]["canvas"] == mask_id, 2, np.where(np.arange(L) < P, 0, 1))
        mean_row = p.mean(0)
        close([e["entropy"], e["mass_prompt"], e["mass_masked"], e["focus_self"]],
              [ent, mean_row[cls == 0].sum(), mean_row[cls == 2].sum(), mean_row[i]], f"commit row of {i} layer {e['layer']}")
        top = np.argsort(-mean_row, kind="stable")[: len(e["top_keys"])]
        check([t["position"] for t in e["top_keys"]] == top.tolist(), f"commit row of {i} layer {e['layer']} top keys")
mm = rep["diffusion"]["masked_mass"]
for k, s in enumerate(steps):
    stats = data[s]["stats"]  # [layers, heads, 3, 9]
    close(mm["rows"]["all"][k], stats[:, :, 0, 7].astype(np.float64).mean(1), f"masked mass at step {s}")
    check(mm["masked_keys"][k] == int((data[s]["canvas"] == mask_id).sum()), f"masked keys at step {s}")

# Statistics: coverage and bytes.
st = rep["statistics"]
check(st["coverage"]["statistics_fraction"] == 1.0 and st["coverage"]["maps_fraction"] == 1.0, "full coverage")
files = {a["file"] for a in m["arrays"]}
check(st["bytes"]["arrays_on_disk"] == sum(os.path.getsize(os.path.join(runA, f)) for f in files), "bytes on disk")
check(st["bytes"]["capture_raw_bytes"] == m["capture"]["raw_bytes"], "raw bytes from the manifest")
close(st["capture_overhead"]["tap_fraction"], m["capture"]["tap_seconds"] / m["timings"]["generate_s"], "capture overhead")

# ---- run B: the default capture (head-mean f16 maps) ----------------------------------------------
runB = generate("runB")
outB, _ = analyze(runB, "outB", "--max-layers", "1", "--no-visualizations")
mB, dataB = load_run(runB)
repB = json.load(open(os.path.join(outB, "report.json")))
_, tableB = read_csv(os.path.join(outB, "metrics.csv"))
stepsB = sorted(dataB)
check({k[1] for k in tableB} == {0}, "--max-layers 1 analyses the first layer only")
check(not repB["rollout"]["available"] and "--max-layers" in repB["rollout"]["reason"], "no rollout over part of the layers")
check(repB["options"]["visualizations"] == "disabled", "--no-visualizations recorded")
check(repB["metrics"]["step_change"]["source"] == "head_mean_maps", "step change from head-mean maps")
for k in range(1, len(stepsB)):
    s, sp = stepsB[k], stepsB[k - 1]
    d = js(dataB[s]["attn"][0, 0].astype(np.float64), dataB[sp]["attn"][0, 0].astype(np.float64))
    sets = row_sets(dataB[s]["canvas"], mB["prompt_length"], mB["params"]["mask_id"])
    for rname in ROWS:
        want = d[sets[rname]].mean() if sets[rname].any() else math.nan
        close(tableB[(s, 0, "mean", rname)][9], want, f"head-mean step change at step {s} rows {rname}")
        check(all(math.isnan(tableB[(s, 0, h, rname)][9]) for h in range(H)), "per-head step change empty with mean maps")

# ---- run C: statistics only ------------------------------------------------------------------------
runC = generate("runC", "--capture-heads", "none")
outC, _ = analyze(runC, "outC")
repC = json.load(open(os.path.join(outC, "report.json")))
_, tableC = read_csv(os.path.join(outC, "metrics.csv"))
check(not repC["token_influence"]["available"] and not repC["rollout"]["available"], "statistics only: no map views")
check(all(math.isnan(v[9]) for v in tableC.values()), "statistics only: step change empty")
check(all(not math.isnan(v[0]) for v in tableC.values()), "statistics only: entropy present")

# ---- an incomplete run: the last two steps lost, no history ----------------------------------------
runD = os.path.join(work, "runD")
shutil.copytree(runA, runD)
mD = json.load(open(os.path.join(runD, "generation_with_attention.json")))
mD["complete"] = False
mD["error"] = "killed by test"
mD["arrays"] = [a for a in mD["arrays"] if a.get("step", -1) < steps[-2]]
for key in ("commit_step", "steps", "tokens", "output_ids", "text", "timings"):
    mD.pop(key, None)
json.dump(mD, open(os.path.join(runD, "generation_with_attention.json"), "w"))
outD, p = analyze(runD, "outD")
check("warning" in p.stderr and "incomplete" in p.stderr and "killed by test" in p.stderr, f"incomplete run warns: {p.stderr}")
repD = json.load(open(os.path.join(outD, "report.json")))
check(repD["statistics"]["captures"]["steps"] == len(steps) - 2, "incomplete run: the steps present are analysed")
check(repD["diffusion"]["commit_source"] == "canvases", "incomplete run: commit steps from the canvases")
check(all(d["step"] == m["commit_step"][d["position"]] for d in repD["diffusion"]["decode_order"]), "derived commit steps")

# ---- run F: prefix cache, every head f32, audited: provenance and drift through the files ------------
runF = generate("runF", "--cache", "prefix", "--cache-audit", "--capture-heads", "all", "--capture-dtype", "f32")
outF, _ = analyze(runF, "outF", "--format", "svg,pdf")
mF = json.load(open(os.path.join(runF, "generation_with_attention.json")))
repF = json.load(open(os.path.join(outF, "report.json")))
_, tableF = read_csv(os.path.join(outF, "metrics.csv"))
records = {r["step"]: r for r in mF["steps"]}
# Without a threshold a cached block still takes its 4 scheduled steps: the full forward, then 3 cached.
check(mF["steps_per_block"] == 4 and mF["block_steps"] == [4, 4], f"schedule: {mF['steps_per_block']} {mF['block_steps']}")
check([r["kind"] for r in mF["steps"]] == ["full", "prefix", "prefix", "prefix"] * 2, "forward kinds")
zF = {}
for a in mF["arrays"]:
    if a["kind"] == "key_step":
        zF[a["step"]] = (np.load(os.path.join(runF, a["file"])), a)
prevF = None
prov = {e["step"]: e for e in repF["cache"]["captured_steps"]}
for st in sorted(zF):
    z, entry = zF[st]
    q0, q1 = entry["query_rows"]
    rec = records[st]
    check([q0, q1] == rec["rows"], f"step {st}: query_rows {entry['query_rows']} == the record's rows {rec['rows']}")
    ks = z["key_step"]
    fresh = np.zeros(len(ks), bool)
    fresh[q0:q1] = True
    check((ks[fresh] == st).all() and (ks[~fresh] < st).all(), f"step {st}: key_step marks the recomputed columns")
    check(prov[st]["cached_keys"] == int((~fresh).sum()), f"step {st}: report cached_keys")
    # Maps over the whole canvas with NaN for the rows not recomputed; metrics over recomputed rows only.
    attn = np.full((len(entry["layers"]), H, len(ks), len(ks)), np.nan)
    attn[:, :, q0:q1] = z["attn"].astype(np.float64)
    check(z["attn"].shape[2] == q1 - q0, f"step {st}: only the recomputed rows are stored")
    canvas = z["canvas"]
    sets = {k: v & fresh for k, v in row_sets(canvas, P, mask_id).items()}
    rm = row_metrics(np.nan_to_num(attn), canvas, P, mask_id)
    if prevF is not None:
        rm["step_change"] = js(attn, prevF)
    for li, layer in enumerate(entry["layers"]):
        for rname in ROWS:
            sel = sets[rname]
            want = np.full((H, len(METRICS)), np.nan)
            for mi, name in enumerate(METRICS):
                if name in rm and sel.any():
                    want[:, mi] = np.nanmean(rm[name][li][:, sel], -1)
            got = np.array([tableF[(st, layer, h, rname)] for h in range(H)])
            close(got, want, f"cached step {st} layer {layer} rows {rname} per-head metrics")
    prevF = attn
# The drift table against cache_drift.npy (mean over heads).
drift_entry = next(a for a in mF["arrays"] if a["kind"] == "cache_drift")
drift = np.load(os.path.join(runF, drift_entry["file"]))
dsteps = np.load(os.path.join(runF, next(a["file"] for a in mF["arrays"] if a["kind"] == "cache_drift_steps")))
check(list(dsteps) == [r["step"] for r in mF["steps"] if r["kind"] != "full"], "every cached step is audited")
check(drift_entry["stat_names"] == ["l1_mean", "l1_max", "js_mean"], "drift stat names")
with open(os.path.join(outF, "cache_drift.csv"), newline="") as f:
    drows = list(csv.DictReader(f))
check(len(drows) == len(dsteps) * NL, f"cache_drift.csv rows {len(drows)}")
for r in drows:
    k, layer = list(dsteps).index(int(r["step"])), int(r["layer"])
    close([float(r["l1_mean"]), float(r["js_mean"]), float(r["l1_max"])],
          [drift[k, layer, :, 0].mean(), drift[k, layer, :, 2].mean(), drift[k, layer, :, 1].max()], f"drift step {r['step']} layer {layer}")
check(repF["cache"]["drift"]["available"] and repF["cache"]["mode"] == "prefix", "report cache section")
# --format svg,pdf: the whole default set in each format, listed in the report (the drift figure too).
vis = repF["visualizations"]
stems = {os.path.splitext(f)[0] for f in vis["figures"]}
check(vis["formats"] == ["svg", "pdf"], f"formats {vis['formats']}")
check(sorted(vis["figures"]) == sorted([s + e for s in stems for e in (".svg", ".pdf")]), "each figure in both formats")
check("figures/cache_drift" in stems and all(os.path.getsize(os.path.join(outF, f)) > 0 for f in vis["figures"]), "drift figure, files written")

# ---- bad inputs through the CLI ---------------------------------------------------------------------
def fails(what, run, *needles):
    _, p = analyze(run, "bad", ok=False)
    check(p.returncode != 0, f"{what}: non-zero exit")
    check(all(n in p.stderr for n in needles), f"{what}: message names {needles}: {p.stderr.strip()}")


fails("missing input", os.path.join(work, "nope"), "does not exist", "nope")
runE = os.path.join(work, "runE")
shutil.copytree(runA, runE)
mE = json.load(open(os.path.join(runE, "generation_with_attention.json")))
mE["version"] = 99
json.dump(mE, open(os.path.join(runE, "generation_with_attention.json"), "w"))
fails("unknown version", runE, "version 99 is not supported", "generation_with_attention.json")
mE["version"] = 1
json.dump(mE, open(os.path.join(runE, "generation_with_attention.json"), "w"))
victim = os.path.join(runE, next(a["file"] for a in mE["arrays"] if a.get("step") == 3))
with open(victim, "r+b") as f:
    f.truncate(os.path.getsize(victim) // 2)
fails("truncated npz", runE, "step 3", os.path.basename(victim), "truncated")
os.remove(victim)
fails("missing arrays file", runE, "step 3", "missing", os.path.basename(victim))

print(f"{checks} passed, 0 failed")
