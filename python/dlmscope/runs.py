"""Runs as data: a run directory (docs/run-format.md) read with numpy, and the model-free analysis."""

from __future__ import annotations

import csv
import html
import json
import os
import zipfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import _dlmscope
from ._dlmscope import Error

RUN_FORMAT = "dlmscope-run"


def _find_manifest(path: str) -> str:
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise Error(f"{path}: no such run manifest or directory")
    found = []
    for name in sorted(os.listdir(path)):
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(path, name), encoding="utf-8") as f:
                if json.load(f).get("format") == RUN_FORMAT:
                    found.append(name)
        except (OSError, ValueError, AttributeError):
            continue
    if not found:
        raise Error(f"{path}: holds no dlmscope run manifest (a .json file with \"format\": \"{RUN_FORMAT}\")")
    if len(found) > 1:
        raise Error(f"{path}: holds several runs ({', '.join(found)}); pass the manifest's path")
    return os.path.join(path, found[0])


def _npz_member(path: str, member: str) -> np.ndarray:
    """A member of an .npz as a read-only memory map (dlmscope stores members uncompressed)."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member + ".npy")
        if info.compress_type != zipfile.ZIP_STORED:
            with z.open(info) as f:
                return np.lib.format.read_array(f)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                 else np.lib.format.read_array_header_2_0(f))
        offset = f.tell()
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


class Run:
    """A run directory: ``manifest`` (dict), ``history`` and every captured array as numpy.

    Arrays are memory-mapped (the .npy files, and the members of each step's .npz, which dlmscope
    stores uncompressed): opening a run of an 8B model reads the manifest only.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(_find_manifest(path))
        self.dir = os.path.dirname(self.path)
        with open(self.path, encoding="utf-8") as f:
            self.manifest: Dict[str, Any] = json.load(f)
        if self.manifest.get("format") != RUN_FORMAT:
            raise Error(f"{self.path}: not a dlmscope run manifest (\"format\" is {self.manifest.get('format')!r})")
        self._analysis: Optional[str] = None

    # ---- the manifest -------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    @property
    def text(self) -> str:
        return self.manifest.get("text", "")

    @property
    def prompt_length(self) -> int:
        return int(self.manifest["prompt_length"])

    @property
    def arrays(self) -> List[Dict[str, Any]]:
        return list(self.manifest.get("arrays", []))

    def _file(self, entry: Dict[str, Any]) -> str:
        rel = entry["file"]
        norm = os.path.normpath(rel)
        if os.path.isabs(rel) or norm == ".." or norm.startswith(".." + os.sep):
            raise Error(f"{self.path}: array file '{rel}' is outside the run directory")
        return os.path.join(self.dir, norm)

    def _entries(self, kind: str) -> List[Dict[str, Any]]:
        return [a for a in self.arrays if a.get("kind") == kind]

    # ---- arrays -------------------------------------------------------------------------------
    @property
    def history(self) -> np.ndarray:
        """int32 [steps + 1, L]: row s = the canvas before step s; the last row the final canvas."""
        e = self._entries("history")
        if not e:
            raise Error(f"{self.path}: the run has no history.npy (it did not finish: {self.manifest.get('error', 'incomplete')})")
        return np.load(self._file(e[0]), mmap_mode="r")

    def array(self, name: str) -> np.ndarray:
        """A whole-run array by name (history, cache_drift, cache_drift_steps)."""
        for a in self.arrays:
            if a.get("name") == name and a["file"].endswith(".npy"):
                return np.load(self._file(a), mmap_mode="r")
        raise Error(f"{self.path}: no array named '{name}'")

    @property
    def captured_steps(self) -> List[int]:
        """The steps with a captured .npz, ascending."""
        return sorted({a["step"] for a in self.arrays if "step" in a})

    def step(self, step: int) -> Dict[str, np.ndarray]:
        """Every array of one captured step: canvas, key_step, stats and (with maps) attn."""
        out = {}
        for a in self.arrays:
            if a.get("step") == step and a["file"].endswith(".npz"):
                out[a["name"]] = _npz_member(self._file(a), a["name"])
        if not out:
            raise Error(f"{self.path}: step {step} was not captured (captured: {self.captured_steps[:10]}…)")
        return out

    def _attention_entry(self, step: int) -> Dict[str, Any]:
        for a in self._entries("attention"):
            if a["step"] == step:
                return a
        raise Error(f"{self.path}: no attention maps at step {step}")

    def attention(self, step: int, layer: int) -> np.ndarray:
        """float32 [heads, queries, keys] of one model layer at one step; the query rows are
        :meth:`query_rows` (rows a cached step did not recompute are absent)."""
        a = self._attention_entry(step)
        if layer not in a["layers"]:
            raise Error(f"{self.path}: layer {layer} was not captured at step {step} (captured: {a['layers']})")
        return np.asarray(_npz_member(self._file(a), "attn")[a["layers"].index(layer)], dtype=np.float32)

    def query_rows(self, step: int) -> Tuple[int, int]:
        """Canvas rows [begin, end) of the stored attention queries at ``step``."""
        return tuple(self._attention_entry(step)["rows"])  # type: ignore[return-value]

    def attention_maps(self) -> "AttentionMaps":
        """Every captured map as a dict {(step, layer): float32 [heads, queries, keys]}, read on access."""
        return AttentionMaps(self.path)

    # ---- analysis, figures, viewer ----------------------------------------------------------------
    def _default_output(self) -> str:
        return os.path.join(self.dir, os.path.splitext(os.path.basename(self.path))[0] + "_analysis")

    def analyze(self, output: Optional[str] = None, formats: Sequence[str] = ("png",), figures: bool = True,
                max_layers: int = 0, prompt_length: int = 0, max_tokens: int = 100) -> Dict[str, Any]:
        """`dlmscope analyze`: report.json, metrics.csv (and rollout.npy), then figures and viewer.
        Returns the report (report.json as a dict)."""
        out = output or self._default_output()
        analyze(self.path, out, formats=formats, figures=figures, max_layers=max_layers,
                prompt_length=prompt_length, max_tokens=max_tokens)
        self._analysis = out
        return self.report

    @property
    def report(self) -> Dict[str, Any]:
        """report.json of the last analyze() (analysing first, without figures, if needed)."""
        if self._analysis is None:
            self.analyze(figures=False)
        with open(os.path.join(self._analysis, "report.json"), encoding="utf-8") as f:  # type: ignore[arg-type]
            return json.load(f)

    def metrics(self) -> Any:
        """metrics.csv as a pandas DataFrame (a list of dicts when pandas is not installed)."""
        if self._analysis is None:
            self.analyze(figures=False)
        path = os.path.join(self._analysis, "metrics.csv")  # type: ignore[arg-type]
        try:
            import pandas as pd  # noqa: PLC0415 - optional
        except ImportError:
            with open(path, newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
        return pd.read_csv(path)

    def figure(self, kind: str = "heatmap", step: int = -1, layer: int = -1, head: Optional[int] = None,
               output: Optional[str] = None, dpi: float = 150, max_tokens: int = 64, scale: str = "linear",
               colormap: str = "viridis") -> str:
        """Draws one figure (heatmap, grid, evolution, decode-order, drift); returns its path."""
        return render_figure(self.path, kind, step, layer, head, output or os.path.join(self._default_output(), "figures/"),
                             dpi=dpi, max_tokens=max_tokens, scale=scale, colormap=colormap)

    def figures(self, out_dir: Optional[str] = None, format: str = "png") -> List[str]:
        """The default figure set of analyze in one format; returns the files."""
        return _dlmscope.render_figures(self.path, out_dir or os.path.join(self._default_output(), "figures"), format)

    def viewer(self, output: Optional[str] = None, max_mb: float = 64.0) -> str:
        """Writes the interactive offline viewer (one HTML file); returns its path."""
        return write_viewer(self.path, output, max_mb)

    def _repr_html_(self) -> str:
        """In a notebook a run displays as the offline viewer, inline (maps capped at 16 MB)."""
        path = self.viewer(os.path.join(self._default_output(), "inline-viewer.html"), max_mb=16.0)
        with open(path, encoding="utf-8") as f:
            page = f.read()
        return (f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:760px;border:0" '
                f'sandbox="allow-scripts"></iframe>')

    def __repr__(self) -> str:
        state = "complete" if self.complete else "incomplete"
        return f"<dlmscope.Run {self.path} ({state}, {len(self.captured_steps)} captured steps)>"


def open_run(path: str = "logs") -> Run:
    """Opens a run: its manifest's path, or the directory that holds it."""
    return Run(path)


class AttentionMaps(dict):
    """{(step, layer): float32 [heads, queries, keys]} of a run, each map read from disk when it is
    accessed (nothing is held in memory). It is a dict: len(), keys(), items(), ``in`` and
    indexing work as usual; dict(maps) loads them all."""

    def __init__(self, manifest: Optional[str]) -> None:
        super().__init__()
        self._run = Run(manifest) if manifest else None
        if self._run:
            for a in self._run._entries("attention"):
                for layer in a["layers"]:
                    super().__setitem__((a["step"], layer), None)

    def __getitem__(self, key: Tuple[int, int]) -> np.ndarray:
        if not super().__contains__(key):
            raise KeyError(key)
        return self._run.attention(*key)  # type: ignore[union-attr]

    def get(self, key: Tuple[int, int], default: Any = None) -> Any:
        return self[key] if key in self else default

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        return iter(list(super().keys()))

    def values(self):  # type: ignore[override]
        return [self[k] for k in self]

    def items(self):  # type: ignore[override]
        return [(k, self[k]) for k in self]

    def query_rows(self, key: Tuple[int, int]) -> Tuple[int, int]:
        """Canvas rows [begin, end) of the map's queries."""
        return self._run.query_rows(key[0])  # type: ignore[union-attr]

    def __repr__(self) -> str:
        where = self._run.path if self._run else "no run"
        return f"<dlmscope.AttentionMaps: {len(self)} maps (step, layer) from {where}>"


def analyze(input: str, output: str = "attention_analysis", *, formats: Sequence[str] = ("png",), figures: bool = True,
            max_layers: int = 0, prompt_length: int = 0, max_tokens: int = 100) -> Dict[str, Any]:
    """`dlmscope analyze` on a run: report.json, metrics.csv, rollout.npy, figures (each format of
    png/svg/pdf) and viewer.html under ``output``. Returns the paths written."""
    return _dlmscope.analyze(input, output, list(formats), figures, max_layers, prompt_length, max_tokens)


def render_figure(run: str, kind: str = "heatmap", step: int = -1, layer: int = -1, head: Optional[int] = None,
                  output: str = "figures/", *, dpi: float = 150, max_tokens: int = 64, scale: str = "linear",
                  colormap: str = "viridis") -> str:
    """One figure of a run; ``output`` is a file (.png, .svg, .pdf) or a directory. Returns the path."""
    return _dlmscope.render_figure(run, kind, step, layer, -1 if head is None else head, output, dpi, max_tokens, scale, colormap)


def write_viewer(run: str, output: Optional[str] = None, max_mb: float = 64.0) -> str:
    """The interactive offline HTML viewer of a run; returns its path."""
    return _dlmscope.write_viewer(run, output or "", max_mb)
