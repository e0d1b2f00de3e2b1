"""`omni curate STEP IN --out OUT`: every step reads a manifest and writes the same rows plus its own.

`probe` reads a folder instead. Bad media never fails a step (each file gets a row with a reason);
only usage errors exit non-zero.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

import omni.curation.schema  # noqa: F401  (declares every curation column)
from omni.curation.caption import caption_cmd
from omni.manifest import ManifestError, read_manifest, write_manifest

console = Console(stderr=True)


def _read(path: str):
    try:
        return read_manifest(path)
    except (ManifestError, FileNotFoundError) as err:
        raise click.UsageError(f"expected an omni manifest (.parquet) at {path}: {err}") from err


def _summary(df: pd.DataFrame, title: str, extra: dict | None = None) -> None:
    table = Table(title=title)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("rows", str(len(df)))
    for status, n in df["status"].value_counts().items():
        table.add_row(f"status={status}", str(n))
    if (df["status"] != "ok").any():
        reasons = df.loc[df["status"] != "ok", "error"].fillna("").str.split(":").str[0]
        for reason, n in reasons.value_counts().head(5).items():
            table.add_row(f"  reason: {reason[:50]}", str(n))
    for key, value in (extra or {}).items():
        table.add_row(key, str(value))
    console.print(table)


out_option = click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output manifest (.parquet).",
)
limit_option = click.option("--limit", type=int, default=None, help="Process at most N rows.")
dry_option = click.option("--dry-run", is_flag=True, help="Say what would be done; write nothing.")


@click.group("curate")
def curate() -> None:
    """Turn raw footage into scored, filtered Parquet manifests (probe → split → score → filter)."""


@curate.command("probe")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@out_option
@click.option("--include", multiple=True, help="Filename glob to include (repeatable).")
@click.option("--exclude", multiple=True, help="Path or filename glob to skip (repeatable).")
@limit_option
@dry_option
def probe_cmd(folder, out, include, exclude, limit, dry_run) -> None:
    """One row per media file under FOLDER (recursive); unreadable files get status=error."""
    from rich.progress import track

    from omni.curation.probe import DEFAULT_PATTERNS, find_media, probe_row

    root = Path(folder).resolve()
    files = find_media(root, tuple(include) or DEFAULT_PATTERNS, tuple(exclude))[:limit]
    if dry_run:
        console.print(f"would probe {len(files)} files under {root} into {out}")
        return
    rows = [probe_row(f, root) for f in track(files, description="probing", console=console)]
    if not rows:
        raise click.UsageError(
            f"no media files matching {include or DEFAULT_PATTERNS} under {root}"
        )
    df = pd.DataFrame(rows)
    write_manifest(df, out, root=root)
    _summary(df, f"probe → {out}")


@curate.command("split")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@out_option
@click.option("--min-len", type=float, default=2.0, show_default=True, help="Shortest clip, s.")
@click.option("--max-len", type=float, default=10.0, show_default=True, help="Longest clip, s.")
@click.option("--margin", type=float, default=0.2, show_default=True, help="Trim around cuts, s.")
@click.option("--detector", type=click.Choice(["fast", "scenedetect"]), default="fast",
              show_default=True, help="fast: HSV difference on a 64-px decode; scenedetect: "
              "PySceneDetect's ContentDetector.")  # fmt: skip
@click.option("--threshold", type=float, default=None,
              help="Cut threshold (default: fast 30, scenedetect 27).")  # fmt: skip
@limit_option
@dry_option
def split_cmd(manifest, out, min_len, max_len, margin, detector, threshold, limit, dry_run) -> None:  # fmt: skip
    """Scene cuts (fast detector or PySceneDetect), then clips of MIN..MAX seconds."""
    from rich.progress import track

    from omni.curation.split import SplitConfig, split_row

    if not 0 < min_len <= max_len:
        raise click.UsageError(f"need 0 < --min-len <= --max-len, got {min_len} and {max_len}")
    m = _read(manifest)
    config = SplitConfig(min_len, max_len, margin, threshold, detector=detector)
    records = m.df.to_dict("records")
    todo = records[:limit] if limit is not None else records
    if dry_run:
        console.print(f"would split {len(todo)} of {len(records)} rows into {out}")
        return
    rows = []
    for row in track(todo, description="splitting", console=console):
        rows += split_row(row, m.resolve(row["source"]), config)
    rows += records[len(todo) :]
    df = pd.DataFrame(rows)
    write_manifest(df, out, root=m.root)
    _summary(df, f"split → {out}")


@curate.command("score")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@out_option
@click.option("--scorers", default=None, help="Comma-separated scorers (default: all).")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Worker processes [default: the usable CPU cores, at most one per pending clip and one "
    "per GiB of available memory]. With 1, "
    "one process scores each clip with its decode and scorers overlapped in threads.",
)
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--fps", type=float, default=25.0, show_default=True, help="Scoring rate.")
@click.option("--max-side", type=int, default=640, show_default=True, help="Decode size.")
@click.option("--keypoints-dir", type=click.Path(file_okay=False), default=None)
@click.option(
    "--lipsync",
    type=click.Choice(["cavity", "mesh"]),
    default="cavity",
    show_default=True,
    help="Landmark lip-sync mouth signal: sparse face mesh + mouth cavity, or mesh every frame.",
)
@click.option(
    "--dense-pose-fps",
    type=float,
    default=12.5,
    show_default=True,
    help="Rate of the dense pose pass (keypoint side files of clips with a visible body); "
    "lower is faster, with keypoints interpolated over longer gaps.",
)
@click.option(
    "--syncnet",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="syncnet_python syncnet_v2.model: SyncNet lip-sync instead of landmarks.",
)
@click.option(
    "--insightface",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="insightface model folder (buffalo_l): adds face identity consistency.",
)
@click.option(
    "--aesthetic-clip",
    type=click.Path(exists=True),
    default=None,
    help="open_clip ViT-L/14 (local dir or checkpoint file) for aesthetics.",
)
@click.option(
    "--aesthetic-head",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="LAION improved-aesthetic-predictor MLP weights (.pth) for aesthetics.",
)
@limit_option
@dry_option
def score_cmd(manifest, out, scorers, workers, engine, fps, max_side, keypoints_dir, lipsync,
              dense_pose_fps, syncnet, insightface, aesthetic_clip, aesthetic_head, limit,
              dry_run) -> None:  # fmt: skip
    """Score every pending clip (resumable: rows already scored with the same versions are kept)."""
    from omni.curation.runner import clear_parts, load_parts, run_rows
    from omni.curation.score import build_tasks, merge_results, pending_mask, score_task
    from omni.curation.scorers import DEFAULT_SCORERS, SCORERS, ScoreConfig, scorer_version

    names = [s.strip() for s in scorers.split(",")] if scorers else list(DEFAULT_SCORERS)
    unknown = [n for n in names if n not in SCORERS]
    if unknown:
        raise click.UsageError(f"unknown scorers {unknown}; choose from {sorted(SCORERS)}")
    if workers is not None and workers < 1:
        raise click.UsageError(f"--workers must be >= 1, got {workers}")
    m = _read(manifest)
    keypoints_dir = keypoints_dir or str(Path(out).with_suffix("")) + ".keypoints"
    try:
        config = ScoreConfig(
            fps=fps,
            max_side=max_side,
            keypoints_dir=str(Path(keypoints_dir).resolve()),
            lipsync=lipsync,
            dense_pose_fps=dense_pose_fps,
            syncnet=_absolute(syncnet),
            insightface=_absolute(insightface),
            aesthetic_clip=_absolute(aesthetic_clip),
            aesthetic_head=_absolute(aesthetic_head),
        )
        versions = {n: scorer_version(n, config) for n in names}
        _check_weights(config, names)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    done = load_parts(out)
    mask = pending_mask(m.df, versions)
    if not done.empty:
        mask &= ~m.df["clip_id"].isin(done["clip_id"]).to_numpy()
    tasks = build_tasks(m.df, mask, m.resolve, versions, config)[:limit]
    if workers is None:
        workers = default_workers(len(tasks))
    if dry_run:
        runs = Counter(n for t in tasks for n in t["scorers"])
        console.print(
            f"would score {len(tasks)} clips with {names} on {workers} worker(s) "
            f"({len(done)} already in parts, "
            f"{int((~pending_mask(m.df, versions)).sum())} up to date) into {out}; "
            "scorer runs: " + (", ".join(f"{n} {runs[n]}" for n in names if runs[n]) or "none")
        )
        return
    started = time.perf_counter()
    results = run_rows(score_task, tasks, out, workers=workers, engine=engine)
    elapsed = time.perf_counter() - started
    df = merge_results(m.df, results, m.root)
    write_manifest(df, out, root=m.root)
    clear_parts(out)
    errors = int(df["score_error"].notna().sum()) if "score_error" in df else 0
    extra = {"scored now": len(tasks), "workers": workers, "scorer errors": errors}
    if tasks:
        extra["scoring time"] = f"{elapsed:.1f} s"
    if tasks and all(t["end_s"] is not None for t in tasks):  # split clips: their lengths known
        seconds = sum(t["end_s"] - t["start_s"] for t in tasks)
        extra["clip-seconds per second"] = f"{seconds / max(elapsed, 1e-9):.2f}"
    _summary(df, f"score → {out}", extra)


WORKER_MEMORY = 1 << 30
"""Peak resident memory of a scoring worker, about (a 1080×1920 full-body clip: ~1 GB)."""


def default_workers(pending: int) -> int:
    """One worker per usable core, at most one per pending clip and one per `WORKER_MEMORY` of
    the memory available now."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, pending, available_memory() // WORKER_MEMORY))


