"""One training sample from raw footage: a window of frames plus every condition it may use.

A sample is a window of `num_frames` (1 + 4k) frames at the sampling rate, decoded by seeking to
the window (omni.media), with the `motion_frames` frames just before it when the sample draws
motion frames (decoded in the same seek; generation's previous-segment frames), its audio on the
video timeline turned into per-frame features, pose heatmaps rendered from the clip's stored
keypoints, a reference frame from the same clip outside the window, the caption, and which
conditions are active (`conditions.draw_active`).

Everything random about a sample (window, reference, condition draw, and the noise the trainer
adds, via `key`) comes from (seed, epoch, index), so a sample is the same whichever worker or
rank loads it. A training clip that fails to decode is replaced by the next clip of its bucket;
a validation or test clip is left out (a stand-in would be scored twice). Either way the failure
travels with the batch (`skipped`) so the trainer counts and logs it; a sample none of whose
attempts decoded is dropped by `collate`, and a batch left with no sample holds only `skipped`
(`is_empty`), which the module steps over. Bad media never stops a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import Dataset, default_collate

from omni.datamodules.buckets import upright_size
from omni.datamodules.clips import ClipTable, choose_window, cover_crop
from omni.datamodules.conditions import (
    CONDITIONS,
    ConditionRatios,
    GuidanceDrop,
    draw_conditions,
)
from omni.datamodules.remote import local_path
from omni.generate.segments import MOTION_FRAMES
from omni.media import MediaError, read_audio, read_video

log = logging.getLogger(__name__)

MAX_FALLBACKS = 8
"""How many clips of its bucket a training sample tries before it is dropped from its batch."""

WAVE_SR = 16000
"""Sample rate of the driving waveform in test and predict batches (`wave`), as the sync metrics
and the muxed audio of predicted videos expect."""

VAL_EPOCH = 2**31
"""Stands in for the epoch in validation samples' seeds, so they never change."""

AudioFn = Callable[[np.ndarray, int, float, int], np.ndarray]

FAILED = "failed"
"""Key of the stand-in `ClipDataset` returns for a sample none of whose clips decoded."""


@dataclass(frozen=True)
class SampleSpec:
    """What a sample holds: window length, picture size per bucket, which conditions to load."""

    num_frames: int
    buckets: tuple[tuple[int, int], ...]
    load: tuple[str, ...]
    """Conditions whose inputs are loaded (a stage that never uses pose skips heatmaps)."""
    audio_sr: int = 16000
    pose_sigma: float = 2.0
    motion_prob: float = 0.0
    """Per-sample probability of drawing motion frames (0: samples carry no motion keys)."""
    motion_frames: int = MOTION_FRAMES
    """Clean frames just before the window given as motion frames (generation's count)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.motion_prob <= 1.0:
            raise ValueError(f"motion_prob must be a probability in [0, 1], got {self.motion_prob}")
        if self.motion_frames < 1 or (self.motion_frames - 1) % 4:
            raise ValueError(
                f"motion_frames must be 1 + 4k (a causal VAE keeps the first frame alone), "
                f"got {self.motion_frames}; generation uses {MOTION_FRAMES}"
            )
        if self.num_frames < 1 or (self.num_frames - 1) % 4:
            raise ValueError(
                f"num_frames must be 1 + 4k (a causal VAE keeps the first frame alone), "
                f"got {self.num_frames}; try {1 + 4 * max(0, round((self.num_frames - 1) / 4))}"
            )


def default_audio_features() -> AudioFn:
    from omni.model.audio import audio_features

    return audio_features


def sample_rng(seed: int, epoch: int, index: int, attempt: int = 0) -> np.random.Generator:
    """The generator of one draw of one sample: window, reference, conditions, motion, in order
    (the feature cache replays it, so cached and decoded samples agree)."""
    return np.random.default_rng([seed, epoch, index, attempt])


def sample_key(seed: int, epoch: int, index: int, attempt: int = 0) -> int:
    """A 62-bit seed unique to one draw of one sample (the trainer seeds its noise with it)."""
    return int(np.random.default_rng([seed, epoch, index, attempt]).integers(2**62))


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (3, T, H, W) float32 in [-1, 1]."""
    video = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(127.5).sub_(1.0)
    return rearrange(video, "t h w c -> c t h w")


