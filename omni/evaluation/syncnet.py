"""SyncNet (Chung & Zisserman 2016) in syncnet_python's layout, its inputs, and the offset search.

Weights: syncnet_python's `syncnet_v2.model`, a state dict with `netcnnaud.*`, `netfcaud.*`,
`netcnnlip.*`, `netfclip.*` (layer indices as in its `nn.Sequential`s). Inputs, as that repo feeds
them at 25 fps and 16 kHz:
- audio: 13 MFCCs per 10 ms (python_speech_features defaults, on int16-scaled samples); the
  window for video frame i is MFCC columns [4i, 4i + 20) → (1, 13, 20);
- video: frames [i, i + 5) of a 224×224 face crop, BGR, 0..255 → (3, 5, 224, 224). The crop is
  a square around the (median-smoothed) face box, from 1 box-half-size above its centre to 1.8
  below, 1.4 each side, on a canvas padded with grey 110.
Offsets ±15 frames: Sync-D is the smallest mean (over frames) embedding distance, Sync-C the
median minus that minimum. The curation lip-sync scorer reuses this module when given weights.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import python_speech_features
import torch
import torch.nn.functional as F
from einops import rearrange
from scipy.signal import medfilt
from torch import nn

from omni.evaluation.weights import check_state_dict, load_state_dict, require_file

SYNCNET_VERSION = "syncnet_python-v2/1"
FPS = 25
SAMPLE_RATE = 16000
WINDOW = 5  # video frames per lip embedding
MFCC_PER_FRAME = 4  # 100 Hz MFCC / 25 fps
CROP_SIZE = 224
CROP_SCALE = 0.4
_EXPECTED = "a SyncNet state dict in syncnet_python's layout (syncnet_v2.model)"


def _conv_bn(conv: nn.Module, channels: int, bn: type[nn.Module]) -> list[nn.Module]:
    return [conv, bn(channels), nn.ReLU(inplace=True)]


class SyncNet(nn.Module):
    """Two towers into one 1024-d space: MFCC windows (B, 1, 13, 20), lip clips (B, 3, 5, 224, 224)."""

    def __init__(self, embed_dim: int = 1024) -> None:
        super().__init__()
        b2, b3 = nn.BatchNorm2d, nn.BatchNorm3d
        self.netcnnaud = nn.Sequential(
            *_conv_bn(nn.Conv2d(1, 64, 3, padding=1), 64, b2),
            nn.MaxPool2d(1, 1),
            *_conv_bn(nn.Conv2d(64, 192, 3, padding=1), 192, b2),
            nn.MaxPool2d(3, (1, 2)),
            *_conv_bn(nn.Conv2d(192, 384, 3, padding=1), 384, b2),
            *_conv_bn(nn.Conv2d(384, 256, 3, padding=1), 256, b2),
            *_conv_bn(nn.Conv2d(256, 256, 3, padding=1), 256, b2),
            nn.MaxPool2d(3, 2),
            *_conv_bn(nn.Conv2d(256, 512, (5, 4)), 512, b2),
        )
        self.netfcaud = self._head(embed_dim)
        self.netfclip = self._head(embed_dim)
        self.netcnnlip = nn.Sequential(
            *_conv_bn(nn.Conv3d(3, 96, (5, 7, 7), (1, 2, 2)), 96, b3),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn(nn.Conv3d(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), 256, b3),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            *_conv_bn(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, b3),
            *_conv_bn(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, b3),
            *_conv_bn(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, b3),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn(nn.Conv3d(256, 512, (1, 6, 6)), 512, b3),
        )

    @staticmethod
    def _head(embed_dim: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embed_dim)
        )

    def forward_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """mfcc: (B, 1, 13, 20) → (B, embed_dim)."""
        x = self.netcnnaud(mfcc)  # (B, 512, 1, 1)
        return self.netfcaud(rearrange(x, "b c h w -> b (c h w)"))

    def forward_lip(self, clips: torch.Tensor) -> torch.Tensor:
        """clips: (B, 3, 5, 224, 224) BGR 0..255 → (B, embed_dim)."""
        x = self.netcnnlip(clips)  # (B, 512, 1, 1, 1)
        return self.netfclip(rearrange(x, "b c t h w -> b (c t h w)"))


def load_syncnet(path: str | os.PathLike, option: str = "--syncnet") -> SyncNet:
    """SyncNet with weights from a syncnet_python state dict; eval mode, no gradients."""
    path = require_file(path, option, _EXPECTED)
    state = load_state_dict(path, option, _EXPECTED)
    model = SyncNet()
    check_state_dict(state, model.state_dict(), path, option, _EXPECTED)
    model.load_state_dict(state, strict=False)  # old checkpoints lack num_batches_tracked
    return model.eval().requires_grad_(False)


# ---------------------------------------------------------------- inputs


def mfcc(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float audio in [-1, 1] at 16 kHz → MFCC (13, N) at 100 Hz, as SyncNet was trained."""
    if sr != SAMPLE_RATE:
        raise ValueError(f"SyncNet needs {SAMPLE_RATE} Hz audio, got {sr} Hz: resample first")
    pcm = np.clip(np.asarray(audio, np.float64) * 32768, -32768, 32767)  # the int16 scale
    return python_speech_features.mfcc(pcm, SAMPLE_RATE).T.astype(np.float32)