def available_memory() -> int:
    """Bytes of memory available to new processes (Linux's MemAvailable; elsewhere unbounded)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def _absolute(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path is not None else None


def _check_weights(config, names: list[str]) -> None:
    """Load each given weights file once here, so a wrong file is a usage error, not a reason on
    every row."""
    from omni.curation import pretrained

    if config.syncnet and "lipsync" in names:
        pretrained.syncnet_model(config.syncnet)
    if config.insightface and "face" in names:
        pretrained.identity_model(config.insightface)
    if config.aesthetic_head and "aesthetics" in names:
        pretrained.aesthetic_head(config.aesthetic_head)


@curate.command("filter")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@out_option
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="thresholds.yaml overriding the documented defaults.")  # fmt: skip
@dry_option
def filter_cmd(manifest, out, config_path, dry_run) -> None:
    """Set eligible_text_ref / eligible_audio / eligible_pose and reject_reason; drop nothing."""
    from omni.curation.filter import Thresholds, apply_filter

    try:
        thresholds = Thresholds.from_yaml(config_path)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    m = _read(manifest)
    df = apply_filter(m.df, thresholds)
    counts = {
        f"eligible_{c}": int(df[f"eligible_{c}"].sum()) for c in ("text_ref", "audio", "pose")
    }
    if dry_run:
        console.print(f"would write {len(df)} rows to {out}: {counts}")
        return
    write_manifest(df, out, root=m.root)
    _summary(df, f"filter → {out}", counts)


@curate.command(
    "cache", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@out_option
@click.option("--cache-dir", required=True, type=click.Path(file_okay=False),
              help="Cache folder; give the same as --data.cache_dir to `omni fit`.")  # fmt: skip
@click.option("--stage", default="audio", show_default=True,
              help="Training stage the cache is for (t2v, text_ref, audio, pose).")  # fmt: skip
@click.option("--preset", default="tiny", show_default=True, help="Size preset of that run.")
@click.option("--init-from", type=click.Path(exists=True), default=None,
              help="Checkpoint of the previous stage, as given to `omni fit`.")  # fmt: skip
@dry_option
@click.argument("fit_args", nargs=-1, type=click.UNPROCESSED)
def cache_cmd(manifest, out, cache_dir, stage, preset, init_from, dry_run, fit_args) -> None:
    """VAE latents, audio features and keypoints of every clip as training shards.

    Builds the fit run's datamodule and model from the same configs (any further `--model.*` /
    `--data.*` options are passed to it) and writes its feature cache under CACHE_DIR; resumes
    an interrupted build. OUT gets every row with cache_shard / cache_windows / cache_error.
    """
    from omni.curation.cache import CacheSettings, build_cache

    settings = CacheSettings(cache_dir, stage, preset, init_from, tuple(fit_args))
    m = _read(manifest)
    if dry_run:
        have = len(list(Path(cache_dir).glob("*/shard-*.safetensors")))
        console.print(
            f"would cache the windows of {int((m.df['status'] == 'ok').sum())} ok rows of "
            f"{len(m.df)} for stage {stage} ({preset}) in {cache_dir} ({have} shards already "
            f"there) and write {out}"
        )
        return
    try:
        df = build_cache(manifest, settings)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    write_manifest(df, out, root=m.root)
    cached = int((df["cache_windows"] > 0).sum())
    _summary(
        df, f"cache → {out}", {"clips cached": cached, "windows": int(df["cache_windows"].sum())}
    )


@curate.command("report")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="report.html")
@click.option(
    "--thumbs", type=int, default=3, show_default=True, help="Best/worst clips per score."
)
def report_cmd(manifest, out, thumbs) -> None:
    """One self-contained HTML page: histograms, pass rates, best/worst thumbnails, the table."""
    from omni.curation.report import write_report

    m = _read(manifest)
    path = write_report(m, out, thumbs=thumbs)
    console.print(f"report → {path}")


curate.add_command(caption_cmd)
