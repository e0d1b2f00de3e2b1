"""What both modes of `omni test` write: the metrics summary, metrics.json and report.html."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from omni.evaluation.extractors import Extractors
from omni.evaluation.frechet import FrechetDistance
from omni.evaluation.hands import HANDS_VERSION
from omni.evaluation.scoring import VideoResult

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


def atomic_write(path: Path, write) -> None:
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


def _set_metric(metric: FrechetDistance, unit: str, version: str) -> dict:
    with metric.sync_context():  # every process's sums under DDP; a no-op in one process
        n_gen, n_real = int(metric.fake_n), int(metric.real_n)
        record = {"generated_samples": n_gen, "real_samples": n_real, "unit": unit}
        record["version"] = version
        if min(n_gen, n_real) < 2:
            return record | {
                "status": "no samples",
                "reason": f"needs at least 2 {unit} on each side, got {n_gen} generated and "
                f"{n_real} real",
            }
        return record | {"status": "ok", "value": metric.value()}


def summarise(
    videos: list[tuple[str, dict[str, VideoResult]]],
    ex: Extractors,
    fid: FrechetDistance | None = None,
    fvd: FrechetDistance | None = None,
) -> dict:
    """metrics.json's content (without the per-video rows) from every video's result.

    `videos` = [(name, {"generated": result, "real": result})]; `fid` / `fvd` hold the
    accumulated features (None when the metric is unavailable).
    """
    from omni.evaluation.i3d import I3D_VERSION
    from omni.evaluation.inception import INCEPTION_VERSION
    from omni.evaluation.syncnet import SYNCNET_VERSION

    metrics: dict = {}
    if fid is not None:
        metrics["fid"] = _set_metric(fid, "frames", INCEPTION_VERSION)
    if fvd is not None:
        metrics["fvd"] = _set_metric(fvd, "16-frame clips", I3D_VERSION)
    rows = {
        side: [results[side].row for _, results in videos if side in results]
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
    per_video |= {s.name: (s.version, s.higher_is_better) for s in ex.scorers}
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


def write_outputs(
    out: Path, metrics: dict, videos: list[tuple[str, dict[str, VideoResult]]]
) -> None:
    """OUT/metrics.json (plus every per-video row) and OUT/report.html, each written atomically."""
    from omni.evaluation.report import render_report

    metrics["videos"] = [
        {"name": name} | {side: result.row for side, result in results.items()}
        for name, results in videos
    ]
    text = json.dumps(clean_json(metrics), indent=2, allow_nan=False)
    html = render_report(metrics, videos)
    atomic_write(out / "metrics.json", lambda f: f.write(text.encode()))
    atomic_write(out / "report.html", lambda f: f.write(html.encode()))


def clean_json(value):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
