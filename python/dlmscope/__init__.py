"""dlmscope: run masked-diffusion language models (LLaDA, MMaDA), capture their attention at every
diffusion step, layer and head, and analyse and draw it.

The seed API::

    from dlmscope import generate_text
    text, history, tokenizer, history_file, attention_maps = generate_text(
        prompt="What is the capital of France?", gen_length=128, steps=128, block_length=32,
        save_history=True, visualize_attention=True)

A session that loads the model once::

    engine = dlmscope.load("models/mmada-fortunes")
    text, history, tokenizer, history_file, attention_maps = engine.generate_text("Hi", gen_length=64)

Runs as data::

    run = dlmscope.open_run("logs")            # the manifest, history and arrays as numpy
    run.analyze("attention_analysis")          # report.json, metrics.csv, figures, viewer
    run.metrics()                              # pandas DataFrame (a list of dicts without pandas)

Errors are ``dlmscope.Error`` (a RuntimeError) with the CLI's messages; Ctrl-C during generation
raises KeyboardInterrupt at the next step and leaves every completed step of the run on disk.
The GIL is released while generating. OpenBLAS's thread count (per loaded copy of the library) is
set to one while the engine runs and restored afterwards: numpy's BLAS threads are left as they
were. docs/python.md has the whole API.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

from . import _dlmscope
from ._dlmscope import Error, available_backends, backend_names
from .runs import AttentionMaps, Run, open_run, analyze, render_figure, write_viewer

__all__ = [
    "Error", "Engine", "Tokenizer", "AttentionHook", "Run", "AttentionMaps",
    "load", "generate_text", "open_run", "analyze", "render_figure", "write_viewer", "default_model_dir",
    "backend_names", "available_backends",
]
__version__ = "0.1.0"

# Where the bundled default model is: $DLMSCOPE_MODEL, else models/mmada-fortunes of the checkout
# this package was built from (recorded at build time in _paths.py when present).
def default_model_dir() -> str:
    """The model used when none is given: $DLMSCOPE_MODEL, else the bundled models/mmada-fortunes."""
    env = os.environ.get("DLMSCOPE_MODEL")
    if env:
        return env
    try:
        from ._paths import DEFAULT_MODEL  # written by the build
    except ImportError:  # pragma: no cover - an install without the checkout
        DEFAULT_MODEL = ""
    if DEFAULT_MODEL and os.path.isdir(DEFAULT_MODEL):
        return DEFAULT_MODEL
    raise Error("no model given: pass model=DIR (a Hugging Face checkpoint directory) or set DLMSCOPE_MODEL")


class Tokenizer:
    """The model's tokenizer (Hugging Face tokenizer.json, byte-level BPE), bound to an engine."""

    def __init__(self, engine: "Engine") -> None:
        self._engine = engine

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text`` (no chat template; special-token text becomes its token)."""
        return self._engine._core.encode(text)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """Text of ``ids``; special tokens are dropped unless skip_special_tokens is False."""
        return self._engine._core.decode([int(i) for i in ids], skip_special_tokens)

    def batch_decode(self, rows: Iterable[Iterable[int]], skip_special_tokens: bool = True) -> List[str]:
        """decode() of each row (e.g. of a history array)."""
        return [self.decode(r, skip_special_tokens) for r in rows]

    def apply_chat_template(self, text: str, template: str = "auto") -> str:
        """``text`` as the model's chat template renders a user turn (auto: by model_type)."""
        return self._engine._core.apply_chat_template(text, template)

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> List[str]:
        """The readable text of each id (its decoded bytes), "<id:N>" outside the vocabulary."""
        return [self._engine._core.token_text(int(i)) for i in ids]

    def convert_tokens_to_ids(self, token: str) -> Optional[int]:
        """The id of a vocabulary string such as "<|mdm_mask|>", or None."""
        return self._engine._core.token_id(token)

    @property
    def mask_token_id(self) -> int:
        return self._engine.info["mask_id"]

    def __len__(self) -> int:
        return self._engine.info["vocab_size"]

    def __repr__(self) -> str:
        return f"<dlmscope.Tokenizer of {self._engine.info['path']}>"


def _progress(enabled: Optional[bool]) -> Optional[Callable[[dict, int, int], None]]:
    """A one-line progress bar on stderr when it is a terminal (or when enabled is True)."""
    if enabled is None:
        enabled = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    if not enabled:
        return None

    def show(step: dict, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\rgenerate [{'#' * filled}{' ' * (width - filled)}] {done}/{total} "
                         f"block {step['block']} step {step['step']}")
        sys.stderr.flush()

    return show


_GENERATE_KEYS = ("temperature", "cfg_scale", "remasking", "seed", "sampler", "mask_id", "logits_eos_inf",
                  "confidence_eos_eot_inf", "cache", "parallel_threshold", "cache_refresh", "cache_audit")


