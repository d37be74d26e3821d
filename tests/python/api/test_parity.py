"""The official fixtures through Python: the same tokens, canvases and attention as the reference."""

import json
import os

import numpy as np
import pytest

import dlmscope
from conftest import FIXTURES, t0


def test_t0_tokens_history_and_attention(tiny):
    run = t0()
    with dlmscope.AttentionHook(tiny, heads="all", steps="0,15,31") as hook:
        r = tiny.generate(prompt_ids=run["prompt_ids"], seed=0, **run["params"])
    P = len(run["prompt_ids"])
    assert r["canvas"][P:].tolist() == run["generated"]
    np.testing.assert_array_equal(r["history"], run["history"].reshape(r["history"].shape))
    maps = hook.get_attention_maps()
    assert sorted(maps) == [(s, l) for s in (0, 15, 31) for l in (0, 1)]
    for s in (0, 15, 31):
        official = np.load(os.path.join(run["dir"], f"attn_step{s}.npy"))  # [layers, batch, heads, L, L]
        for layer in (0, 1):
            diff = np.abs(maps[(s, layer)] - official[layer, 0])
            assert np.isfinite(maps[(s, layer)]).all() and diff.max() < 5e-6, (s, layer, diff.max())


@pytest.mark.parametrize("name", ["prefix", "dual", "none-thr0.2", "prefix-thr0.2", "dual-thr0.2"])
def test_fast_dllm_runs(tiny, name):
    d = os.path.join(FIXTURES, "fast-dllm-tiny", "runs", name)
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    prompt = np.load(os.path.join(d, "prompt.npy")).reshape(-1).tolist()
    kw = dict(meta["args"])
    kw.pop("cfg_scale", None)
    r = tiny.generate(prompt_ids=prompt, cache=meta["mode"], parallel_threshold=meta["threshold"] or 0.0, **kw)
    assert r["canvas"][len(prompt):].tolist() == np.asarray(meta["generated_ids"]).reshape(-1).tolist()
    hist = np.load(os.path.join(d, "history.npy"))
    np.testing.assert_array_equal(r["history"], hist.reshape(r["history"].shape))