def audio_windows(mfcc_features: np.ndarray, num_windows: int) -> torch.Tensor:
    """(13, N) MFCC → (num_windows, 1, 13, 20): the window of video frame i starts at column 4i."""
    span = MFCC_PER_FRAME * WINDOW
    need = MFCC_PER_FRAME * (num_windows - 1) + span
    if mfcc_features.shape[1] < need:
        raise ValueError(
            f"{num_windows} windows need {need} MFCC columns, got {mfcc_features.shape[1]}"
        )
    x = torch.from_numpy(np.ascontiguousarray(mfcc_features))
    x = x.unfold(1, span, MFCC_PER_FRAME)[:, :num_windows]  # (13, W, 20)
    return rearrange(x, "c w s -> w 1 c s")


def smooth_boxes(boxes: np.ndarray) -> np.ndarray:
    """Face boxes (T, 4) xyxy, NaN where missed → (T, 3) centre x, centre y, half-size.

    Gaps are filled by linear interpolation (ends held), then median-filtered over 13 frames as
    syncnet_python smooths its tracks. Raises ValueError if no frame has a face.
    """
    boxes = np.asarray(boxes, np.float64)
    found = np.isfinite(boxes).all(axis=1)
    if not found.any():
        raise ValueError("no face found in any frame")
    t = np.arange(len(boxes))
    filled = np.stack([np.interp(t, t[found], boxes[found, k]) for k in range(4)], axis=1)
    track = np.stack(
        [
            (filled[:, 0] + filled[:, 2]) / 2,
            (filled[:, 1] + filled[:, 3]) / 2,
            np.maximum(filled[:, 2] - filled[:, 0], filled[:, 3] - filled[:, 1]) / 2,
        ],
        axis=1,
    )
    kernel = min(13, len(track) if len(track) % 2 else len(track) - 1)
    return (
        np.stack([medfilt(track[:, k], kernel) for k in range(3)], axis=1) if kernel > 1 else track
    )


def face_crop(frame: np.ndarray, cx: float, cy: float, half: float) -> np.ndarray:
    """RGB frame (H, W, 3) → SyncNet's 224×224 BGR face crop (grey 110 outside the picture)."""
    pad = int(half * (1 + 2 * CROP_SCALE))
    canvas = cv2.copyMakeBorder(
        frame, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(110, 110, 110)
    )
    y, x = cy + pad, cx + pad
    crop = canvas[
        int(y - half) : int(y + half * (1 + 2 * CROP_SCALE)),
        int(x - half * (1 + CROP_SCALE)) : int(x + half * (1 + CROP_SCALE)),
    ]
    if crop.size == 0:
        crop = np.full((2, 2, 3), 110, np.uint8)
    return cv2.cvtColor(cv2.resize(crop, (CROP_SIZE, CROP_SIZE)), cv2.COLOR_RGB2BGR)


