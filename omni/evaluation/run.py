"""`omni test --generated DIR --real DIR`: score existing videos, write metrics.json + report.html.

Per-video results (scalars and FID/FVD features) are cached under OUT/.cache, keyed by the file
(path, size, mtime), the options and the weights' hashes, and written atomically: an interrupted
run resumes where it stopped, and re-running with another generated folder reuses the real side.
Set-level Fréchet distances are then accumulated from the cached features one video at a time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from omni import media
from omni.evaluation.extractors import EvalOptions, Extractors, load_extractors
from omni.evaluation.frechet import FrechetDistance
from omni.evaluation.results import atomic_write, clean_json, summarise, write_outputs
from omni.evaluation.scoring import VideoResult, score_video
from omni.evaluation.video import open_video, pair_videos

CACHE_VERSION = 1


def _signature(path: Path | None) -> list:
    if path is None:
        return []
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _cache_key(ex: Extractors, path: Path, fallback: Path | None) -> str:
    opts = asdict(ex.options)
    for k in ("inception", "i3d", "syncnet", "ase_clip", "ase_head", "device"):
        opts.pop(k)
    blob = json.dumps(
        [CACHE_VERSION, _signature(path), _signature(fallback), opts, ex.weights],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _save(path: Path, result: VideoResult) -> None:
    arrays = {f"curve_{k}": v for k, v in result.curves.items()}
    for key in ("fid", "fvd", "thumbs"):
        value = getattr(result, key)
        if value is not None:
            arrays[key] = value
    row = np.array(json.dumps(clean_json(result.row), allow_nan=False))
    atomic_write(path, lambda f: np.savez(f, row=row, **arrays))


def _load(path: Path, features: bool = True) -> VideoResult:
    with np.load(path) as data:
        result = VideoResult(json.loads(str(data["row"])))
        for key in data.files:
            if key.startswith("curve_"):
                result.curves[key[6:]] = data[key]
            elif key == "thumbs" or (features and key in ("fid", "fvd")):
                setattr(result, key, data[key])
    return result


def _score_file(
    path: Path, ex: Extractors, cache: Path, fallback: Path | None
) -> tuple[Path | None, dict | None]:
    """(cache file of the result, None) or (None, error record) for one video file."""
    target = cache / f"{path.stem}-{_cache_key(ex, path, fallback)}.npz"
    if target.exists():
        return target, None
    try:
        opts = ex.options
        src = open_video(path, fps=opts.fps, chunk=opts.batch, max_seconds=opts.max_seconds)
        fallback_audio = None
        silent = src.audio is None or not np.abs(src.audio).max(initial=0) > 0
        if fallback is not None and silent:
            fallback_audio = open_video(fallback, fps=opts.fps, max_seconds=opts.max_seconds).audio
        result = score_video(src, ex, fallback_audio)
    except (media.MediaError, ValueError) as err:
        return None, {"file": str(path), "reason": str(err)}
    cache.mkdir(parents=True, exist_ok=True)
    _save(target, result)
    return target, None


def evaluate_folders(generated: Path, real: Path | None, out: Path, options: EvalOptions) -> dict:
    """Score every generated video (and its real namesake), write OUT/metrics.json and
    OUT/report.html, and return the metrics dict."""
    pairing = pair_videos(Path(generated), None if real is None else Path(real))
    ex = load_extractors(options)
    cache = Path(out) / ".cache"
    done: list[dict] = []
    errors: list[dict] = []
    with Progress(
        TextColumn("[bold]omni test[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task("scoring", total=len(pairing.pairs) * (1 + (real is not None)))
        for name, gen_path, real_path in pairing.pairs:
            entry = {"name": name}
            for side, path, fallback in (
                ("generated", gen_path, real_path),
                ("real", real_path, None),
            ):
                if path is None:
                    continue
                progress.update(task, description=f"{side} {name}")
                entry[side], error = _score_file(path, ex, cache / side, fallback)
                if error is not None:
                    errors.append(error | {"side": side})
                progress.advance(task)
            done.append(entry)
    videos = [
        (
            entry["name"],
            {k: _load(v, features=False) for k, v in entry.items() if k != "name" and v},
        )
        for entry in done
    ]
    fid = _frechet(done, "fid", 2048) if ex.inception is not None else None
    fvd = _frechet(done, "fvd", 400) if ex.i3d is not None else None
    metrics = summarise(videos, ex, fid, fvd)
    metrics.update(
        generated=str(generated),
        real=None if real is None else str(real),
        skipped=pairing.unmatched + errors,
    )
    write_outputs(Path(out), metrics, videos)
    return metrics


def _frechet(done: list[dict], key: str, dim: int) -> FrechetDistance:
    metric = FrechetDistance(num_features=dim)
    for entry in done:
        for side in ("generated", "real"):
            if entry.get(side) is None:
                continue
            features = getattr(_load(entry[side]), key)
            if features is not None and len(features):
                metric.update(torch.from_numpy(features), real=side == "real")
    return metric
