"""What Python users expect: exceptions with the CLI's messages, an engine that survives them, the
GIL released, Ctrl-C, quiet when not a terminal, no leaks, numpy's BLAS threads untouched."""

import ctypes
import gc
import json
import os
import resource
import signal
import threading
import time

import numpy as np
import pytest

import dlmscope
from conftest import TINY, t0


def test_errors_are_dlmscope_errors_with_the_cli_message(tiny):
    with pytest.raises(dlmscope.Error, match="gen_length 60 is not a multiple of block_length 16"):
        tiny.generate("Hi", gen_length=60, block_length=16, steps=32)
    assert issubclass(dlmscope.Error, RuntimeError)
    with pytest.raises(dlmscope.Error, match="unknown remasking"):
        tiny.generate("Hi", gen_length=32, block_length=32, steps=8, remasking="best")
    with pytest.raises(dlmscope.Error, match="no-such-dir"):
        dlmscope.load("/no-such-dir")
    with pytest.raises(dlmscope.Error, match="--capture-layers"):
        tiny.generate("Hi", gen_length=32, block_length=32, steps=8, capture_layers="7")
    with pytest.raises(TypeError, match="bogus"):
        tiny.generate("Hi", bogus=1)
    # The engine is still usable, and gives the official tokens.
    run = t0()
    r = tiny.generate(prompt_ids=run["prompt_ids"], seed=0, **run["params"])
    assert r["canvas"][len(run["prompt_ids"]):].tolist() == run["generated"]


def test_hook_detaches_on_exceptions(tiny):
    hook = dlmscope.AttentionHook(tiny)
    with pytest.raises(dlmscope.Error):
        with hook:
            assert tiny._core.observer_count == 1
            tiny.generate("Hi", gen_length=60, block_length=16, steps=32)
    assert tiny._core.observer_count == 0 and not hook.registered
    hook.register_hooks()
    hook.register_hooks()  # idempotent
    assert tiny._core.observer_count == 1
    hook.remove_hooks()
    assert tiny._core.observer_count == 0


def test_hook_context_outside_generation(tiny):
    with dlmscope.AttentionHook(tiny, heads="all", layers="1") as hook:
        hook.set_generation_context(step=7, block=1)
        logits = tiny.forward(tiny.encode_chat("Hi"))
    maps = hook.get_attention_maps()
    assert list(maps) == [(7, 1)]
    n = len(tiny.encode_chat("Hi"))
    assert logits.shape == (n, tiny.info["embedding_size"]) and logits.dtype == np.float32
    assert maps[(7, 1)].shape == (tiny.info["n_heads"], n, n)
    np.testing.assert_allclose(maps[(7, 1)].sum(-1), 1.0, atol=1e-5)


def test_gil_is_released(tiny):
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        start = len(ticks)
        tiny.generate("Hi", gen_length=256, block_length=64, steps=256)
        during = len(ticks) - start
    finally:
        stop.set()
        t.join()
    assert during > 20, f"the other thread ran {during} times during generation"


def test_ctrl_c_raises_keyboard_interrupt_and_keeps_the_steps(tmp_path):
    slow = dlmscope.load(TINY, backend="reference")
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        slow.generate("Tell me a story.", gen_length=512, block_length=64, steps=512, visualize_attention=True,
                      out=str(tmp_path))
    waited = time.monotonic() - t
    timer.cancel()
    assert waited < 5.0, f"KeyboardInterrupt came {waited:.1f} s after the start (signal at 1 s)"
    run = dlmscope.open_run(str(tmp_path))
    assert not run.complete and "cancelled" in run.manifest["error"]
    steps = run.captured_steps
    assert steps and steps == list(range(len(steps)))
    for s in steps:
        assert run.step(s)["stats"].shape[0] == 2
    # The engine still works afterwards.
    assert slow.generate("Hi", gen_length=16, block_length=16, steps=4)["text"] is not None


def test_quiet_when_not_a_terminal(tiny, capfd):
    tiny.generate("Hi", gen_length=32, block_length=32, steps=8)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_progress_when_asked(tiny, capfd):
    tiny.generate("Hi", gen_length=32, block_length=32, steps=8, progress=True)
    assert "generate [" in capfd.readouterr().err


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_no_reference_or_memory_leak_over_100_calls(tiny):
    run = t0()
    kw = dict(prompt_ids=run["prompt_ids"], seed=0, **run["params"])
    for _ in range(10):  # warm up allocator pools and caches
        tiny.generate(**kw)
    gc.collect()
    objects, rss = len(gc.get_objects()), rss_mb()
    for _ in range(100):
        r = tiny.generate(**kw)
        del r
    gc.collect()
    assert len(gc.get_objects()) - objects < 50
    assert rss_mb() - rss < 8.0, f"RSS grew {rss_mb() - rss:.1f} MB over 100 calls"


