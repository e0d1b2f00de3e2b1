"""Manifest rows -> the table of clips a dataset samples from, every excluded row counted.

Rows with `status != ok` are never sampled; neither are clips too short to hold a window plus a
reference frame outside it. Every exclusion is counted with its reason so a run can say what it
left out. Eligibility flags that are missing (a manifest that was never filtered) follow the
`missing_eligibility` policy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from omni.datamodules.buckets import assign_bucket, upright_size
from omni.datamodules.conditions import CONDITIONS, ELIGIBILITY_COLUMNS
from omni.manifest import Manifest, read_manifest

MissingEligibility = Literal["ineligible", "eligible", "error"]


@dataclass
class ClipTable:
    """Sampleable clips (one row each, paths resolved) plus what was left out and why."""

    df: pd.DataFrame
    eligible: np.ndarray  # (N, 4) bool in CONDITIONS order
    excluded: dict[str, int] = field(default_factory=dict)
    total_rows: int = 0

    def __len__(self) -> int:
        return len(self.df)

    def groups(self, num_buckets: int) -> list[list[int]]:
        """Row positions per bucket."""
        bucket = self.df["bucket"].to_numpy()
        return [np.flatnonzero(bucket == b).tolist() for b in range(num_buckets)]

    def summary(self) -> str:
        kept = f"{len(self)} of {self.total_rows} manifest rows sampleable"
        if not self.excluded:
            return kept
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.excluded.items()))
        return f"{kept}; excluded: {reasons}"


def _eligibility(
    df: pd.DataFrame, has_text: np.ndarray, policy: MissingEligibility, where: str
) -> np.ndarray:
    columns = []
    for name in CONDITIONS:
        column = ELIGIBILITY_COLUMNS[name]
        values = df[column] if column in df else pd.Series([None] * len(df), index=df.index)
        missing = values.isna().to_numpy()
        if missing.any() and policy == "error":
            raise ValueError(
                f"{where}: {int(missing.sum())} ok rows have no {column!r} flag; expected a "
                "manifest written by `omni curate filter` (or set data "
                "missing_eligibility: eligible|ineligible)"
            )
        default = policy == "eligible"
        columns.append(
            np.where(missing, default, values.astype("boolean").fillna(False).to_numpy(dtype=bool))
        )
    eligible = np.stack(columns, axis=1).astype(bool)
    eligible[:, CONDITIONS.index("text")] &= has_text
    return eligible


def load_clips(
    manifests: Sequence[str | Manifest],
    num_frames: int,
    fps: float | None,
    buckets: Sequence[tuple[int, int]],
    missing_eligibility: MissingEligibility = "ineligible",
    keypoints_column: str = "keypoints_path",
) -> ClipTable:
    """Read manifests and keep the rows a window of `num_frames` at `fps` can be sampled from.

    `fps` None samples each clip at its own frame rate. Adds columns: `path` (resolved source),
    `keypoints` (resolved side file or None), `fps_t` (sampling rate), `n_frames` (frames at that
    rate), `bucket` (index into `buckets`).
    """
    frames, excluded, total = [], Counter(), 0
    eligibles = []
    for item in manifests:
        manifest = item if isinstance(item, Manifest) else read_manifest(item)
        df = manifest.df
        total += len(df)
        bad_status = df["status"] != "ok"
        for status, n in df.loc[bad_status, "status"].value_counts().items():
            excluded[f"status={status}"] += int(n)
        df = df[~bad_status].copy()
        no_meta = df[["fps", "width", "height"]].isna().any(axis=1)
        excluded["missing fps/width/height"] += int(no_meta.sum())
        df = df[~no_meta]
        start = df["start_s"].fillna(0.0)
        end = df["end_s"].where(df["end_s"].notna(), start + df["num_frames"] / df["fps"])
        df = df.assign(start_s=start, end_s=end)
        df["fps_t"] = float(fps) if fps else df["fps"].astype(float)
        df["n_frames"] = np.floor((df["end_s"] - df["start_s"]) * df["fps_t"] + 1e-6)
        df["n_frames"] = df["n_frames"].fillna(0).astype(int)
        short = df["n_frames"] < num_frames + 1
        excluded[f"shorter than {num_frames}+1 frames (window + reference)"] += int(short.sum())
        df = df[~short]
        df["path"] = [manifest.resolve(s) for s in df["source"]]
        if keypoints_column in df:
            df["keypoints"] = [
                manifest.resolve(p) if isinstance(p, str) and p else None
                for p in df[keypoints_column]
            ]
        else:
            df["keypoints"] = None
        df["bucket"] = [
            assign_bucket(*upright_size(int(w), int(h), int(r or 0)), buckets)
            for w, h, r in zip(df["width"], df["height"], df["rotation"].fillna(0), strict=True)
        ]
        caption = df["caption"].fillna("").astype(str)
        df["caption"] = caption
        has_text = (caption.str.len() > 0).to_numpy()
        where = manifest.root if isinstance(item, Manifest) else str(item)
        eligibles.append(_eligibility(df, has_text, missing_eligibility, where))
        frames.append(df)
    keep = [c for c in _COLUMNS if any(c in f for f in frames)]
    df = pd.concat([f[keep] for f in frames], ignore_index=True) if frames else pd.DataFrame()
    eligible = np.concatenate(eligibles) if eligibles else np.zeros((0, 4), bool)
    if len(df):
        has_audio = df["has_audio"].map(lambda v: bool(v) if pd.notna(v) else False)  # null: none
        no_audio = ~has_audio.to_numpy(dtype=bool)
        eligible[no_audio, CONDITIONS.index("audio")] = False
        no_kp = df["keypoints"].isna().to_numpy()
        eligible[no_kp, CONDITIONS.index("pose")] = False
    return ClipTable(df, eligible, {k: v for k, v in excluded.items() if v}, total)


_COLUMNS = [
    "clip_id", "path", "keypoints", "start_s", "end_s", "fps", "fps_t", "n_frames",
    "width", "height", "rotation", "has_audio", "caption", "bucket",
]  # fmt: skip


def choose_window(
    n_frames: int, num_frames: int, rng: np.random.Generator | None
) -> tuple[int, int]:
    """(first window frame, reference frame) at the sampling rate; the reference is outside.

    With rng None (validation) the window is centred and the reference is the first frame
    before it (or the last after it).
    """
    slack = n_frames - num_frames  # >= 1: load_clips guarantees room for the reference
    if slack < 1:
        raise ValueError(f"clip has {n_frames} frames, a window needs {num_frames}+1")
    if rng is None:
        start = slack // 2
        ref = start - 1 if start > 0 else n_frames - 1
        return start, ref
    start = int(rng.integers(0, slack + 1))
    outside = int(rng.integers(0, slack))  # index among the frames outside the window
    ref = outside if outside < start else outside + num_frames
    return start, ref


def cover_crop(
    width: int, height: int, target: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Resize (w, h) that covers target (H, W) keeping the aspect, and the crop's (x0, y0)."""
    th, tw = target
    scale = max(tw / width, th / height)
    w = max(tw, math.ceil(width * scale - 1e-6))
    h = max(th, math.ceil(height * scale - 1e-6))
    return (w, h), ((w - tw) // 2, (h - th) // 2)
