"""A run written from Python equals the CLI's, file for file and bit for bit (but for the manifest's
clock readings and timings)."""

import hashlib
import json
import os
import subprocess

import pytest

from conftest import TINY, t0

VOLATILE = {"created", "timings"}


def files(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def manifest(path):
    with open(path) as f:
        m = json.load(f)
    for k in VOLATILE:
        m.pop(k, None)
    for s in m.get("steps", []):
        s.pop("forward_s", None)
    for k in ("tap_seconds", "write_seconds"):
        m.get("capture", {}).pop(k, None)
    return m


@pytest.mark.parametrize("extra", [[], ["--cache", "dual", "--cache-audit"]], ids=["plain", "dual-audit"])
def test_run_files_equal(tiny, cli, tmp_path, extra):
    run = t0()
    p = run["params"]
    ids = ",".join(str(i) for i in run["prompt_ids"])
    subprocess.run([cli, "generate", "--model", TINY, "--prompt-ids", ids, "--gen-length", str(p["gen_length"]),
                    "--block-length", str(p["block_length"]), "--steps", str(p["steps"]), "--seed", "0",
                    "--visualize-attention", "--capture-heads", "all", "--out", str(tmp_path / "cli"), "-q"] + extra,
                   check=True, capture_output=True)
    kw = dict(cache="dual", cache_audit=True) if extra else {}
    r = tiny.generate(prompt_ids=run["prompt_ids"], seed=0, visualize_attention=True, capture_heads="all",
                      out=str(tmp_path / "py"), **p, **kw)
    assert r["manifest"] == str(tmp_path / "py" / "generation_with_attention.json")
    a, b = files(tmp_path / "cli"), files(tmp_path / "py")
    m = "generation_with_attention.json"
    assert manifest(tmp_path / "cli" / m) == manifest(tmp_path / "py" / m)
    a.pop(m), b.pop(m)
    assert len(a) > 30 and a == b  # every .npz and .npy byte-identical
