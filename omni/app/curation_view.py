"""The Curation tab's content: a manifest's rows filtered, summarised, plotted and played.

Plain functions over `omni.manifest.Manifest` (no Gradio here). The score columns and which way
is better come from the curation report (`omni.curation.report.SCORE_COLUMNS`), so the app and
report.html show the same histograms and the same best/worst thumbnails.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from omni.curation.filter import CONDITIONS, reason_counts
from omni.curation.report import SCORE_COLUMNS
from omni.manifest import Manifest, ManifestError, read_manifest
from omni.media import MediaError, read_audio, read_video, write_video

TABLE_COLUMNS = (
    "clip_id",
    "source",
    "start_s",
    "end_s",
    "status",
    "eligible_text_ref",
    "eligible_audio",
    "eligible_pose",
    "reject_reason",
    "error",
)
PLAYBACK_SIDE = 360
"""Longest side of the clips cut for playback, in pixels (the browser scales them up)."""


@dataclass(frozen=True)
class ClipFilter:
    """Which rows the Curation tab shows."""

    status: Literal["all", "ok", "error"] = "all"
    """Decoding/scoring status of the row."""
    eligible: Literal["any", "text_ref", "audio", "pose", "rejected"] = "any"
    """Eligible for this condition; "rejected" = eligible for none (filtered rows only)."""
    column: str | None = None
    """Score column the range applies to (None = no range)."""
    low: float | None = None
    """Keep rows with column >= low (None = no lower bound)."""
    high: float | None = None
    """Keep rows with column <= high (None = no upper bound)."""
    search: str = ""
    """Case-insensitive substring of clip_id or source."""


def open_manifest(path: str | os.PathLike | None) -> Manifest:
    """Read a manifest for browsing; ValueError saying what was expected when it cannot be."""
    if path is None or not str(path).strip():
        raise ValueError("expected the path of a manifest .parquet (from `omni curate`), got none")
    path = Path(str(path).strip()).expanduser()
    if not path.is_file():
        raise ValueError(f"expected a manifest .parquet file, got {str(path)!r} (no such file)")
    try:
        return read_manifest(path)
    except ManifestError as err:
        raise ValueError(f"{err}; open a manifest written by `omni curate`") from err


def parse_bound(text: str | float | None, name: str) -> float | None:
    """A range bound typed by the user: blank = no bound."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        return float(text)
    except ValueError as err:
        raise ValueError(f"{name} must be a number or blank, got {text!r}") from err


def score_columns(df: pd.DataFrame) -> list[str]:
    """The report's score columns that this manifest has, in the report's order."""
    return [c for c in SCORE_COLUMNS if c in df]


def filter_rows(df: pd.DataFrame, f: ClipFilter) -> pd.DataFrame:
    """Rows matching the filter, in manifest order."""
    keep = pd.Series(True, index=df.index)
    if f.status != "all":
        keep &= df["status"] == f.status
    flags = {c: _flag(df, c) for c in CONDITIONS}
    if f.eligible == "rejected":
        keep &= ~(flags["text_ref"] | flags["audio"] | flags["pose"])
        keep &= df[[f"eligible_{c}" for c in CONDITIONS]].notna().any(axis=1)
    elif f.eligible != "any":
        if f.eligible not in flags:
            raise ValueError(
                f"eligible must be any, rejected or one of {CONDITIONS}, got {f.eligible!r}"
            )
        keep &= flags[f.eligible]
    if f.column and (f.low is not None or f.high is not None):
        if f.column not in df:
            raise ValueError(f"no column {f.column!r} in this manifest; it has {score_columns(df)}")
        values = pd.to_numeric(df[f.column], errors="coerce")
        if f.low is not None:
            keep &= values >= f.low
        if f.high is not None:
            keep &= values <= f.high
    if f.search.strip():
        needle = f.search.strip().lower()
        text = df["clip_id"].astype(str).str.lower() + "\n" + df["source"].astype(str).str.lower()
        keep &= text.str.contains(needle, regex=False)
    return df[keep]


