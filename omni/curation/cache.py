"""`omni curate cache`: VAE latents, audio features and keypoints of every clip, as training shards.

This step writes no cache format of its own: it builds the training run's `OmniDataModule` and
LightningModule from the same configs as `omni fit` (stage, preset, `--init-from`, extra
`--model.*`/`--data.*` options) and lets the datamodule build its feature cache
(`omni.datamodules.cache`: safetensors shards + index.parquet) under `--cache-dir`. A later
`omni fit` with the same options and `--data.cache_dir` finds the cache complete and reads it
instead of decoding video. Shards are written atomically, so an interrupted run resumes with the
shards it has.

The output manifest is the input's rows with, per row, where its windows are (`cache_shard`),
how many windows were cached (`cache_windows`) and, when none or not all were, why (`cache_error`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from omni.manifest import Manifest, register_columns

CACHE_STEP_VERSION = "2"  # 2: the cache holds motion-frame latents
register_columns(
    pa.field("cache_split", pa.string()),
    pa.field("cache_shard", pa.string()),
    pa.field("cache_windows", pa.int64()),
    pa.field("cache_error", pa.string()),
    pa.field("cache_version", pa.string()),
)
CACHEABLE_STAGES = ("t2v", "text_ref", "audio", "pose")


@dataclass
class CacheSettings:
    """What the cache is built for: the training run that will read it."""

    cache_dir: str
    """Cache folder (`train/` and `val/` below it); pass the same as `--data.cache_dir` to fit."""
    stage: str = "audio"
    """Training stage whose configs (condition ratios, model) the cache is made for."""
    preset: str = "tiny"
    """Size preset (resolution, frames per window, VAE)."""
    init_from: str | None = None
    """Checkpoint of the previous stage, as given to `omni fit --init-from`."""
    args: tuple[str, ...] = field(default_factory=tuple)
    """Further LightningCLI options of the fit run (`--model.network.vae causal`, `--data.fps 25`)."""


def build_training_parts(manifest: str, settings: CacheSettings):
    """(LightningModule, OmniDataModule) exactly as `omni fit` would build them for `manifest`."""
    from omni.training.lightning_cli import build_cli

    if settings.stage not in CACHEABLE_STAGES:
        raise ValueError(
            f"curate cache builds the MMDiT stages' feature cache; expected --stage in "
            f"{CACHEABLE_STAGES}, got {settings.stage!r}"
        )
    args = [
        *settings.args,
        "--trainer.logger", "false",
        "--data.manifests", json.dumps([str(Path(manifest).resolve())]),
        "--data.cache_dir", str(Path(settings.cache_dir).resolve()),
    ]  # fmt: skip
    cli = build_cli(None, settings.stage, settings.preset, args, settings.init_from, run=False)
    module, data = cli.model, cli.datamodule
    data.audio_fn = module.audio_encoder()
    data.encoder = module.cache_encoder()
    return module, data


def build_cache(manifest: str, settings: CacheSettings) -> pd.DataFrame:
    """Build (or resume, or reuse) the feature cache of `manifest`; its rows with the cache columns.

    Raises ValueError for settings that do not fit (unknown stage, a cache folder made for other
    data or settings); bad clips only become `cache_error` reasons.
    """
    from omni.datamodules.clips import load_clips
    from omni.manifest import read_manifest

    m = read_manifest(manifest)
    _, data = build_training_parts(manifest, settings)
    hp = data.hparams
    sampleable = load_clips(
        [m], hp.num_frames, hp.fps, data.buckets, hp.missing_eligibility, hp.keypoints_column
    )
    if len(sampleable):  # with no sampleable clip every row gets its reason below
        data.setup("fit")
    return cache_rows(m, data, str(Path(settings.cache_dir).resolve()))


def exclusion_reason(row: dict, num_frames: int, fps: float | None) -> str:
    """Why the datamodule cannot sample a window from this row (mirrors `load_clips`' rules)."""
    if row.get("status") != "ok":
        return f"status={row.get('status')}: {row.get('error') or ''}".rstrip(": ")
    if any(pd.isna(row.get(k)) for k in ("fps", "width", "height")):
        return "missing fps/width/height"
    return f"shorter than {num_frames}+1 frames (window + reference) at the sampling fps"


def cache_rows(m: Manifest, data, root_dir: str) -> pd.DataFrame:
    """The manifest's rows with the cache columns, from the index of each split's cache folder."""
    df = m.df.copy()
    hp = data.hparams
    info: dict[str, dict] = {}
    for name, table in (("train", data.train_table), ("val", data.val_table)):
        folder = Path(root_dir) / name
        if table is None or not len(table) or not (folder / "index.parquet").exists():
            continue
        index = pd.read_parquet(folder / "index.parquet")
        ids = table.df["clip_id"].astype(str).to_numpy()
        for clip, windows in index.groupby("clip"):
            errors = windows["error"].dropna()
            ok = len(windows) - len(errors)
            shard = folder / f"shard-{int(windows['shard'].iloc[0]):05d}.safetensors"
            reason = None
            if len(errors):
                reason = f"{len(errors)} of {len(windows)} windows failed: {errors.iloc[0]}"
            info[ids[int(clip)]] = {
                "cache_split": name,
                "cache_shard": _relative(str(shard), m.root),
                "cache_windows": ok,
                "cache_error": reason,
            }
    records = []
    for row in df.to_dict("records"):
        found = info.get(str(row["clip_id"]))
        if found is None:
            reason = exclusion_reason(row, hp.num_frames, hp.fps)
            found = {
                "cache_split": None,
                "cache_shard": None,
                "cache_windows": 0,
                "cache_error": f"not cached: {reason}",
            }
        records.append(found)
    extra = pd.DataFrame(records, index=df.index)
    for column in extra.columns:
        df[column] = extra[column].astype(object)
    df["cache_windows"] = df["cache_windows"].astype(np.int64)
    df["cache_version"] = CACHE_STEP_VERSION
    return df


def _relative(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)
    return Path(rel).as_posix() if not rel.startswith("..") else path
