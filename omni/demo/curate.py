"""The demo's curation: `omni curate probe → score → filter → report` on the synthetic clips.

Probe sees only the video files; the generator's captions, split and ground-truth columns are
joined back onto its rows by file name, so the curated manifests can be split into train and
held-out and still point at the truth. The curation's own keypoint side files replace the exact
ones (training then sees what a real pipeline would estimate).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pandas as pd

from omni.demo import synth
from omni.manifest import read_manifest, write_manifest

_CARRIED = ("caption", "clip_id")  # columns whose generator value replaces probe's
_PATHS = ("synth_reference", "synth_audio", "synth_truth")


def run_command(group, args: list[str], log: list[str]) -> None:
    """Run a click command in-process (no re-import of torch per step); record its command line."""
    log.append(f"omni {group.name} " + shlex.join(args))
    group.main(args=args, prog_name=f"omni {group.name}", standalone_mode=False)


def join_truth(probed: Path, generated: Path, out: Path) -> Path:
    """Probe's rows plus the generator's columns, matched by video file name."""
    probe = read_manifest(probed)
    truth = read_manifest(generated)
    by_name = {
        Path(s).name: row for s, row in zip(truth.df.source, truth.df.itertuples(), strict=True)
    }
    df = probe.df.copy()
    names = [Path(s).name for s in df.source]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"probe found files the generator did not write: {missing[:3]}")
    extra = [c for c in truth.df.columns if c.startswith(synth.COLUMN_PREFIX)]
    for column in (*_CARRIED, *extra):
        values = [getattr(by_name[n], column) for n in names]
        if column in _PATHS:  # re-anchor generator paths on probe's root
            values = [
                os.path.relpath(truth.resolve(v), probe.root) if isinstance(v, str) else v
                for v in values
            ]
        df[column] = values
    return write_manifest(df, out, root=probe.root)


def split_curated(
    curated: Path, out_dir: Path, audio_min_face_area: float = 0.0
) -> dict[str, Path]:
    """train.parquet, heldout.parquet and train_audio.parquet of the curated manifest (same root):
    train_audio holds the train rows eligible for audio whose mean face area is at least
    `audio_min_face_area` of the frame."""
    manifest = read_manifest(curated)
    df = manifest.df
    parts = {
        "train": df.synth_split == "train",
        "heldout": df.synth_split == "heldout",
        "train_audio": (df.synth_split == "train")
        & df.eligible_audio.astype(bool)
        & (df.face_area.fillna(0.0) >= audio_min_face_area),
    }
    return {
        name: write_manifest(
            df[rows].reset_index(drop=True), out_dir / f"{name}.parquet", root=manifest.root
        )
        for name, rows in parts.items()
    }


def curate(
    data_dir: Path,
    out_dir: Path,
    workers: int,
    fps: float,
    log: list[str],
    scorers: str | None = None,
    audio_min_face_area: float = 0.0,
) -> dict[str, Path]:
    """probe → join → score → filter → report; returns the curated manifests (`split_curated`)
    and the report."""
    from omni.curation.cli import curate as group

    out_dir.mkdir(parents=True, exist_ok=True)
    probed = out_dir / "probe.parquet"
    run_command(group, ["probe", str(data_dir / "videos"), "--out", str(probed)], log)
    joined = join_truth(probed, data_dir / "all.parquet", out_dir / "joined.parquet")
    scored = out_dir / "scored.parquet"
    run_command(
        group,
        ["score", str(joined), "--out", str(scored), "--workers", str(workers), "--fps", str(fps),
         "--keypoints-dir", str(out_dir / "keypoints"),
         *(["--scorers", scorers] if scorers else [])],
        log,
    )  # fmt: skip
    filtered = out_dir / "curated.parquet"
    run_command(group, ["filter", str(scored), "--out", str(filtered)], log)
    report = out_dir / "report.html"
    run_command(group, ["report", str(filtered), "--out", str(report)], log)
    parts = split_curated(filtered, out_dir, audio_min_face_area)
    return {**parts, "curated": filtered, "report": report}


def eligibility(curated: Path) -> pd.DataFrame:
    """Rows per split and condition that curation found eligible (for the summary)."""
    df = read_manifest(curated).df
    columns = ["eligible_text_ref", "eligible_audio", "eligible_pose"]
    return df.groupby("synth_split")[columns].sum().astype(int)
