"""The Evaluation tab's content: an `omni test` result directory as tables, plots and videos.

Reads the metrics.json that `omni.evaluation.results.write_outputs` writes (its summary, the
per-video rows with each video's path) and finds report.html beside it. No Gradio here.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from omni.evaluation.report import ROW_KEYS

SUPPORTED_RESULTS = (1,)
"""metrics.json `results_version`s this view reads (tests check it against omni.evaluation)."""
PER_VIDEO_KEYS = tuple(k for k in ROW_KEYS if k != "audio")  # the report's numeric columns
FRECHET = ("fid", "fvd")  # distances between sets: lower is better (no higher_is_better key)
_NOT_PLOTTED = {"frames", "seconds", "height", "width", "audio"}


@dataclass
class Results:
    """One result directory: the parsed metrics.json and where it lives."""

    directory: Path
    metrics: dict

    @property
    def report(self) -> Path | None:
        path = self.directory / "report.html"
        return path if path.is_file() else None

    @property
    def names(self) -> list[str]:
        return [v["name"] for v in self.metrics.get("videos", [])]


def open_results(path: str | os.PathLike | None) -> Results:
    """A result directory (or its metrics.json); ValueError saying what is wrong otherwise."""
    if path is None or not str(path).strip():
        raise ValueError("expected an `omni test --out` directory (with metrics.json), got none")
    path = Path(str(path).strip()).expanduser()
    file = path / "metrics.json" if path.is_dir() else path
    if not file.is_file():
        raise ValueError(
            f"expected an `omni test --out` directory holding metrics.json, got {str(path)!r} "
            "(no metrics.json there)"
        )
    try:
        metrics = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{file} is not JSON ({err}); re-run `omni test` to rewrite it") from err
    version = metrics.get("results_version") if isinstance(metrics, dict) else None
    if version not in SUPPORTED_RESULTS or not isinstance(metrics.get("metrics"), dict):
        raise ValueError(
            f"{file}: expected omni test results (results_version in {list(SUPPORTED_RESULTS)}), "
            f"got results_version {version!r}; re-run `omni test` with this omni"
        )
    return Results(file.parent.resolve(), metrics)


def metrics_table(results: Results) -> pd.DataFrame:
    """One row per metric: value on the generated and the real videos, or why it is missing."""
    rows = []
    for name, m in results.metrics["metrics"].items():
        ok = m.get("status") == "ok"
        note = ""
        if m.get("status") == "unavailable":
            note = f"{m.get('reason', '')}; enable with {m.get('enable_with', '?')}"
        elif not ok:
            note = m.get("reason", m.get("status", ""))
        higher = m.get("higher_is_better", False if name in FRECHET else "unknown")
        rows.append(
            {
                "metric": name,
                "status": m.get("status", "?"),
                "generated": _number(m.get("value")) if ok else None,
                "real": _number(m.get("real_value")) if ok else None,
                "samples": m.get("generated_samples", m.get("videos")),
                "better": {True: "higher", False: "lower", None: "closer to real"}.get(higher, ""),
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def videos_table(results: Results) -> pd.DataFrame:
    """One row per video and side with its per-video scores and notes."""
    rows = []
    for video in results.metrics.get("videos", []):
        for side in ("generated", "real"):
            row = video.get(side)
            if not isinstance(row, dict):
                continue
            values = {k: _number(row.get(k)) for k in PER_VIDEO_KEYS}
            notes = "; ".join(row.get("notes", []))
            rows.append({"video": video["name"], "side": side, **values, "notes": notes})
    return pd.DataFrame(rows, columns=["video", "side", *PER_VIDEO_KEYS, "notes"])


def bars(results: Results) -> Figure | None:
    """Per-video scores, generated beside real, one panel per score (None if there is none)."""
    videos = results.metrics.get("videos", [])
    keys = [
        k
        for k in PER_VIDEO_KEYS
        if k not in _NOT_PLOTTED
        and any(
            _number(v.get(s, {}).get(k)) is not None for v in videos for s in ("generated", "real")
        )
    ]
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(3.6 * cols, 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(keys) :]:
        ax.axis("off")
    x = np.arange(len(videos))
    for ax, key in zip(axes.flat, keys, strict=False):
        for shift, side in ((-0.2, "generated"), (0.2, "real")):
            values = [_number(v.get(side, {}).get(key)) for v in videos]
            ax.bar(x + shift, [np.nan if y is None else y for y in values], width=0.4, label=side)
        ax.set_title(key, fontsize=9)
        ax.set_xticks(x, [v["name"] for v in videos], rotation=45, fontsize=7)
    axes[0][0].legend(fontsize=7)
    return fig


def video_pair(results: Results, name: str) -> tuple[Path | None, Path | None, str]:
    """(generated file, real file, note) for one video name; a side is None when its file is
    gone or was never a file (checkpoint mode scores videos in memory)."""
    for video in results.metrics.get("videos", []):
        if video["name"] == name:
            break
    else:
        raise ValueError(f"no video named {name!r} in these results; they have {results.names}")
    found, missing = {}, []
    for side in ("generated", "real"):
        row = video.get(side) or {}
        found[side] = _locate(row.get("path"), results.directory)
        if found[side] is None and row:
            where = row.get("path")
            missing.append(
                f"{side} video {where!r} is not a file here"
                if where
                else f"{side} video was scored in memory (no file)"
            )
    return found["generated"], found["real"], "; ".join(missing)


def _locate(path: str | None, directory: Path) -> Path | None:
    if not path:
        return None
    candidate = Path(path)
    for p in (candidate, directory / candidate):
        if p.is_file():
            return p.resolve()
    return None


def _number(value) -> float | None:
    """A finite number rounded to 4 significant digits, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(f"{value:.4g}")