def lip_windows(crops: Iterable[np.ndarray], batch: int = 16) -> Iterator[torch.Tensor]:
    """Stream 224×224 BGR crops → batches (B, 3, 5, 224, 224) of the windows [i, i + 5)."""
    recent: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    for crop in crops:
        recent = [*recent[-(WINDOW - 1) :], crop]
        if len(recent) == WINDOW:
            pending.append(np.stack(recent))
        if len(pending) == batch:
            yield _to_clips(pending)
            pending = []
    if pending:
        yield _to_clips(pending)


def _to_clips(windows: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(windows)).float()  # (B, 5, 224, 224, 3)
    return rearrange(x, "b t h w c -> b c t h w")


# ---------------------------------------------------------------- offset search


@dataclass(frozen=True)
class SyncResult:
    """Result of the ±max_offset search over embedding distances."""

    offset: int  # syncnet_python's AV offset in frames: vshift − argmin
    sync_c: float  # confidence: median − min of the mean distances (higher is better)
    sync_d: float  # min mean distance (lower is better)
    distances: np.ndarray  # (2·max_offset + 1,) mean distance per shift, shift −max..+max
    num_windows: int


def offset_search(video: torch.Tensor, audio: torch.Tensor, max_offset: int = 15) -> SyncResult:
    """Embeddings (N, D) of lip windows and audio windows of the same N frames → SyncResult.

    For window i and shift s in [−max, max], the distance is ‖v_i − a_{i+s}‖ with audio
    embeddings zero-padded beyond both ends, exactly as syncnet_python's `calc_pdist`;
    distances are averaged over i. A delayed audio track (audio of frame i at frame i + d)
    gives its minimum at shift s = d, reported as offset −d.
    """
    if video.shape != audio.shape or video.ndim != 2:
        raise ValueError(
            f"expected video and audio embeddings of one shape (N, D), got "
            f"{tuple(video.shape)} and {tuple(audio.shape)}"
        )
    n = video.shape[0]
    if n == 0:
        raise ValueError("no windows to compare: the clip is shorter than 5 frames")
    padded = F.pad(audio.double(), (0, 0, max_offset, max_offset))  # (N + 2·max, D)
    shifted = padded.unfold(0, n, 1)  # (2·max + 1, D, N): shift s = k − max
    diff = video.double().T.unsqueeze(0) - shifted + 1e-6  # pairwise_distance's eps
    mean = diff.norm(dim=1).mean(dim=1)  # (2·max + 1,)
    best = int(mean.argmin())
    return SyncResult(
        offset=max_offset - best,
        sync_c=float(mean.median() - mean[best]),
        sync_d=float(mean[best]),
        distances=mean.numpy(),
        num_windows=n,
    )


# ---------------------------------------------------------------- one clip


def syncnet_score(
    model: SyncNet,
    frames: Iterable[np.ndarray],
    boxes: np.ndarray,
    audio: np.ndarray,
    max_offset: int = 15,
    batch: int = 16,
) -> SyncResult:
    """Sync-C / Sync-D of one clip, syncnet_python's protocol end to end.

    frames: RGB frames (H, W, 3) uint8 at 25 fps, streamed (an array or a generator);
    boxes: the face box per frame (T, 4) x0, y0, x1, y1 in pixels, NaN where none was found;
    audio: mono 16 kHz float in [-1, 1] on the same timeline (t = 0 at the first frame).
    Raises ValueError when no frame has a face or the clip gives no 5-frame window.
    """
    track = smooth_boxes(boxes)
    windows = min(len(track), math.floor(len(audio) / (SAMPLE_RATE / FPS))) - WINDOW
    if windows < 1:
        raise ValueError(
            f"SyncNet needs at least {WINDOW + 1} frames with audio, got {len(track)} frames and "
            f"{len(audio) / SAMPLE_RATE:.2f} s of audio"
        )
    device = next(model.parameters()).device
    crops = (face_crop(frame, *box) for frame, box in zip(frames, track, strict=False))
    with torch.inference_mode():
        lips = [model.forward_lip(b.to(device)).cpu() for b in lip_windows(crops, batch=batch)]
        sound = audio_windows(mfcc(audio), windows)
        heard = [model.forward_audio(b.to(device)).cpu() for b in sound.split(64)]
    return offset_search(torch.cat(lips)[:windows], torch.cat(heard), max_offset=max_offset)
