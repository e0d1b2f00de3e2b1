"""Tiny synthetic clips whose frames and audio encode their own frame index (test helpers)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from omni.media import write_video

FPS = 25
SR = 16000


def level(i: int) -> int:
    """Grey level of frame i (decoded frames are within a few levels of it)."""
    return 20 + 6 * i


def make_clip(path: Path, n: int = 30, size: tuple[int, int] = (48, 32), audio: bool = True):
    """n frames of size (w, h): frame i is grey level(i); a 1 kHz tone plays in frames i % 4 == 0."""
    w, h = size
    frames = np.stack([np.full((h, w, 3), level(i), np.uint8) for i in range(n)])
    wave = None
    if audio:
        t = np.arange(round(n / FPS * SR)) / SR
        on = (np.floor(t * FPS).astype(int) % 4) == 0
        wave = (0.5 * np.sin(2 * np.pi * 1000 * t) * on).astype(np.float32)
    write_video(path, frames, FPS, audio=wave, sr=SR)
    return path


def rows(names, n=30, size=(48, 32), audio=True, **extra):
    w, h = size
    return [
        {
            "clip_id": name,
            "source": f"{name}.mp4",
            "start_s": 0.0,
            "end_s": n / FPS,
            "fps": float(FPS),
            "num_frames": n,
            "width": w,
            "height": h,
            "has_audio": audio,
            "audio_sr": SR if audio else None,
            "rotation": 0,
            "caption": f"a grey clip called {name}",
            "status": "ok",
            "eligible_text_ref": True,
            "eligible_audio": audio,
            "eligible_pose": False,
            **extra,
        }
        for name in names
    ]


def rms_per_frame(wave: np.ndarray, sr: int, fps: float, num_frames: int) -> np.ndarray:
    """A stand-in feature for tests: RMS of each frame's samples, (num_frames, 1)."""
    edges = np.round(np.arange(num_frames + 1) / fps * sr).astype(int)
    return np.array(
        [
            [np.sqrt(np.mean(wave[a:b] ** 2)) if b > a else 0.0]
            for a, b in itertools.pairwise(edges)
        ],
        np.float32,
    )
