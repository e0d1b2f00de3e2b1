"""`omni curate filter`: per-condition eligibility flags and reject reasons; never drops a row.

Weak conditions reuse what strong ones reject (the OmniHuman data principle): a clip out of sync
is still eligible for text + reference. A check whose score column is absent (its scorer was not
run) is skipped; a present column with a null value fails the check, with the reason. Every
condition a usable row is not eligible for says why: its own failed checks, and
"<condition>: needs eligible_<weaker>" when a weaker condition failed (a full-body clip out of
sync is not pose-eligible even if its pose scores pass; its reason says so).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

# (column, comparison, thresholds attribute) per condition; every condition also needs the weaker
# ones before it.
_CHECKS = {
    "text_ref": [
        ("face_present", ">=", "min_face_present"),
        ("sharpness", ">=", "min_sharpness"),
        ("exposure", ">=", "min_exposure"),
        ("exposure", "<=", "max_exposure"),
    ],
    "audio": [
        ("speech_activity", ">=", "min_speech_activity"),
        ("abs_sync_offset", "<=", "max_abs_sync_offset"),
        ("sync_conf", ">=", "min_sync_conf"),
        ("face_present", ">=", "min_face_present_audio"),
    ],
    "pose": [
        ("pose_visibility", ">=", "min_pose_visibility"),
        ("pose_jitter", "<=", "max_pose_jitter"),
    ],
}
CONDITIONS = tuple(_CHECKS)
"""The conditions, weakest first: each has an `eligible_<condition>` column."""


@dataclass
class Thresholds:
    """Default thresholds (override any subset in a YAML file of these keys)."""

    min_face_present: float = 0.5
    """text_ref: fraction of frames with a detected face."""
    min_sharpness: float = 20.0
    """text_ref: variance of the Laplacian on the 160-px grey decode."""
    min_exposure: float = 0.08
    """text_ref: mean brightness in [0, 1]."""
    max_exposure: float = 0.92
    """text_ref: mean brightness in [0, 1]."""
    min_speech_activity: float = 0.3
    """audio: fraction of frames with speech-band energy."""
    max_abs_sync_offset: float = 2
    """audio: |lip-sync offset| in scoring frames (25 fps: 80 ms)."""
    min_sync_conf: float = 0.15
    """audio: landmark lip-sync confidence (peak minus median correlation)."""
    min_sync_conf_syncnet: float = 3.0
    """audio: SyncNet confidence (Sync-C: median minus minimum embedding distance), for rows
    scored with --syncnet (sync_method = syncnet)."""
    min_face_present_audio: float = 0.8
    """audio: the speaking face must be visible nearly all the time."""
    min_pose_visibility: float = 0.5
    """pose: mean body-landmark visibility."""
    max_pose_jitter: float = 0.02
    """pose: median second difference of confident joints (frame-size units)."""

    @classmethod
    def from_yaml(cls, path: str | Path | None) -> Thresholds:
        if path is None:
            return cls()
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(
                f"{path}: expected a mapping of threshold: value, got {type(data).__name__}"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown thresholds {unknown}; known keys: {sorted(known)}")
        return cls(**{k: float(v) for k, v in data.items()})


def apply_filter(df: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """Same rows with `eligible_text_ref`, `eligible_audio`, `eligible_pose`, `reject_reason`."""
    df = df.copy()
    values = asdict(thresholds)
    scores = df.copy()
    if "sync_offset" in scores:
        scores["abs_sync_offset"] = scores["sync_offset"].abs()
    ok = (df["status"] == "ok").to_numpy()
    reasons = [[] if o else [f"status {s}"] for o, s in zip(ok, df["status"], strict=True)]
    previous, weaker = ok, None
    for condition, checks in _CHECKS.items():
        passed = previous.copy()
        checked = ok.copy()  # every usable row gets this condition's reasons, eligible or not
        if weaker is not None:
            for i in np.flatnonzero(ok & ~previous):
                reasons[i].append(f"{condition}: needs eligible_{weaker}")
        if condition == "audio" and "has_audio" in df:
            no_audio = ~df["has_audio"].astype("boolean").fillna(False).to_numpy(dtype=bool)
            for i in np.flatnonzero(no_audio & ok):
                reasons[i].append("audio: no audio stream")  # its audio scores are null: unsaid
            passed &= ~no_audio
            checked &= ~no_audio
        for column, op, key in checks:
            if column not in scores:
                continue
            limit = _limits(key, scores, values)
            col = pd.to_numeric(scores[column], errors="coerce").to_numpy(dtype=float)
            good = col >= limit if op == ">=" else col <= limit
            for i in np.flatnonzero(checked & ~good):
                got = "null" if np.isnan(col[i]) else f"{col[i]:.3g}"
                reasons[i].append(f"{condition}: {column} {got} (needs {op} {limit[i]:g})")
            passed &= good
        df[f"eligible_{condition}"] = passed
        previous, weaker = passed, condition
    df["reject_reason"] = ["; ".join(r) if r else None for r in reasons]
    return df


def _limits(key: str, scores: pd.DataFrame, values: dict) -> np.ndarray:
    """The threshold of each row: SyncNet confidences have their own scale."""
    limit = np.full(len(scores), values[key], dtype=float)
    if key == "min_sync_conf" and "sync_method" in scores:
        syncnet = (scores["sync_method"] == "syncnet").to_numpy()
        limit[syncnet] = values["min_sync_conf_syncnet"]
    return limit


def reason_counts(df: pd.DataFrame) -> dict[str, Counter]:
    """Per condition, how many rows each reason keeps out, read back from `reject_reason` (as
    `apply_filter` writes it): the failed check's column, "needs eligible_<weaker>" or "no audio
    stream"."""
    counts: dict[str, Counter] = {c: Counter() for c in CONDITIONS}
    reasons = df["reject_reason"].dropna() if "reject_reason" in df else []
    for text in reasons:
        for part in str(text).split("; "):
            condition, _, what = part.partition(": ")
            if condition in counts and what:
                counts[condition][
                    what if what.startswith(("needs ", "no ")) else what.split()[0]
                ] += 1
    return counts