def openblas_threads():
    """Every loaded copy of OpenBLAS (numpy's and dlmscope's) -> its thread count."""
    out = {}
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in os.path.basename(line.strip()) and ".so" in line}
    for p in paths:
        if not os.path.exists(p):
            continue
        lib = ctypes.CDLL(p)
        if hasattr(lib, "openblas_get_num_threads"):
            out[p] = lib.openblas_get_num_threads()
    return out


def test_numpy_blas_threads_untouched(tiny):
    np.dot(np.ones((64, 64)), np.ones((64, 64)))  # numpy's BLAS is loaded and started
    before = openblas_threads()
    assert before, "no OpenBLAS found in this process"
    dlmscope.load(TINY, backend="openblas").generate("Hi", gen_length=32, block_length=32, steps=8)
    tiny.generate("Hi", gen_length=32, block_length=32, steps=8)
    after = openblas_threads()
    assert {p: after[p] for p in before} == before


def test_runs_as_data(tiny, tmp_path):
    text, history, tokenizer, history_file, maps = tiny.generate_text(
        "Hi", gen_length=32, steps=8, block_length=16, save_history=True, visualize_attention=True,
        capture_heads="all", out=str(tmp_path))
    run = dlmscope.open_run(str(tmp_path))
    assert run.complete and run.text == text and run.path == history_file
    np.testing.assert_array_equal(np.asarray(run.history), history)
    assert isinstance(run.history, np.memmap)  # memory-mapped, not read
    assert history.shape == (9, run.manifest["canvas_length"]) and history.dtype == np.int32
    assert isinstance(maps, dict) and len(maps) == 8 * 2
    a = maps[(3, 1)]
    assert a.dtype == np.float32 and a.shape == (tiny.info["n_heads"], run.manifest["canvas_length"], run.manifest["canvas_length"])
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=2e-3)  # stored as f16
    assert isinstance(run.step(3)["attn"], np.memmap)
    assert tokenizer.decode(history[-1][run.prompt_length:]) == text
    report = run.analyze(str(tmp_path / "analysis"), formats=("png", "svg"))
    assert report["visualizations"]["formats"] == ["png", "svg"]
    assert all(os.path.exists(tmp_path / "analysis" / f) for f in report["visualizations"]["figures"])
    df = run.metrics()
    assert set(df["layer"]) == {0, 1} and len(df) > 0
    assert run.figure("heatmap", step=3, layer=1, output=str(tmp_path / "h.svg")).endswith("h.svg")
    assert os.path.getsize(run.viewer(str(tmp_path / "v.html"))) > 1000
    assert run._repr_html_().startswith("<iframe srcdoc=")
    with pytest.raises(dlmscope.Error, match="step 99"):
        run.step(99)


def test_existing_run_kept_or_overwritten(tiny, tmp_path):
    a = tiny.generate("Hi", gen_length=16, block_length=16, steps=4, save_history=True, out=str(tmp_path))["manifest"]
    b = tiny.generate("Ho", gen_length=16, block_length=16, steps=4, save_history=True, out=str(tmp_path))["manifest"]
    assert a != b and os.path.basename(b) == "generation_with_attention-2.json"
    with open(a) as f:
        assert json.load(f)["prompt"] == "Hi"
    c = tiny.generate("He", gen_length=16, block_length=16, steps=4, save_history=True, out=str(tmp_path), overwrite=True)["manifest"]
    assert c == a
    with open(a) as f:
        assert json.load(f)["prompt"] == "He"


def test_backends(tiny):
    assert tiny.info["backend"] == dlmscope.available_backends()[0]  # auto: the fastest this CPU runs
    assert set(dlmscope.available_backends()) <= set(dlmscope.backend_names())
    assert "reference" in dlmscope.available_backends()


def test_help_and_stubs():
    assert "generated_text, history, tokenizer, history_file, attention_maps" in dlmscope.generate_text.__doc__
    assert dlmscope.AttentionHook.register_hooks.__doc__
    stub = os.path.join(os.path.dirname(dlmscope.__file__), "_dlmscope.pyi")
    assert os.path.exists(stub) and os.path.exists(os.path.join(os.path.dirname(dlmscope.__file__), "py.typed"))