def _flag(df: pd.DataFrame, condition: str) -> pd.Series:
    column = f"eligible_{condition}"
    if column not in df:
        return pd.Series(False, index=df.index)
    return df[column].astype("boolean").fillna(False).astype(bool)


def summary(total: pd.DataFrame, shown: pd.DataFrame, root: str) -> str:
    """One markdown line: how many rows are shown and their status counts."""
    counts = shown["status"].value_counts().to_dict()
    status = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no rows"
    return f"**{len(shown)} of {len(total)} rows** shown ({status}); media root `{root}`"


def pass_rates(df: pd.DataFrame) -> pd.DataFrame:
    """Per condition: rows eligible, rows filtered, pass rate and the rows failing each check
    (as in the curation report)."""
    why = reason_counts(df)
    rows = []
    for condition in CONDITIONS:
        column = f"eligible_{condition}"
        flags = df[column].dropna().astype(bool) if column in df else pd.Series(dtype=bool)
        rate = f"{flags.mean():.1%}" if len(flags) else "not filtered"
        rows.append(
            {
                "condition": condition,
                "eligible": int(flags.sum()),
                "of": len(flags),
                "pass rate": rate,
                "failing": ", ".join(f"{k} {n}" for k, n in why[condition].most_common()),
            }
        )
    return pd.DataFrame(rows)


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The rows as shown: identity and decisions first, then every score column."""
    first = [c for c in TABLE_COLUMNS if c in df]
    shown = df[first + [c for c in score_columns(df) if c not in first]].reset_index(drop=True)
    return shown.apply(lambda c: c.map(_round) if c.dtype.kind == "f" else c)


def _round(value: float) -> float:
    """4 significant digits: what a table of scores needs."""
    return float(f"{value:.4g}") if math.isfinite(value) else value


def histograms(df: pd.DataFrame) -> Figure | None:
    """One histogram per score column with values among these rows (None when there is none)."""
    series = {c: pd.to_numeric(df[c], errors="coerce").dropna() for c in score_columns(df)}
    series = {c: v for c, v in series.items() if len(v)}
    if not series:
        return None
    cols = min(4, len(series))
    rows = math.ceil(len(series) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.3 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(series) :]:
        ax.axis("off")
    for ax, (name, values) in zip(axes.flat, series.items(), strict=False):
        ax.hist(values.to_numpy(dtype=float), bins=20, color="#4a7ab7")
        ax.set_title(f"{name} ({len(values)} clips)", fontsize=9)
        ax.tick_params(labelsize=7)
    return fig


def ranked(df: pd.DataFrame, column: str, count: int) -> list[tuple[str, object, float]]:
    """("best" | "worst", row index, value): the best `count` then the worst `count` rows by a
    score column, better meaning what the curation report means by it."""
    if column not in df:
        raise ValueError(f"no column {column!r} in this manifest; it has {score_columns(df)}")
    values = pd.to_numeric(df[column], errors="coerce").dropna()
    order = values.sort_values(ascending=not SCORE_COLUMNS.get(column, True))
    best = list(order.index[:count])
    worst = [i for i in order.index[::-1][:count] if i not in best]
    return [("best", i, float(values[i])) for i in best] + [
        ("worst", i, float(values[i])) for i in worst
    ]


def thumbnail(
    m: Manifest, row: pd.Series, side: int = 160, keypoints: bool = False
) -> np.ndarray | None:
    """The clip's middle frame scaled to `side` pixels at most (None if it does not decode); with
    `keypoints`, the row's pose keypoints drawn on it (as in the curation report)."""
    start = float(row["start_s"]) if pd.notna(row["start_s"]) else 0.0
    middle = (start + float(row["end_s"])) / 2 if pd.notna(row["end_s"]) else start
    try:
        size = _display_size(row, side)
        clip = read_video(m.resolve(row["source"]), middle, None, size=size, max_frames=1)
    except (MediaError, OSError, ValueError):
        return None
    if keypoints and isinstance(row.get("keypoints_path"), str):
        from omni.pose import draw_side_file

        return draw_side_file(clip.frames[0], m.resolve(row["keypoints_path"]), clip.times[0])
    return clip.frames[0]


