"""Shared fixtures of the Python package's tests (run by CTest as python.pytest, or by hand:
PYTHONPATH=build/python DLMSCOPE_CLI=build/dlmscope /usr/bin/python3 -m pytest tests/python/api)."""

import json
import os

import numpy as np
import pytest

import dlmscope

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
FIXTURES = os.path.join(SOURCE, "tests", "fixtures")
TINY = os.path.join(FIXTURES, "mmada-tiny", "checkpoint")


@pytest.fixture(scope="session")
def tiny():
    """The fixture's tiny checkpoint, loaded once for the session."""
    return dlmscope.load(TINY)


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("DLMSCOPE_CLI") or os.path.join(SOURCE, "build", "dlmscope")
    if not os.path.exists(path):
        pytest.skip("the dlmscope CLI is not built (set DLMSCOPE_CLI)")
    return path


def t0():
    """The official run t0: prompt ids, settings and generated ids (fixtures/mmada-tiny/runs/t0)."""
    d = os.path.join(FIXTURES, "mmada-tiny", "runs", "t0")
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    a = meta["args"]
    return {"dir": d, "meta": meta, "prompt_ids": json.loads(a["prompt_ids"]),
            "params": dict(gen_length=a["gen_length"], block_length=a["block_length"], steps=a["steps"]),
            "generated": meta["generated_ids"][0], "history": np.load(os.path.join(d, "history.npy"))}
