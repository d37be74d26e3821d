#!/usr/bin/env python3
"""CLI checks that need to read what `dlmscope generate --save-history` wrote.

    check-run.py generate DLMSCOPE MODEL FIXTURE_RUN OUT [--old-spellings | --text | --backend=NAME |
                                                         --native-weights | --model-from-env]
        Runs the fixture run's generation through the real binary (prompt ids from meta.json, or
        with --text the fixture's question through the default chat template), then checks: exit
        0, nothing on stderr (-q), stdout is the fixture's decoded text, and the manifest
        OUT/generation_with_attention.json is complete with output_ids == meta.json's
        generated_ids and prompt_ids == meta.json's prompt ids.
        --old-spellings uses --prompt_ids --gen_length --block_length --cfg_scale --save_history.
        --backend=NAME runs on that kernel backend (f32 precision) and checks the manifest names it;
        exit 77 (a CTest skip) when this CPU cannot run it. --native-weights keeps the weights in their
        stored dtype (--weights native); --model-from-env gives the model through $DLMSCOPE_MODEL.

    check-run.py fast DLMSCOPE MODEL FAST_RUN OUT
        Runs a Fast-dLLM fixture run (fixtures/fast-dllm-tiny/runs/NAME) through the binary with its
        --cache / --parallel-threshold, capturing every head in f32, then checks with numpy (exit 77
        without it): output_ids, one record per forward with its kind, rows and commits, block_steps,
        history.npy == the fixture's, and at each captured forward the stored rows, key_step
        (cached columns older than the step, recomputed ones equal to it) and the attention of the
        recomputed rows against the fixture's within 5e-6.

    check-run.py numpy OUT FIXTURE_RUN
        Loads OUT's history array with numpy (exit 77, a CTest skip, without numpy): its shape is
        the manifest's arrays entry and [steps + 1, L], and it equals the fixture's history.npy.

Standard library only, apart from numpy in the second mode.
"""
import json
import os
import subprocess
import sys

MANIFEST = "generation_with_attention.json"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def load_meta(run):
    with open(os.path.join(run, "meta.json")) as f:
        return json.load(f)


def load_manifest(out):
    with open(os.path.join(out, MANIFEST)) as f:
        return json.load(f)


