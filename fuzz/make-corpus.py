#!/usr/bin/python3
"""Writes the seed corpora of fuzz/corpus/<harness>/ from the test fixtures (run from the repo root).

Seeds are small on purpose (libFuzzer mutates small inputs faster): the real files where they are
small, cut-down or synthetic variants of them elsewhere. run-manifest's seeds are the manifests of
the synthetic run the harness writes itself (see fuzz-run-manifest.cpp); they are not made here.
"""
import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np

FIX = "tests/fixtures/mmada-tiny"
OUT = "fuzz/corpus"


def put(harness, name, data):
    os.makedirs(f"{OUT}/{harness}", exist_ok=True)
    with open(f"{OUT}/{harness}/{name}", "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# ---- safetensors: small files in the real layout (header of the fixture's shards, few tensors) ----
def safetensors(tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


shard = open(f"{FIX}/checkpoint/model-00001-of-00002.safetensors", "rb").read()
n = struct.unpack("<Q", shard[:8])[0]
real = json.loads(shard[8:8 + n])
norm = real["model.transformer.blocks.0.attn_norm.weight"]
b, e = norm["data_offsets"]
norm_bytes = shard[8 + n + b:8 + n + e]
put("safetensors", "bf16-norm", safetensors([("model.transformer.blocks.0.attn_norm.weight", "BF16", [64], norm_bytes)],
                                            {"format": "pt"}))
put("safetensors", "three-dtypes", safetensors([
    ("a.f32", "F32", [2, 3], np.arange(6, dtype="<f4").tobytes()),
    ("b.f16", "F16", [4], np.arange(4, dtype="<f2").tobytes()),
    ("c.bf16", "BF16", [1, 2, 2], bytes(8)),
    ("empty", "F32", [0, 5], b""),
    ("scalar", "F32", [], np.float32(1.5).tobytes()),
]))
put("safetensors", "header-only", safetensors([], {"format": "pt"}))
# The real header with the data cut off: every tensor's offsets point past the end.
put("safetensors", "real-header-truncated", shard[:8 + n + 256])

# ---- safetensors-index: the real index and variants over the same two shards ----
index = json.load(open(f"{FIX}/checkpoint/model.safetensors.index.json"))
put("safetensors-index", "real", json.dumps(index, indent=2))
one = {"weight_map": {k: v for k, v in index["weight_map"].items() if v.endswith("00001-of-00002.safetensors")}}
put("safetensors-index", "first-shard-only", json.dumps(one))
moved = {"metadata": {}, "weight_map": dict(index["weight_map"])}
moved["weight_map"]["model.transformer.ln_f.weight"] = "model-00002-of-00002.safetensors"  # listed in the wrong shard
put("safetensors-index", "wrong-shard", json.dumps(moved))
put("safetensors-index", "dot-paths", json.dumps({"weight_map": {k: "./" + v for k, v in index["weight_map"].items()}}))

# ---- config: the fixture's and the bundled model's configs, plus the variants the parser has paths for ----
cfg = json.load(open(f"{FIX}/checkpoint/config.json"))
put("config", "mmada-tiny", json.dumps(cfg, indent=2))
put("config", "mmada-fortunes", open("models/mmada-fortunes/config.json").read())
minimal = {k: cfg[k] for k in ("block_type", "rope", "d_model", "n_layers", "n_heads", "vocab_size")}
put("config", "minimal", json.dumps(minimal))
put("config", "mlp-ratio", json.dumps({**minimal, "mlp_ratio": 4, "multi_query_attention": True, "mask_token_id": 7,
                                       "embedding_size": cfg["vocab_size"] + 32, "rope_theta": 500000.0}))
put("config", "unsupported", json.dumps({**minimal, "clip_qkv": 8.0, "alibi": True}))

# ---- tokenizer-load: small tokenizer.json files, each followed by NUL and a text to encode ----
tok = json.load(open("models/mmada-tiny-random/tokenizer.json"))
text = "\0Hello, world! <|eot_id|> I'm caf\u00e9 123456 \U0001F600\n\n  x"
put("tokenizer-load", "mmada-tiny-random", json.dumps(tok, ensure_ascii=False) + text)
legacy = json.loads(json.dumps(tok))
legacy["model"]["merges"] = [" ".join(m) for m in tok["model"]["merges"]]
put("tokenizer-load", "string-merges", json.dumps(legacy, ensure_ascii=False) + text)
bl = json.loads(json.dumps(tok))
bl["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}
bl["model"]["unk_token"] = tok["model"]["vocab"] and next(iter(tok["model"]["vocab"]))
bl["model"]["fuse_unk"] = True
put("tokenizer-load", "byte-level-only-unk", json.dumps(bl, ensure_ascii=False) + text)
sp = json.loads(json.dumps(tok))
sp["pre_tokenizer"]["pretokenizers"].insert(0, {"type": "Split", "pattern": {"String": "."}, "behavior": "Isolated"})
put("tokenizer-load", "string-split", json.dumps(sp, ensure_ascii=False))

# ---- tokenizer-encode: first byte = options (bit 0 split_special, bits 1-2 template), then text ----
texts = []
for line in open(f"{FIX}/tokenizer/golden_tiny.jsonl"):
    r = json.loads(line)
    if r.get("kind") == "encode" and len(r["text"].encode()) < 300:
        texts.append(r["text"])
picked = texts[::max(1, len(texts) // 12)][:12]
for i, t in enumerate(picked):
    put("tokenizer-encode", f"golden-{i:02d}", bytes([i % 6]) + t.encode())
put("tokenizer-encode", "specials-llada", b"\x02  <|startoftext|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>  ")
put("tokenizer-encode", "specials-split-mmada", b"\x05<|eot_id|><think> x</think>")
put("tokenizer-encode", "invalid-utf8", b"\x00x\xf0\x9f\x98 \xc3\x28 \xed\xa0\x80 \xff end")


# ---- npy: numpy's own files, versions 1 and 2, every dtype the reader converts ----
def npy(arr, version=(1, 0)):
    f = io.BytesIO()
    np.lib.format.write_array(f, arr, version=version)
    return f.getvalue()


put("npy", "prompt-fixture", open(f"{FIX}/runs/llada-t0/prompt.npy", "rb").read())
put("npy", "f4-2d", npy(np.arange(6, dtype="<f4").reshape(2, 3)))
put("npy", "f2-v2", npy(np.arange(5, dtype="<f2"), (2, 0)))
put("npy", "i8", npy(np.array([1, -2, 3], dtype="<i8")))
put("npy", "i4-scalar", npy(np.array(7, dtype="<i4")))
put("npy", "u1-empty", npy(np.zeros((0, 3), dtype="|u1")))
put("npy", "b1", npy(np.array([True, False])))
put("npy", "f8-3d", npy(np.ones((2, 1, 2), dtype="<f8")))


# ---- npz: numpy.savez (stored) and savez_compressed (deflated), and an archive like the capture's ----
def npz(compressed, **arrays):
    f = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return f.getvalue()


canvas = np.array([1, 2, 3, 99, 99, 99], dtype="<i4")
stats = np.linspace(0, 1, 2 * 2 * 3 * 9, dtype="<f4").reshape(2, 2, 3, 9)
attn = np.full((2, 2, 6, 6), 1 / 6, dtype="<f2")
put("npz", "step-stored", npz(False, canvas=canvas, stats=stats, attn=attn))
put("npz", "step-deflated", npz(True, canvas=canvas, stats=stats, attn=attn))
put("npz", "one-member", npz(False, key_step=np.arange(6, dtype="<i4")))
put("npz", "empty", npz(False))

# ---- run-manifest: variants of `complete`, the manifest of the harness's synthetic run ----
# (`complete` and `incomplete` are that run's manifests, written by tools/synthetic-run.h with the
# spec of fuzz-run-manifest.cpp, complete and with 2 of its 4 steps.)
base = json.load(open(f"{OUT}/run-manifest/complete"))
cached = json.loads(json.dumps(base))
cached["params"]["cache"] = "prefix"
cached["steps_per_block"] = None
cached["capture"]["heads"] = "0,1"
for k, rec in enumerate(cached["steps"]):
    rec["kind"] = "full" if k % 2 == 0 else "prefix"
    rec["rows"] = [0, 12] if k % 2 == 0 else [4, 12]
    rec["audit"] = {"logits_max_abs": 0.01, "argmax_agree": 8, "argmax_rows": 8}
for a in cached["arrays"]:
    if a.get("step", 0) % 2 == 1 and a["kind"] in ("canvas", "stats", "attention"):
        a["query_rows"] = [4, 12]
    if a["kind"] == "attention":
        a["heads"] = "0,1"
cached["arrays"].append({"kind": "cache_drift", "file": "generation_with_attention/history.npy", "shape": [5, 12]})
cached["arrays"].append({"kind": "cache_drift_steps", "file": "generation_with_attention/history.npy", "shape": [5]})
put("run-manifest", "cached-list-heads", json.dumps(cached, separators=(",", ":")))
reordered = json.loads(json.dumps(base))
reordered["capture"]["stat_names"] = list(reversed(base["capture"]["stat_names"]))
reordered["capture"]["row_sets"] = list(reversed(base["capture"]["row_sets"]))
put("run-manifest", "reordered-names", json.dumps(reordered, separators=(",", ":")))
