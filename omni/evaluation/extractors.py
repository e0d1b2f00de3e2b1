"""The feature networks one evaluation run needs, loaded once from explicit weights options.

Which metrics a run can compute follows from the options: a metric whose weights file was not
given is recorded in `unavailable` with the option that enables it, and nothing stands in for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from omni.evaluation.hands import HANDS_VERSION
from omni.evaluation.i3d import CLIP_SIZE, I3D_VERSION, InceptionI3d, i3d_input, load_i3d
from omni.evaluation.inception import INCEPTION_VERSION, load_inception
from omni.evaluation.scorers import STANDARD, Scorer, ase_scorer, parse_scorer
from omni.evaluation.syncnet import SYNCNET_VERSION, SyncNet, load_syncnet
from omni.evaluation.weights import sha256


@dataclass
class EvalOptions:
    """What `omni test` computes and how; every weights path is optional (metric unavailable)."""

    inception: Path | None = None
    """torch-fidelity InceptionV3 weights (weights-inception-2015-12-05-6726825d.pth): enables FID."""
    i3d: Path | None = None
    """pytorch-i3d Kinetics-400 RGB weights (rgb_imagenet.pt / i3d_pretrained_400.pt): enables FVD."""
    syncnet: Path | None = None
    """syncnet_python weights (syncnet_v2.model): enables Sync-C / Sync-D."""
    ase_clip: Path | None = None
    """open_clip ViT-L/14 (local dir in open_clip's layout, or a checkpoint file): with ase_head, ASE."""
    ase_head: Path | None = None
    """LAION improved-aesthetic-predictor MLP weights (.pth): with ase_clip, ASE."""
    scorers: tuple[str, ...] = ()
    """Plug-in scorers NAME=module:attr[:ARG] (IQA, ASE, ...), see omni.evaluation.scorers."""
    scorer_stride: int = 1
    """ASE and plug-in scorers score every n-th analysed frame."""
    fps: float = 25.0
    """Analysis frame rate: every video is resampled to it by timestamps (SyncNet needs 25)."""
    batch: int = 16
    """Frames per decoded chunk and per network batch (memory is bounded by it)."""
    fid_stride: int = 1
    """FID uses every n-th analysed frame."""
    max_seconds: float | None = None
    """Score at most this many seconds of each video."""
    max_offset: int = 15
    """Largest audio-video shift (frames) searched by Sync-C/D and the landmark sync score."""
    landmark_sync: bool = True
    """Compute the built-in landmark sync score (no weights)."""
    hands: bool = True
    """Compute HKC / HKV with omni.pose."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        strides = min(self.fid_stride, self.scorer_stride)
        if self.fps <= 0 or self.batch < 1 or strides < 1 or self.max_offset < 1:
            raise ValueError(
                f"expected fps > 0, batch >= 1, fid_stride >= 1, scorer_stride >= 1, "
                f"max_offset >= 1; got fps={self.fps}, batch={self.batch}, fid_stride="
                f"{self.fid_stride}, scorer_stride={self.scorer_stride}, max_offset={self.max_offset}"
            )
        if (self.ase_clip is None) != (self.ase_head is None):
            raise ValueError(
                "ASE needs both --ase-clip (open_clip ViT-L/14) and --ase-head (LAION aesthetic "
                f"MLP), got --ase-clip {self.ase_clip} and --ase-head {self.ase_head}"
            )


@dataclass
class Extractors:
    """Loaded networks plus the record of what is unavailable and why."""

    options: EvalOptions
    inception: nn.Module | None = None
    i3d: InceptionI3d | None = None
    syncnet: SyncNet | None = None
    scorers: list[Scorer] = field(default_factory=list)
    unavailable: dict[str, dict] = field(default_factory=dict)
    weights: dict[str, dict] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return torch.device(self.options.device)

    def inception_features(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames (N, H, W, 3) → 2048-d pool features (N, 2048) float32."""
        x = torch.from_numpy(rearrange(frames, "n h w c -> n c h w").copy()).to(self.device)
        with torch.inference_mode():
            return self.inception(x).float().cpu().numpy()

    def i3d_features(self, clips: torch.Tensor) -> np.ndarray:
        """uint8 clips (B, 16, H, W, 3) → 400-d logits (B, 400) float32."""
        with torch.inference_mode():
            return self.i3d(i3d_input(clips.to(self.device))).float().cpu().numpy()


def resize_for_i3d(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames (N, H, W, 3) → uint8 (N, 224, 224, 3), resized as `i3d_input` would."""
    x = torch.from_numpy(rearrange(frames, "n h w c -> n c h w").copy()).float()
    x = F.interpolate(x, size=(CLIP_SIZE, CLIP_SIZE), mode="bilinear", align_corners=False)
    return rearrange(x.round().clamp(0, 255).to(torch.uint8), "n c h w -> n h w c")


def _record(ex: Extractors, key: str, path: Path, version: str) -> None:
    ex.weights[key] = {"path": str(path), "sha256": sha256(path), "version": version}


# mediapipe's bundled models (in its wheel, under mediapipe/modules) behind HKC/HKV (omni.pose:
# pose model_complexity=1 + hands from the body) and the face track (landmark sync, SyncNet crops)
MEDIAPIPE_MODELS = {
    "hands": (
        "pose_detection/pose_detection.tflite",
        "pose_landmark/pose_landmark_full.tflite",
        "holistic_landmark/hand_recrop.tflite",
        "hand_landmark/hand_landmark_full.tflite",
    ),
    "faces": (
        "face_detection/face_detection_short_range.tflite",
        "face_detection/face_detection_full_range_sparse.tflite",
        "face_landmark/face_landmark.tflite",
    ),
}


def _record_bundled(ex: Extractors, group: str, user: str) -> None:
    """Record the sha256 of the bundled mediapipe model files a metric group runs on."""
    import mediapipe

    root = Path(mediapipe.__file__).parent / "modules"
    for rel in MEDIAPIPE_MODELS[group]:
        path = root / rel
        if path.is_file():
            _record(
                ex, f"mediapipe/{path.stem}", path, f"{user}; mediapipe {mediapipe.__version__}"
            )


def load_extractors(options: EvalOptions) -> Extractors:
    """Load every network whose weights are given; raise ValueError for a bad weights file."""
    ex = Extractors(options)
    device = torch.device(options.device)
    if options.inception is None:
        ex.unavailable["fid"] = {
            "reason": "no Inception weights given",
            "enable_with": "--inception weights-inception-2015-12-05-6726825d.pth",
        }
    else:
        ex.inception = load_inception(options.inception).to(device)
        _record(ex, "inception", Path(options.inception), INCEPTION_VERSION)
    if options.i3d is None:
        ex.unavailable["fvd"] = {
            "reason": "no I3D weights given",
            "enable_with": "--i3d rgb_imagenet.pt",
        }
    else:
        ex.i3d = load_i3d(options.i3d).to(device)
        _record(ex, "i3d", Path(options.i3d), I3D_VERSION)
    if options.syncnet is None:
        for key in ("sync_c", "sync_d"):
            ex.unavailable[key] = {
                "reason": "no SyncNet weights given (the landmark sync score is reported instead, "
                "under its own name)",
                "enable_with": "--syncnet syncnet_v2.model",
            }
    else:
        ex.syncnet = load_syncnet(options.syncnet).to(device)
        _record(ex, "syncnet", Path(options.syncnet), SYNCNET_VERSION)
    if options.hands:
        _record_bundled(ex, "hands", f"HKC/HKV ({HANDS_VERSION})")
    if options.landmark_sync or ex.syncnet is not None:
        _record_bundled(ex, "faces", "face track (landmark sync, SyncNet crops)")
    ex.scorers = [parse_scorer(spec) for spec in options.scorers]
    if options.ase_clip is not None:
        if any(s.name == "ase" for s in ex.scorers):
            raise ValueError("ASE given twice: --ase-clip/--ase-head and --scorer ase=...")
        ex.scorers.append(
            ase_scorer(options.ase_clip, options.ase_head, device=lambda: options.device)
        )
    names = [s.name for s in ex.scorers]
    if len(set(names)) < len(names):
        raise ValueError(f"--scorer: a name is given twice in {names}")
    for scorer in ex.scorers:
        for key, path in scorer.weights.items():
            _record(ex, key, path, scorer.version)
    for name, (what, enable_with) in STANDARD.items():
        if name not in names:
            ex.unavailable[name] = {
                "reason": f"no {what} given; omni ships no weights for it",
                "enable_with": enable_with,
            }
    return ex