def generate(dlmscope, model, run, out, variant):
    meta = load_meta(run)
    a = meta["args"]
    prompt_ids = meta["fixture"]["prompt_ids"]
    ids = ",".join(str(i) for i in prompt_ids)
    old = variant == "--old-spellings"
    env = dict(os.environ)
    if variant == "--model-from-env":
        cmd = [dlmscope, "generate"]
        env["DLMSCOPE_MODEL"] = model
    else:
        cmd = [dlmscope, "generate", "--model", model]
    if variant == "--native-weights":
        cmd += ["--weights", "native"]
    if variant == "--text":
        cmd += [meta["fixture"]["question"]]
    else:
        cmd += ["--prompt_ids" if old else "--prompt-ids", ids]
    backend = variant[len("--backend="):] if variant.startswith("--backend=") else None
    if backend:
        cmd += ["--backend", backend]
    cmd += [
        "--gen_length" if old else "--gen-length", str(a["gen_length"]),
        "--block_length" if old else "--block-length", str(a["block_length"]),
        "--steps", str(a["steps"]),
        "--cfg_scale" if old else "--cfg-scale", str(a["cfg_scale"]),
        "--temperature", str(a["temperature"]),
        "--remasking", a["remasking"],
        "--save_history" if old else "--save-history",
        "--out", out, "-q",
    ]
    print("running:", " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stdout, stderr = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    print("exit status:", p.returncode)
    print("stderr:", stderr)
    if backend and p.returncode != 0 and "which this CPU does not have" in stderr:
        print(f"skipped: backend {backend} does not run on this CPU")
        sys.exit(77)
    check(p.returncode == 0, f"exit status {p.returncode}, expected 0")
    check(stderr == "", "stderr is not empty under -q")
    want_text = meta["fixture"]["generated_text_skip_special"][0]
    check(stdout == want_text + "\n", f"stdout {stdout!r} is not the fixture's text {want_text!r}")
    if p.returncode != 0:
        return

    m = load_manifest(out)
    want_ids = meta["generated_ids"][0]
    check(m.get("complete") is True, "manifest is not complete")
    check(m.get("output_ids") == want_ids, f"output_ids {m.get('output_ids')} != meta.json generated_ids {want_ids}")
    check(m.get("prompt_ids") == prompt_ids, f"prompt_ids {m.get('prompt_ids')} != meta.json prompt ids {prompt_ids}")
    check(m.get("prompt_length") == meta["prompt_len"], "prompt_length differs from meta.json prompt_len")
    check(m.get("canvas_length") == meta["seq_len"], "canvas_length differs from meta.json seq_len")
    params = m.get("params", {})
    for key in ("gen_length", "block_length", "steps"):
        check(params.get(key) == a[key], f"params.{key} = {params.get(key)}, expected {a[key]}")
    check(m.get("num_blocks") == meta["num_blocks"], "num_blocks differs from meta.json")
    check(m.get("steps_per_block") == meta["steps_per_block"], "steps_per_block differs from meta.json")
    check(len(m.get("steps", [])) == a["steps"], "manifest has not one record per step")
    if backend:
        check(params.get("backend") == backend, f"params.backend = {params.get('backend')}, expected {backend}")
        check(params.get("precision") == "f32", f"params.precision = {params.get('precision')}, expected f32")


def history_numpy(out, run):
    try:
        import numpy as np
    except ImportError:
        print("skipped: numpy is not installed")
        sys.exit(77)
    meta = load_meta(run)
    m = load_manifest(out)
    entries = [e for e in m.get("arrays", []) if e.get("name") == "history" or e.get("kind") == "history"]
    check(len(entries) == 1, f"expected one history entry in arrays, found {len(entries)}")
    if not entries:
        return
    e = entries[0]
    h = np.load(os.path.join(out, e["file"]))
    steps, L = m["params"]["steps"], m["canvas_length"]
    print("history.npy:", h.shape, h.dtype, "manifest entry:", e)
    check(list(h.shape) == e["shape"], f"shape {list(h.shape)} != manifest arrays entry {e['shape']}")
    check(list(h.shape) == [steps + 1, L], f"shape {list(h.shape)} != [steps + 1, L] = {[steps + 1, L]}")
    check(str(h.dtype) == "int32", f"dtype {h.dtype}, expected int32 (<i4)")
    check(h[-1].tolist() == m["prompt_ids"] + m["output_ids"], "last row is not prompt + output")
    ref = np.load(os.path.join(run, "history.npy"))  # [T+1, B, L] int64 from the official code
    check(ref.shape[0] == h.shape[0] and ref.shape[2] == h.shape[1], f"fixture history {ref.shape} vs {h.shape}")
    if ref.shape[0] == h.shape[0] and ref.shape[2] == h.shape[1]:
        diff = np.argwhere(ref[:, 0, :] != h)
        check(len(diff) == 0, f"history differs from the fixture's at [step, position] {diff[:5].tolist()}")


def fast(dlmscope, model, run, out):
    try:
        import numpy as np
    except ImportError:
        print("skipped: numpy is not installed")
        sys.exit(77)
    meta = load_meta(run)
    with open(os.path.join(run, "forwards.json")) as f:
        forwards = json.load(f)
    a = meta["args"]
    prompt = np.load(os.path.join(run, "prompt.npy"))[0].tolist()
    cmd = [dlmscope, "generate", "--model", model, "--prompt-ids", ",".join(str(i) for i in prompt),
           "--gen-length", str(a["gen_length"]), "--block-length", str(a["block_length"]), "--steps", str(a["steps"]),
           "--cache", meta["mode"], "--visualize-attention", "--capture-heads", "all", "--capture-dtype", "f32",
           "--out", out, "-q"]
    if meta["threshold"] is not None:
        cmd += ["--parallel-threshold", str(meta["threshold"])]
    print("running:", " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    print("exit status:", p.returncode, "stderr:", p.stderr.decode("utf-8", "replace"))
    check(p.returncode == 0, f"exit status {p.returncode}, expected 0")
    if p.returncode != 0:
        return
    m = load_manifest(out)
    check(m.get("complete") is True, "manifest is not complete")
    check(m.get("output_ids") == meta["generated_ids"], f"output_ids {m.get('output_ids')} != {meta['generated_ids']}")
    check(m["params"].get("cache") == meta["mode"], f"params.cache = {m['params'].get('cache')}")
    check(m.get("total_steps") == meta["nfe"], f"total_steps {m.get('total_steps')} != nfe {meta['nfe']}")
    check(m.get("block_steps") == meta["forwards_per_block"], f"block_steps {m.get('block_steps')} != {meta['forwards_per_block']}")
    steps = m.get("steps", [])
    check(len(steps) == len(forwards), f"{len(steps)} step records, {len(forwards)} forwards")
    for s, f in zip(steps, forwards):
        got = (s["kind"], s["rows"], len(s["positions"]))
        want = (f["kind"], [f["row_offset"], f["row_offset"] + f["n_rows"]], f["commits"])
        check(got == want, f"step {s['step']}: (kind, rows, commits) {got} != {want}")
    arrays = {(e["step"], e["name"]): e for e in m["arrays"] if "step" in e}
    hist = [e for e in m["arrays"] if e.get("kind") == "history"][0]
    h = np.load(os.path.join(out, hist["file"]))
    ref = np.load(os.path.join(run, "history.npy"))[:, 0, :]
    check(h.shape == ref.shape and (h == ref).all(), f"history {h.shape} differs from the fixture's {ref.shape}")
    for k in meta["captured_forwards"]:
        f = forwards[k]
        q0, q1 = f["row_offset"], f["row_offset"] + f["n_rows"]
        e = arrays.get((k, "attn"))
        check(e is not None, f"forward {k}: no attention stored")
        if e is None:
            continue
        check(e["query_rows"] == [q0, q1], f"forward {k}: query_rows {e['query_rows']} != {[q0, q1]}")
        check(e["rows"] == [q0, q1], f"forward {k}: stored rows {e['rows']} != the recomputed {[q0, q1]}")
        z = np.load(os.path.join(out, e["file"]))
        ks = z["key_step"]
        fresh = np.zeros(len(ks), bool)
        fresh[q0:q1] = True
        check((ks[fresh] == k).all() and (ks[~fresh] < k).all(),
              f"forward {k}: key_step {ks.tolist()} (recomputed rows must be {k}, cached ones older)")
        want = np.load(os.path.join(run, f"attn_step{k}.npy"))[:, 0]  # [layers, H, n_rows, L]
        attn = z["attn"]
        check(attn.shape == want.shape, f"forward {k}: attention shape {attn.shape} != {want.shape}")
        if attn.shape == want.shape:
            d = float(np.abs(attn - want).max())
            print(f"forward {k}: attention max |diff| {d:.2e}")
            check(d < 5e-6, f"forward {k}: attention differs by {d}")


def main():
    mode = sys.argv[1]
    if mode == "fast":
        fast(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif mode == "generate":
        variant = sys.argv[6] if len(sys.argv) > 6 else ""
        generate(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], variant)
    elif mode == "numpy":
        history_numpy(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"check-run.py: unknown mode {mode}")
    print("FAIL" if failures else "PASS")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
