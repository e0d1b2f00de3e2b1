"""`omni curate probe`: one manifest row per media file under a folder, broken files included."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa

from omni.manifest import STATUS_ERROR, STATUS_OK, register_columns

PROBE_VERSION = "2"  # 2: end_s is the video stream's end
DEFAULT_PATTERNS = ("*.mp4", "*.mov", "*.mkv", "*.webm", "*.avi", "*.m4v")

register_columns(
    pa.field("duration_s", pa.float64()),
    pa.field("vfr", pa.bool_()),
    pa.field("size_bytes", pa.int64()),
    pa.field("container", pa.string()),
    pa.field("video_codec", pa.string()),
    pa.field("audio_codec", pa.string()),
    pa.field("audio_channels", pa.int64()),
    pa.field("probe_version", pa.string()),
)


def find_media(root: Path, include: tuple[str, ...], exclude: tuple[str, ...] = ()) -> list[Path]:
    """Files under `root` (recursive) whose name matches an include glob and no exclude glob."""
    found = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if not any(fnmatch.fnmatch(name.lower(), p.lower()) for p in include):
                continue
            if any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in exclude):
                continue
            found.append(Path(dirpath) / name)
    return sorted(found)


def clip_id_for(relative: str, start_s: float | None = None) -> str:
    key = relative if start_s is None else f"{relative}@{start_s:.3f}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def probe_row(path: Path, root: Path) -> dict:
    """A manifest row for one file; a file that cannot be read gets status=error and the reason."""
    from omni.media import MediaError, probe

    relative = path.relative_to(root).as_posix()
    row: dict = {
        "clip_id": clip_id_for(relative),
        "source": relative,
        "start_s": 0.0,
        "probe_version": PROBE_VERSION,
        "size_bytes": path.stat().st_size if path.exists() else None,
    }
    try:
        info = probe(path)
    except (MediaError, OSError) as err:
        reason = str(err).removeprefix(f"{path}: ")
        return {**row, "status": STATUS_ERROR, "error": reason}
    row.update(
        end_s=_video_end(info),
        duration_s=info.duration_s,
        fps=info.fps,
        vfr=info.vfr,
        num_frames=info.num_frames,
        width=info.width,
        height=info.height,
        rotation=info.rotation,
        has_audio=info.has_audio,
        audio_sr=info.audio_sr,
        audio_channels=info.audio_channels,
        container=info.container,
        video_codec=info.video_codec,
        audio_codec=info.audio_codec,
        status=STATUS_OK,
    )
    if not info.has_video:
        row.update(status=STATUS_ERROR, error="no video stream (audio-only file)")
    elif not info.num_frames or info.duration_s <= 0:
        row.update(status=STATUS_ERROR, error="no decodable video frames")
    return row


def _video_end(info) -> float:
    """Where the row's clip ends: the video's own end when its stream says (a file whose audio
    outlasts its video would otherwise have clips past the last frame), else the file's duration."""
    video = info.video_duration_s
    if not video or video <= 0:
        return info.duration_s
    return min(video, info.duration_s) if info.duration_s > 0 else video


def probe_folder(root: Path, include=DEFAULT_PATTERNS, exclude=(), limit: int | None = None):
    """One row per matching file under `root` -> DataFrame."""
    files = find_media(root, tuple(include), tuple(exclude))[:limit]
    return pd.DataFrame([probe_row(f, root) for f in files])