def gallery(
    m: Manifest, df: pd.DataFrame, column: str, count: int = 4
) -> list[tuple[np.ndarray, str]]:
    """(thumbnail, caption) of the best and worst rows by `column`, rows that decode only."""
    out = []
    for label, index, value in ranked(df, column, count):
        row = df.loc[index]
        image = thumbnail(m, row, keypoints=column.startswith("pose_"))
        if image is not None:
            out.append((image, f"{label}: {row['clip_id']} ({column} {value:.3g})"))
    return out


def clip_video(
    m: Manifest, row: pd.Series, workdir: str | os.PathLike, keypoints: bool = False
) -> Path:
    """The clip's span of its source (with sound) as a small mp4 in `workdir`, made once; with
    `keypoints`, the row's pose keypoints drawn on every frame (interpolated to its time, as the
    datamodule does) when it has a readable side file."""
    if row["status"] != "ok":
        reason = _text(row.get("error")) or "no reason recorded"
        raise ValueError(
            f"clip {row['clip_id']} has status {row['status']!r} ({reason}); nothing to play"
        )
    source = m.resolve(row["source"])
    start = float(row["start_s"]) if pd.notna(row["start_s"]) else 0.0
    end = float(row["end_s"]) if pd.notna(row["end_s"]) else None
    side = (
        m.resolve(row["keypoints_path"]) if keypoints and _text(row.get("keypoints_path")) else None
    )
    key = hashlib.sha1(f"{source}|{start}|{end}|{side}".encode()).hexdigest()[:16]
    out = Path(workdir) / "clips" / f"{key}.mp4"
    if out.is_file():
        return out
    try:
        clip = read_video(source, start, end, size=_display_size(row, PLAYBACK_SIDE))
        fps = float(row["fps"]) if pd.notna(row.get("fps")) else _fps(clip.times)
        frames = _with_keypoints(clip.frames, clip.times, side) if side else clip.frames
        audio, sr = None, 16000
        if bool(row.get("has_audio")):
            sr = int(row["audio_sr"]) if pd.notna(row.get("audio_sr")) else sr
            sr = min(sr, 48000)
            audio = read_audio(source, sr, start, start + len(clip.frames) / fps)
        return write_video(out, frames, fps, audio, sr)
    except (MediaError, OSError) as err:
        raise ValueError(f"clip {row['clip_id']} cannot be played: {err}") from err


def _with_keypoints(frames: np.ndarray, times: np.ndarray, side_file: str) -> np.ndarray:
    """Frames with the side file's keypoints drawn, interpolated to each frame's time (frames
    unchanged if the file is missing, unreadable or outdated)."""
    from omni.pose import draw_keypoints, resample_keypoints, side_file_or_none

    found = side_file_or_none(side_file)
    if found is None:
        return frames
    kp = resample_keypoints(*found, np.asarray(times, np.float64))
    return np.stack([draw_keypoints(f, kp.xy[i], kp.conf[i]) for i, f in enumerate(frames)])


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _display_size(row: pd.Series, side: int) -> tuple[int, int] | None:
    """(width, height) of the upright picture scaled to `side` at most, even numbers."""
    if pd.isna(row.get("width")) or pd.isna(row.get("height")):
        return None
    w, h = int(row["width"]), int(row["height"])
    if round(float(row.get("rotation") or 0) / 90) % 2:
        w, h = h, w
    scale = min(1.0, side / max(w, h))
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


def _fps(times: np.ndarray) -> float:
    return float(1.0 / np.median(np.diff(times))) if len(times) > 1 else 25.0