class ClipDataset(Dataset):
    """Map-style dataset over a ClipTable, indexed by the sampler's (index, epoch) items.

    `train` False gives the fixed validation sample: centred window, every used condition
    active where eligible, key independent of the epoch.
    """

    def __init__(
        self,
        table: ClipTable,
        spec: SampleSpec,
        ratios: ConditionRatios,
        seed: int = 0,
        train: bool = True,
        audio_fn: AudioFn | None = None,
        cfg_drop: GuidanceDrop | None = None,
        wave: bool = False,
    ) -> None:
        self.table = table
        self.spec = spec
        self.ratios = ratios
        self.seed = seed
        self.train = train
        self.cfg_drop = cfg_drop
        self.wave = wave
        self._audio_fn = audio_fn
        self._groups = table.groups(len(spec.buckets))
        self._rows = table.df.to_dict("records")
        self._load = np.array([name in spec.load for name in CONDITIONS])

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def audio_fn(self) -> AudioFn:
        if self._audio_fn is None:
            self._audio_fn = default_audio_features()
        return self._audio_fn

    def __getitem__(self, item: tuple[int, int] | int) -> dict:
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        skipped: list[str] = []
        group = self._groups[self._rows[index]["bucket"]]
        position = group.index(index)
        attempts = min(MAX_FALLBACKS, len(group)) if self.train else 1
        for attempt in range(attempts):
            current = group[(position + attempt) % len(group)]
            try:
                sample = self.load(current, epoch, attempt)
            except (MediaError, OSError, ValueError, RuntimeError) as err:
                clip_id = self._rows[current]["clip_id"]
                log.warning("skipping clip %s: %s", clip_id, err)
                skipped.append(f"{clip_id}: {err}")
                continue
            sample["skipped"] = skipped
            return sample
        if attempts > 1:
            log.warning(
                "dropping a sample from its batch: %d clips of its bucket failed in a row "
                "(first: %s); check the manifest with `omni curate probe`",
                attempts,
                skipped[0],
            )
        return {FAILED: True, "skipped": skipped}

    def load(self, index: int, epoch: int = 0, attempt: int = 0) -> dict:
        """Decode one sample of clip `index` (raises on unreadable media)."""
        row = self._rows[index]
        epoch_key = epoch if self.train else VAL_EPOCH
        rng = sample_rng(self.seed, epoch_key, index, attempt)
        start, ref = choose_window(
            row["n_frames"], self.spec.num_frames, rng if self.train else None
        )
        eligible = self.table.eligible[index] & self._load
        active, dropped = draw_sample_conditions(self, eligible, rng)
        motion = draw_motion(self, start, rng)
        fps = float(row["fps_t"])
        t0 = row["start_s"] + start / fps
        size = self.spec.buckets[row["bucket"]]
        path = local_path(row["path"])
        m = self.spec.motion_frames if motion else 0
        frames = self._frames(
            path, row, row["start_s"] + (start - m) / fps, m + self.spec.num_frames, size
        )
        sample = {
            "video": frames[:, m:],
            "ref": self._frames(path, row, row["start_s"] + ref / fps, 1, size),
            "caption": row["caption"] if active[0] else "",
            "active": torch.from_numpy(active),
            "eligible": torch.from_numpy(eligible),
            "key": sample_key(self.seed, epoch_key, index, attempt),
            "clip_id": row["clip_id"],
            "path": path,
            "t0": t0,
            "fps": fps,
        }
        if self.train and self.cfg_drop is not None:
            sample["cfg_dropped"] = torch.from_numpy(dropped)
        if self.spec.motion_prob > 0:  # zeros where the sample has none, so batches stack
            shape = (3, self.spec.motion_frames, *size)
            sample["motion"] = frames[:, :m] if motion else torch.zeros(shape)
            sample["motion_active"] = motion
        if self.wave:
            sample["has_audio"] = row.get("has_audio") in (True, 1)  # False, None or NaN: no
            sample["wave"] = torch.from_numpy(self._wave(path, row, t0, sample["has_audio"]))
        if "audio" in self.spec.load:
            sample["audio"] = self._audio(path, row, t0, bool(eligible[2]))
        if "pose" in self.spec.load:
            sample["pose"] = self._pose(row, t0, size, bool(active[3]))
            if self.wave:  # test batches: the keypoints themselves, to drive OmniPipeline
                sample.update(self._keypoints(row, t0, size, bool(active[3])))
        return sample

    def _frames(
        self, path: str, row: dict, t0: float, n: int, size: tuple[int, int]
    ) -> torch.Tensor:
        fps = float(row["fps_t"])
        upright = upright_size(int(row["width"]), int(row["height"]), int(row["rotation"] or 0))
        (w, h), (x0, y0) = cover_crop(*upright, size)
        clip = read_video(path, t0, t0 + (n + 0.5) / fps, fps=fps, size=(w, h), max_frames=n)
        if len(clip.frames) != n:
            raise MediaError(
                f"{path}: {len(clip.frames)} frames decoded at {t0:.3f}s, expected {n}"
            )
        frames = clip.frames[:, y0 : y0 + size[0], x0 : x0 + size[1]]
        return to_tensor(frames)

    def _wave(self, path: str, row: dict, t0: float, has_audio: bool) -> np.ndarray:
        """The window's driving audio at `WAVE_SR` (silence for a clip without audio)."""
        fps = float(row["fps_t"])
        n = round(self.spec.num_frames / fps * WAVE_SR)
        if not has_audio:
            return np.zeros(n, np.float32)
        wave = read_audio(path, sr=WAVE_SR, start_s=t0, end_s=t0 + self.spec.num_frames / fps)
        return fit_length(np.asarray(wave, np.float32), n)

    def _audio(self, path: str, row: dict, t0: float, eligible: bool) -> torch.Tensor:
        n, fps, sr = self.spec.num_frames, float(row["fps_t"]), self.spec.audio_sr
        if eligible:
            wave = read_audio(path, sr=sr, start_s=t0, end_s=t0 + n / fps)
        else:  # no usable audio: silence gives the features' shape, the mask drops it
            wave = np.zeros(round(n / fps * sr), np.float32)
        features = np.asarray(self.audio_fn(wave, sr, fps, n), dtype=np.float32)
        if features.shape[0] != n:
            raise ValueError(f"audio features have {features.shape[0]} frames, expected {n}")
        return torch.from_numpy(features)

    def _keypoints(
        self, row: dict, t0: float, size: tuple[int, int], active: bool
    ) -> dict[str, torch.Tensor]:
        """`kp_xy` (F, K, 2), `kp_conf` (F, K) of the window in its crop (zeros: pose off)."""
        from omni.datamodules.pose import window_keypoints
        from omni.pose import NUM_KEYPOINTS

        n = self.spec.num_frames
        if not active:
            return {
                "kp_xy": torch.zeros(n, NUM_KEYPOINTS, 2),
                "kp_conf": torch.zeros(n, NUM_KEYPOINTS),
            }
        kp = window_keypoints(row, t0, n, size)
        return {"kp_xy": torch.from_numpy(kp.xy), "kp_conf": torch.from_numpy(kp.conf)}

    def _pose(self, row: dict, t0: float, size: tuple[int, int], active: bool) -> torch.Tensor:
        from omni.datamodules.pose import window_heatmaps

        return window_heatmaps(
            row, t0, self.spec.num_frames, size, self.spec.pose_sigma, render=active
        )


