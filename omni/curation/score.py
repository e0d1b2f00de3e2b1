"""`omni curate score`: the scorers over every pending row of a manifest (resumable)."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from omni.curation.scorers import SCORERS, ScoreConfig, decode_clip

OVERLAP = True
"""Decode the video and the audio in threads while the face track and the first pose pass run
on the frames as they arrive, then run the rest of the pose scorer (its dense pass) and the
quality scorer in threads beside the others (PyAV, mediapipe and OpenCV release the GIL): up to
three busy threads for one clip. Pool workers turn it off (`runner.single_threaded`):
their processes fill the cores."""


def pending_mask(df: pd.DataFrame, versions: dict[str, str]) -> np.ndarray:
    """Rows still to score: status ok and some scorer's version column missing or different.

    `versions`: scorer name -> its version for this run (`scorers.scorer_version`)."""
    todo = np.zeros(len(df), dtype=bool)
    for name, version in versions.items():
        column = f"{name}_version"
        have = df[column] if column in df else pd.Series([None] * len(df), index=df.index)
        todo |= (have != version).to_numpy()
    return todo & (df["status"] == "ok").to_numpy()


def score_task(task: dict) -> dict:
    """Decode one clip once and run the scorers on it; every failure becomes a reason, not a crash."""
    from omni.media import MediaError

    config = ScoreConfig(**task["config"])
    names = task["scorers"]
    result: dict = {"clip_id": task["clip_id"]}
    result.update({f"{n}_version": task["versions"][n] for n in names})
    try:
        clip = decode_clip(
            task["path"],
            task["clip_id"],
            task["start_s"],
            task["end_s"],
            config,
            overlap=OVERLAP,
            faces=any(n in ("face", "lipsync") for n in names),
            mouth_needed="lipsync" in names,
            pose="pose" in names,
        )
    except (MediaError, OSError) as err:
        result.update(status="error", error=f"decode: {err}")
        return result
    clip.mouth_needed = "lipsync" in names and clip.audio is not None
    values: dict[str, tuple[dict, str | None]] = {}
    # beside the main thread: pose (the dense pass of a full-body clip) and quality, so that a
    # head clip's remaining work (quality | motion, lip-sync) also fills two cores
    aside = [n for n in names if n in ("pose", "quality")] if OVERLAP else []
    with ThreadPoolExecutor(len(aside)) if aside else nullcontext() as pool:
        futures = {n: pool.submit(_run_scorer, n, clip, config) for n in aside}
        for name in names:
            if name not in futures:
                values[name] = _run_scorer(name, clip, config)
        values.update({n: f.result() for n, f in futures.items()})
    for name in names:  # columns in the order of `names`, whichever thread scored them
        result.update(values[name][0])
    errors = [values[n][1] for n in names if values[n][1] is not None]
    result["score_error"] = "; ".join(errors) or None
    return result


def _run_scorer(name: str, clip, config: ScoreConfig) -> tuple[dict, str | None]:
    """(columns, None) or (null columns, reason): one scorer failing must not lose the others."""
    scorer = SCORERS[name]()
    try:
        return scorer(clip, config), None
    except Exception as err:
        return {f.name: None for f in scorer.columns}, f"{name}: {type(err).__name__}: {err}"


def stale_scorers(row: dict, versions: dict[str, str]) -> list[str]:
    """The scorers of `versions` whose version column in `row` differs (missing included)."""
    return [n for n, version in versions.items() if row.get(f"{n}_version") != version]


def build_tasks(
    df: pd.DataFrame, mask: np.ndarray, resolve, versions: dict[str, str], config: ScoreConfig
) -> list[dict]:
    """One task per pending row, running only the scorers whose version the row lacks: a new
    version of one scorer re-runs that scorer, not the clip's others (the decode is shared)."""
    return [
        {
            "clip_id": r["clip_id"],
            "path": resolve(r["source"]),
            "start_s": float(r["start_s"]) if pd.notna(r["start_s"]) else 0.0,
            "end_s": float(r["end_s"]) if pd.notna(r["end_s"]) else None,
            "scorers": stale_scorers(r, versions),
            "versions": versions,
            "config": asdict(config),
        }
        for r in df[mask].to_dict("records")
    ]


def merge_results(df: pd.DataFrame, results: pd.DataFrame, root: str) -> pd.DataFrame:
    """Rows of `df` with the scored columns of `results` (matched by clip_id) filled in.

    A scorer's columns change only in the rows it ran on (its version column is set there);
    `score_error` keeps the reasons of the scorers that did not run again."""
    if results.empty:
        return df
    df = df.copy()
    results = results.set_index("clip_id")
    if "keypoints_path" in results:
        results["keypoints_path"] = [
            _relative(p, root) if isinstance(p, str) else p for p in results["keypoints_path"]
        ]
    hit = df["clip_id"].isin(results.index)
    ids = df.loc[hit, "clip_id"]
    owner = {f.name: name for name, scorer in SCORERS.items() for f in scorer.columns}
    ran = {
        name: ids.map(results[f"{name}_version"]).notna() if f"{name}_version" in results else None
        for name in SCORERS
    }
    for column in results.columns:
        new = ids.map(results[column])
        if column not in df:
            df[column] = pd.Series([None] * len(df), index=df.index, dtype=object)
        old = df.loc[hit, column]
        if column in ("status", "error"):
            new = new.where(new.notna(), old)
        elif column == "score_error":
            new = pd.Series(
                [_errors(o, n, {s for s, r in ran.items() if r is not None and r[i]})
                 for i, o, n in zip(ids.index, old, new, strict=True)],
                index=ids.index,
            )  # fmt: skip
        elif column in owner and ran[owner[column]] is not None:
            new = new.where(ran[owner[column]], old)
        df[column] = df[column].astype(object)
        df.loc[hit, column] = new.astype(object)
    return df


def _errors(old, new, rerun: set[str]) -> str | None:
    """`score_error` after re-running the scorers `rerun`: their new reasons, the others' old."""
    kept = [e for e in _split_errors(old) if e.split(":", 1)[0] not in rerun]
    order = {name: i for i, name in enumerate(SCORERS)}  # reasons in the scorers' order
    parts = sorted(kept + _split_errors(new), key=lambda e: order.get(e.split(":", 1)[0], 0))
    return "; ".join(parts) or None


def _split_errors(text) -> list[str]:
    """A `score_error` value -> its reasons, each starting with `<scorer>: ` (see score_task)."""
    if not isinstance(text, str) or not text:
        return []
    names = "|".join(map(re.escape, SCORERS))
    return re.split(rf"; (?=(?:{names}): )", text)


def _relative(path: str, root: str) -> str:
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return path
    return Path(rel).as_posix() if not rel.startswith("..") else path
