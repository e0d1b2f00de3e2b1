"""Videos to score: files paired by name, streamed in chunks at one analysis frame rate.

Every metric sees frames resampled by timestamps to `fps` (25 by default, SyncNet's rate), so a
30 fps real clip and a 25 fps generated clip are compared at the same motion speed. Frames come
in chunks of at most `chunk` frames: memory is bounded by the chunk, not by the video's length.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omni import media

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")


@dataclass
class VideoSource:
    """One video: `chunks()` re-streams its frames (T_i, H, W, 3) uint8; audio on its timeline."""

    name: str
    fps: float
    chunks: Callable[[], Iterator[np.ndarray]]
    audio: np.ndarray | None  # (N,) float32 mono at `sr`, t = 0 at the first frame; None = no track
    sr: int = 16000
    duration_s: float | None = None
    path: str | None = None
    info: dict = field(default_factory=dict)


def resampled_frames(
    path: str | os.PathLike, fps: float, max_seconds: float | None = None
) -> Iterator[np.ndarray]:
    """Frame k is the source frame shown at time k / fps (by presentation timestamps)."""
    previous: np.ndarray | None = None
    k = 0
    last_t = 0.0
    for t, image in media.iter_frames(path, 0.0, max_seconds):
        while previous is not None and k / fps < t - 1e-6:
            yield previous
            k += 1
        previous, last_t = image, t
    while previous is not None and k / fps <= last_t + 1e-6:
        if max_seconds is not None and k / fps >= max_seconds:
            break
        yield previous
        k += 1


def chunked(frames: Iterator[np.ndarray], chunk: int) -> Iterator[np.ndarray]:
    """Group single frames into arrays of at most `chunk` frames."""
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == chunk:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def open_video(
    path: str | os.PathLike,
    fps: float = 25.0,
    chunk: int = 16,
    sr: int = 16000,
    max_seconds: float | None = None,
    name: str | None = None,
) -> VideoSource:
    """A file as a VideoSource; raises media.MediaError (a ValueError) for an unusable file."""
    path = Path(path)
    info = media.probe(path)
    if not info.has_video:
        raise media.MediaError(f"{path}: no video stream")
    duration = info.num_frames / info.fps if info.num_frames and info.fps else info.duration_s
    if max_seconds is not None:
        duration = min(duration, max_seconds)
    audio = None
    if info.has_audio:
        audio = media.read_audio(path, sr=sr, start_s=0.0, end_s=duration)
    return VideoSource(
        name=name or path.stem,
        fps=fps,
        chunks=lambda: chunked(resampled_frames(path, fps, max_seconds), chunk),
        audio=audio,
        sr=sr,
        duration_s=duration,
        path=str(path),
        info={"width": info.width, "height": info.height, "source_fps": info.fps},
    )


def array_video(
    name: str,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sr: int = 16000,
    chunk: int = 16,
) -> VideoSource:
    """In-memory frames (T, H, W, 3) uint8 (e.g. a generated sample in a test step)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    return VideoSource(
        name=name,
        fps=fps,
        chunks=lambda: (frames[i : i + chunk] for i in range(0, len(frames), chunk)),
        audio=None if audio is None else np.asarray(audio, np.float32),
        sr=sr,
        duration_s=len(frames) / fps,
        info={"width": frames.shape[2], "height": frames.shape[1], "source_fps": fps},
    )


@dataclass(frozen=True)
class Pairing:
    """Videos matched by file stem; every file not matched is listed with the reason."""

    pairs: list[tuple[str, Path, Path | None]]  # (name, generated, real or None)
    unmatched: list[dict]  # {"file", "reason"}


def list_videos(folder: Path) -> dict[str, Path]:
    """Video files directly in `folder`, by stem (raises ValueError on duplicate stems)."""
    if not folder.is_dir():
        raise ValueError(f"expected a folder of videos, got {folder} (not a directory)")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            if path.stem in found:
                raise ValueError(
                    f"two videos named {path.stem!r} in {folder} ({found[path.stem].name}, "
                    f"{path.name}): names pair generated with real videos, keep one"
                )
            found[path.stem] = path
    return found


def pair_videos(generated: Path, real: Path | None) -> Pairing:
    """Pair generated/NAME.* with real/NAME.*; `real=None` scores the generated videos alone."""
    gen = list_videos(generated)
    if not gen:
        raise ValueError(
            f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {generated}: pass the folder of "
            "generated videos to --generated"
        )
    if real is None:
        return Pairing([(name, path, None) for name, path in gen.items()], [])
    ref = list_videos(real)
    pairs = [(name, path, ref[name]) for name, path in gen.items() if name in ref]
    unmatched = [
        {"file": str(path), "reason": f"no real video named {name}.* in {real}"}
        for name, path in gen.items()
        if name not in ref
    ] + [
        {"file": str(path), "reason": f"no generated video named {name}.* in {generated}"}
        for name, path in ref.items()
        if name not in gen
    ]
    if not pairs:
        raise ValueError(
            f"no video in {generated} has a namesake in {real}: generated and real videos are "
            "paired by file name (e.g. generated/clip01.mp4 with real/clip01.mp4)"
        )
    return Pairing(pairs, unmatched)