def draw_sample_conditions(
    dataset, eligible: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(active, cfg_dropped) of one sample: the stage's draw when training; every eligible
    condition (nothing dropped) for validation and test samples."""
    if dataset.train:
        return draw_conditions(dataset.ratios, eligible, rng, dataset.cfg_drop)
    return eligible.copy(), np.zeros_like(eligible)


def draw_motion(dataset, start: int, rng: np.random.Generator) -> bool:
    """Whether a sample whose window starts at frame `start` gets motion frames: drawn with
    `motion_prob` when training (always for validation and test samples with motion_prob > 0),
    and only where the clip has `motion_frames` frames before the window. The draw comes after
    the condition draw, so the other draws of a seed are the same with or without motion."""
    prob = dataset.spec.motion_prob
    if prob <= 0:
        return False
    wanted = bool(rng.random() < prob) if dataset.train else True
    return wanted and start >= dataset.spec.motion_frames


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad a waveform to n samples (decoders round the window's ends)."""
    if len(wave) >= n:
        return wave[:n]
    return np.pad(wave, (0, n - len(wave)))


def collate(samples: Sequence[dict]) -> dict:
    """Stack tensors; captions and clip ids stay lists; skipped-clip notes are concatenated.

    Samples that failed to decode are left out; if none is left the batch is `{"skipped":
    [...]}` alone (see `is_empty`). Waveforms of windows of different lengths (clips at their own
    frame rates) are zero-padded to the longest; the window is the first F / fps seconds of each.
    """
    skipped = [note for s in samples for note in s.get("skipped", [])]
    samples = [s for s in samples if not s.get(FAILED)]
    if not samples:
        return {"skipped": skipped}
    if "wave" in samples[0]:
        longest = max(len(s["wave"]) for s in samples)
        samples = [
            {**s, "wave": torch.nn.functional.pad(s["wave"], (0, longest - len(s["wave"])))}
            for s in samples
        ]
    batch = default_collate([{k: v for k, v in s.items() if k != "skipped"} for s in samples])
    batch["skipped"] = skipped
    return batch


def is_empty(batch: dict) -> bool:
    """Whether every sample of a collated batch failed to decode (it holds only `skipped`)."""
    return "key" not in batch