class Engine:
    """A loaded model. Load once with :func:`load`, then generate many times.

    One engine runs one generation at a time; the GIL is released while it runs.
    """

    def __init__(self, core: "_dlmscope.Engine") -> None:
        self._core = core
        self.tokenizer = Tokenizer(self)

    @property
    def info(self) -> Dict[str, Any]:
        """The model's shape and how it runs (backend, ISA, precision, threads, token ids)."""
        return self._core.info

    def __repr__(self) -> str:
        i = self.info
        return (f"<dlmscope.Engine {i['model_type']} {i['n_params'] / 1e6:.1f}M params, {i['n_layers']} layers × "
                f"{i['n_heads']} heads, backend {i['backend']}, {i['precision']}, from {i['path']}>")

    def encode_chat(self, text: str, template: str = "auto") -> List[int]:
        """The prompt ids of ``text`` through the chat template (auto: by the model's model_type)."""
        return self._core.encode_chat(text, template)

    def forward(self, ids: Iterable[int]) -> np.ndarray:
        """One forward pass outside generation: float32 logits [len(ids), embedding_size]."""
        return self._core.forward([int(i) for i in ids])

    def generate(self, prompt: Optional[str] = None, *, prompt_ids: Optional[Iterable[int]] = None,
                 gen_length: int = 128, steps: int = 128, block_length: int = 32, template: str = "auto",
                 save_history: bool = False, visualize_attention: bool = False,
                 capture_steps: Optional[str] = None, capture_layers: Optional[str] = None,
                 capture_heads: Optional[str] = None, capture_rows: Optional[str] = None,
                 capture_dtype: Optional[str] = None, out: str = "logs",
                 manifest: str = "generation_with_attention.json", overwrite: bool = False,
                 progress: Optional[bool] = None, on_step: Optional[Callable[[dict], None]] = None,
                 **params: Any) -> Dict[str, Any]:
        """Generates and returns a dict: text, canvas, history [steps+1, L] int32, steps (records),
        manifest (the run's path or None), timings. See generate_text for the keywords."""
        unknown = set(params) - set(_GENERATE_KEYS)
        if unknown:
            raise TypeError(f"generate() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        if prompt_ids is not None:
            if prompt:
                raise Error("give either a prompt or prompt_ids, not both")
            ids = [int(i) for i in prompt_ids]
            rendered, template_name, prompt = self._core.decode(ids, False), "ids", ""
        else:
            if prompt is None or prompt == "":
                raise Error("no prompt: pass a prompt text or prompt_ids")
            if template == "auto":
                template = self._core.chat_template
            rendered = self._core.apply_chat_template(prompt, template)
            ids, template_name = self._core.encode(rendered), template
        capture = None
        if visualize_attention or any(v is not None for v in (capture_steps, capture_layers, capture_heads, capture_rows, capture_dtype)):
            capture = {"steps": capture_steps, "layers": capture_layers, "heads": capture_heads,
                       "rows": capture_rows, "dtype": capture_dtype}
        if params.get("cache_audit") and not (save_history or capture):
            raise Error("cache_audit records the drift into the run directory: add save_history=True or visualize_attention=True")
        run = None
        if save_history or capture is not None:
            run = {"out_dir": out, "manifest": manifest, "existing": "overwrite" if overwrite else "keep",
                   "prompt": prompt, "rendered": rendered, "template": template_name}
        bar = _progress(progress)

        def step_cb(record: dict, done: int, total: int) -> None:
            if bar:
                bar(record, done, total)
            if on_step:
                on_step(record)

        kw = dict(params, gen_length=gen_length, steps=steps, block_length=block_length)
        try:
            return self._core.generate(ids, kw, run, capture, step_cb if (bar or on_step) else None)
        finally:
            if bar:
                sys.stderr.write("\n")

    def generate_text(self, prompt: Optional[str] = None, gen_length: int = 128, steps: int = 128,
                      block_length: int = 32, save_history: bool = False, visualize_attention: bool = False,
                      **kwargs: Any) -> Tuple[str, np.ndarray, Tokenizer, Optional[str], "AttentionMaps"]:
        """The seed's generate_text on this engine; see :func:`dlmscope.generate_text`."""
        r = self.generate(prompt, gen_length=gen_length, steps=steps, block_length=block_length,
                          save_history=save_history, visualize_attention=visualize_attention, **kwargs)
        maps = AttentionMaps(r["manifest"]) if r["manifest"] and (visualize_attention or _captures(kwargs)) else AttentionMaps(None)
        return r["text"], r["history"], self.tokenizer, r["manifest"], maps


def _captures(kwargs: Dict[str, Any]) -> bool:
    return any(kwargs.get(k) is not None for k in ("capture_steps", "capture_layers", "capture_heads", "capture_rows", "capture_dtype"))


def load(model_dir: Optional[str] = None, *, backend: str = "auto", precision: str = "f32", weights: str = "auto",
         threads: int = 0) -> Engine:
    """Loads a checkpoint directory (Hugging Face layout: config.json, safetensors, tokenizer.json).

    backend: "auto" or a kernel backend's name (amx, avx512-bf16, avx512, avx2, openblas, reference);
    precision: "f32" (token-exact) or "bf16"; weights: "auto", "f32" or "native"; threads: 0 = all
    cores (one thread team per process: the last load's setting holds).
    """
    return Engine(_dlmscope.Engine.load(model_dir or default_model_dir(), backend, precision, weights, threads))


_engines: Dict[Tuple[str, str, str, str, int], Engine] = {}


def generate_text(prompt: Optional[str] = None, gen_length: int = 128, steps: int = 128, block_length: int = 32,
                  save_history: bool = False, visualize_attention: bool = False, *, model: Optional[str] = None,
                  engine: Optional[Engine] = None, backend: str = "auto", precision: str = "f32",
                  weights: str = "auto", threads: int = 0,
                  **kwargs: Any) -> Tuple[str, np.ndarray, Tokenizer, Optional[str], AttentionMaps]:
    """Generates text for ``prompt`` and returns the seed's 5-tuple
    ``(generated_text, history, tokenizer, history_file, attention_maps)``:

    - generated_text: the answer, special tokens skipped;
    - history: numpy int32 [steps + 1, L], row s = the canvas before step s, the last row final;
    - tokenizer: the model's :class:`Tokenizer`;
    - history_file: the run manifest's path when save_history or visualize_attention, else None;
    - attention_maps: a dict keyed by (step, layer) of float32 [heads, queries, keys] arrays, read
      from the run directory when accessed (empty without visualize_attention).

    The model (``model`` directory, else $DLMSCOPE_MODEL, else the bundled one) is loaded once per
    process and kept; pass ``engine=dlmscope.load(...)`` to choose. Further keywords: template
    (auto|mmada|llada|none), prompt_ids, temperature, cfg_scale, remasking (low_confidence|random),
    seed, sampler (auto|mmada|llada), mask_id, logits_eos_inf, confidence_eos_eot_inf, cache
    (none|prefix|dual), parallel_threshold, cache_refresh, cache_audit, capture_steps,
    capture_layers, capture_heads, capture_rows, capture_dtype (the CLI's --capture-* syntax), out
    (run directory, default "logs"), manifest, overwrite (replace a run of that name; by default an
    existing run is kept and the new one is written as NAME-2.json, …), progress (None: when stderr
    is a terminal), on_step (called with each step's record).
    """
    if engine is None:
        key = (os.path.abspath(model or default_model_dir()), backend, precision, weights, threads)
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = load(key[0], backend=backend, precision=precision, weights=weights, threads=threads)
    return engine.generate_text(prompt, gen_length, steps, block_length, save_history, visualize_attention, **kwargs)


class AttentionHook:
    """The seed's AttentionHook: keeps the attention of every forward of ``model`` in memory.

    ``model`` is an :class:`Engine`. Selection keywords use the CLI's syntax: steps ("all",
    "0,5,9", "every:K", "block-ends"), layers ("all", "0,3", "4-11"), heads ("mean" — the default —,
    "all", "0,2,5"), rows ("all", "generated", "A:B"). Memory grows with every captured map: for
    long runs of large models write a run directory instead (visualize_attention=True).

    Use as a context manager to detach on leaving the block, also when it raises.
    """

    def __init__(self, model: Engine, *, steps: Optional[str] = None, layers: Optional[str] = None,
                 heads: Optional[str] = None, rows: Optional[str] = None) -> None:
        if not isinstance(model, Engine):
            raise TypeError("AttentionHook(model): model must be a dlmscope.Engine (dlmscope.load(...))")
        self.model = model
        self._recorder = _dlmscope.Recorder({"steps": steps, "layers": layers, "heads": heads, "rows": rows})
        self._attachment: Optional[_dlmscope.Attachment] = None

    def register_hooks(self) -> None:
        """Starts capturing every forward of the model (idempotent)."""
        if self._attachment is None:
            self._attachment = self.model._core.attach(self._recorder)

    def set_generation_context(self, step: int, block: int) -> None:
        """The step/block recorded for forwards run outside generate (Engine.forward)."""
        self.model._core.set_context(step, block)

    def get_attention_maps(self) -> Dict[Tuple[int, int], np.ndarray]:
        """Captured maps: {(step, layer): float32 [heads, queries, keys]} (copies)."""
        return self._recorder.maps()

    def get_query_rows(self) -> Dict[Tuple[int, int], Tuple[int, int]]:
        """Per (step, layer), the canvas rows [begin, end) of the stored queries."""
        return self._recorder.rows()

    def clear(self) -> None:
        """Forgets every captured map."""
        self._recorder.clear()

    def remove_hooks(self) -> None:
        """Stops capturing (idempotent); the maps already captured stay readable."""
        if self._attachment is not None:
            self._attachment.detach()
            self._attachment = None

    @property
    def registered(self) -> bool:
        return self._attachment is not None

    def __enter__(self) -> "AttentionHook":
        self.register_hooks()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove_hooks()

    def __del__(self) -> None:
        try:
            self.remove_hooks()
        except Exception:
            pass
