"""`omni test --generated DIR --real DIR`: score existing videos, write metrics.json + report.html.

Per-video results (scalars and FID/FVD features) are cached under OUT/.cache, keyed by the file
(path, size, mtime), the options and the weights' hashes, and written atomically: an interrupted
run resumes where it stopped, and re-running with another generated folder reuses the real side.
Set-level Fréchet distances are then accumulated from the cached features one video at a time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from omni import media
from omni.evaluation.extractors import EvalOptions, Extractors, load_extractors
from omni.evaluation.frechet import FrechetDistance
from omni.evaluation.hands import HANDS_VERSION
from omni.evaluation.scoring import VideoResult, score_video
from omni.evaluation.video import open_video, pair_videos

RESULTS_VERSION = 1
LANDMARK_SYNC_VERSION = "omni.curation.lipsync/1"
# per-video metrics averaged over videos: name -> (what computes it, higher is better)
PER_VIDEO = {
    "sync_c": ("syncnet", True),
    "sync_d": ("syncnet", False),
    "landmark_sync_corr": ("landmark", True),
    "landmark_sync_conf": ("landmark", True),
    "landmark_sync_dist": ("landmark", False),
    "hkc": ("hands", True),
    "hkv": ("hands", None),  # motion richness: closer to the real videos is better
}


def _atomic_write(path: Path, write) -> None:
    """Call write(binary file) on a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _signature(path: Path | None) -> list:
    if path is None:
        return []
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _cache_key(ex: Extractors, path: Path, fallback: Path | None) -> str:
    opts = asdict(ex.options)
    for k in ("inception", "i3d", "syncnet", "device"):
        opts.pop(k)
    blob = json.dumps(
        [RESULTS_VERSION, _signature(path), _signature(fallback), opts, ex.weights],
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
    row = np.array(json.dumps(_clean(result.row), allow_nan=False))
    _atomic_write(path, lambda f: np.savez(f, row=row, **arrays))


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
        if fallback is not None and src.audio is None:
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
    metrics = summarise(done, ex)
    metrics.update(
        generated=str(generated),
        real=None if real is None else str(real),
        skipped=pairing.unmatched + errors,
    )
    write_outputs(Path(out), metrics, done)
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


def _set_metric(metric: FrechetDistance, unit: str, version: str) -> dict:
    n_gen, n_real = int(metric.fake_n), int(metric.real_n)
    record = {"generated_samples": n_gen, "real_samples": n_real, "unit": unit, "version": version}
    if min(n_gen, n_real) < 2:
        return record | {
            "status": "no samples",
            "reason": f"needs at least 2 {unit} on each side, got {n_gen} generated and {n_real} "
            "real",
        }
    return record | {"status": "ok", "value": float(metric.compute())}


def summarise(done: list[dict], ex: Extractors) -> dict:
    """The metrics block of metrics.json from per-video cache files."""
    from omni.evaluation.i3d import I3D_VERSION
    from omni.evaluation.inception import INCEPTION_VERSION
    from omni.evaluation.syncnet import SYNCNET_VERSION

    metrics: dict = {}
    if ex.inception is not None:
        metrics["fid"] = _set_metric(_frechet(done, "fid", 2048), "frames", INCEPTION_VERSION)
    if ex.i3d is not None:
        metrics["fvd"] = _set_metric(_frechet(done, "fvd", 400), "16-frame clips", I3D_VERSION)
    rows = {
        side: [_load(e[side], features=False).row for e in done if e.get(side)]
        for side in ("generated", "real")
    }
    versions = {
        "syncnet": SYNCNET_VERSION,
        "landmark": LANDMARK_SYNC_VERSION,
        "hands": HANDS_VERSION,
    }
    enabled = {
        "syncnet": ex.syncnet is not None,
        "landmark": ex.options.landmark_sync,
        "hands": ex.options.hands,
    }
    per_video = {k: (versions[src], hib) for k, (src, hib) in PER_VIDEO.items() if enabled[src]}
    per_video |= {s.name: (s.spec, True) for s in ex.scorers}
    for name, (version, higher) in per_video.items():
        record = {"higher_is_better": higher, "version": version}
        for side, prefix in (("generated", ""), ("real", "real_")):
            values = [r[name] for r in rows[side] if _finite(r.get(name))]
            record[f"{prefix}videos"] = len(values)
            record[f"{prefix}value"] = float(np.mean(values)) if values else None
        record["status"] = "ok" if record["videos"] else "no samples"
        metrics[name] = record
    for name, info in ex.unavailable.items():
        metrics[name] = {"status": "unavailable"} | info
    return {
        "results_version": RESULTS_VERSION,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(ex.options).items()
        },
        "weights": ex.weights,
        "metrics": metrics,
    }


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def write_outputs(out: Path, metrics: dict, done: list[dict]) -> None:
    """metrics.json (with every per-video row) and report.html, each written atomically."""
    from omni.evaluation.report import render_report

    videos = []
    loaded = []
    for entry in done:
        item = {"name": entry["name"]}
        results = {}
        for side in ("generated", "real"):
            if entry.get(side) is not None:
                results[side] = _load(entry[side], features=False)
                item[side] = results[side].row
        videos.append(item)
        loaded.append((entry["name"], results))
    metrics["videos"] = videos
    text = json.dumps(_clean(metrics), indent=2, allow_nan=False)
    html = render_report(metrics, loaded)
    _atomic_write(out / "metrics.json", lambda f: f.write(text.encode()))
    _atomic_write(out / "report.html", lambda f: f.write(html.encode()))


def _clean(value):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
