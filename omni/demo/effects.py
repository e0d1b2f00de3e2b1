"""Measured proof that each condition steers the output: paired effect sizes with bootstrap CIs.

Each held-out sample gives a pair of scores under the same measure, one where the condition
matches ("own": the generation driven by the sample's audio, scored against that audio) and one
where it does not ("other": the same sample driven by another clip's audio, scored against the
first audio). If the condition steers the output, own beats other on (almost) every sample.
Reported per effect: the mean of each, the mean paired difference with its bootstrap confidence
interval, and Cohen's d_z (mean difference / its standard deviation) with its interval.

The measures are the project's own, named for what they are: landmark lip-sync correlation at
zero offset (face mesh mouth opening vs speech-band envelope), mediapipe pose arm keypoint error,
a colour-histogram similarity to the reference (no face-recognition weights are needed or
implied), and the pixel error to the rendered truth: the synthetic world can render each held-out
person with the driving or with another clip's audio or pose, so a video is compared with both
renderings where they differ.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

MIN_SIDE = 128  # frames smaller than this are upscaled before face mesh / pose see them
ARM_JOINTS = [11, 12, 13, 14, 15, 16]
"""Shoulders, elbows, wrists: the half-body figures gesture with their arms; hips and legs are at
or below the frame edge, where mediapipe only guesses them."""
MIN_SAMPLES = 5
"""A claim holds only with at least this many samples: with fewer, a percentile bootstrap
interval is little more than the range of the values (2 samples of noise both land on one side of
zero a quarter of the time)."""


@dataclass(frozen=True)
class Effect:
    """A paired comparison over n samples; positive `difference` means the condition steers."""

    name: str
    measure: str
    own_label: str
    other_label: str
    higher_is_better: bool
    n: int
    own: float
    other: float
    difference: float
    ci_low: float
    ci_high: float
    cohen_dz: float
    dz_low: float
    dz_high: float
    confidence: float

    @property
    def significant(self) -> bool:
        """At least MIN_SAMPLES samples and the confidence interval of the difference above 0."""
        return bool(self.n >= MIN_SAMPLES and self.ci_low > 0)

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def paired_effect(
    name: str,
    measure: str,
    own: np.ndarray,
    other: np.ndarray,
    own_label: str = "own",
    other_label: str = "other",
    higher_is_better: bool = True,
    confidence: float = 0.95,
    n_resamples: int = 4000,
    seed: int = 0,
) -> Effect:
    """Effect of matching the condition: difference own - other (other - own if lower is better).

    Samples where either score is NaN (e.g. no face found) are left out; `n` counts the rest.
    Intervals are percentile bootstrap intervals over samples; with fewer than 2 samples they are NaN.
    """
    own, other = np.asarray(own, np.float64), np.asarray(other, np.float64)
    if own.shape != other.shape or own.ndim != 1:
        raise ValueError(
            f"own and other must be (n,) of one length, got {own.shape}, {other.shape}"
        )
    keep = np.isfinite(own) & np.isfinite(other)
    own, other = own[keep], other[keep]
    diff = (own - other) if higher_is_better else (other - own)
    n = len(diff)
    mean = float(diff.mean()) if n else math.nan
    dz = _dz(diff)
    lo = hi = dz_lo = dz_hi = math.nan
    if n >= 2:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, (n_resamples, n))
        alpha = (1 - confidence) / 2
        lo, hi = np.quantile(diff[idx].mean(axis=1), [alpha, 1 - alpha])
        dzs = np.array([_dz(diff[i]) for i in idx])  # +-inf where a resample has no spread
        dzs = dzs[~np.isnan(dzs)]
        if len(dzs):
            dz_lo = float(np.quantile(dzs, alpha, method="lower"))
            dz_hi = float(np.quantile(dzs, 1 - alpha, method="higher"))
    return Effect(
        name=name,
        measure=measure,
        own_label=own_label,
        other_label=other_label,
        higher_is_better=higher_is_better,
        n=n,
        own=float(own.mean()) if n else math.nan,
        other=float(other.mean()) if n else math.nan,
        difference=mean,
        ci_low=float(lo),
        ci_high=float(hi),
        cohen_dz=dz,
        dz_low=float(dz_lo),
        dz_high=float(dz_hi),
        confidence=confidence,
    )


def _dz(diff: np.ndarray) -> float:
    if len(diff) < 2:
        return math.nan
    sd = diff.std(ddof=1)
    if sd == 0:
        return math.copysign(math.inf, diff.mean()) if diff.mean() != 0 else math.nan
    return float(diff.mean() / sd)


def upscale(frames: np.ndarray, min_side: int = MIN_SIDE) -> np.ndarray:
    """(T, H, W, 3) uint8 enlarged (bicubic) so the short side is at least `min_side`."""
    import cv2

    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    factor = min_side / min(h, w)
    if factor <= 1:
        return frames
    size = (round(w * factor), round(h * factor))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in frames])


def lip_sync_r0(frames: np.ndarray, wave: np.ndarray, sr: int, fps: float) -> float:
    """Landmark lip-sync correlation at zero offset between a video's mouth and an audio track.

    frames (T, H, W, 3) uint8, wave (N,) mono on the video's timeline. NaN when face mesh finds a
    mouth in fewer than half the frames or the clip is too short.
    """
    from omni.curation.lipsync import audio_envelope, landmark_sync, mouth_opening

    mouth = mouth_opening(upscale(frames))
    envelope = audio_envelope(wave, sr, fps, len(frames))
    max_offset = min(15, (len(frames) - 2) // 2)
    result = landmark_sync(mouth, envelope, max_offset=max_offset) if max_offset >= 1 else None
    return math.nan if result is None else float(result.curve[max_offset])


def body_keypoints(frames: np.ndarray, fps: float) -> np.ndarray:
    """(T, 33, 2) body keypoints in [0, 1] from omni's pose estimator (NaN where not found)."""
    from omni.pose import NUM_BODY, estimate_keypoints

    times = np.arange(len(frames)) / fps
    return estimate_keypoints(upscale(frames), hands=False, times=times).xy[:, :NUM_BODY]


def keypoint_error(estimated: np.ndarray, target: np.ndarray) -> float:
    """Mean distance (fraction of the frame) over the limb joints both (T, 33, 2) arrays have."""
    if estimated.shape != target.shape:
        raise ValueError(f"keypoints must match, got {estimated.shape} and {target.shape}")
    d = np.linalg.norm(estimated[:, ARM_JOINTS] - target[:, ARM_JOINTS], axis=-1)
    return float(np.nanmean(d)) if np.isfinite(d).any() else math.nan


TRUTH_SIDE = 32
"""Side (px) at which generations are compared with the rendered truth: the model's resolution."""
TRUTH_MIN_DIFF = 5.0
"""A pixel counts as changed by the condition where a channel differs by more than this (of 255)."""


def truth_errors(
    frames: np.ndarray, truth: np.ndarray, counterfactual: np.ndarray, side: int = TRUTH_SIDE
) -> tuple[float, float]:
    """Squared pixel error (8-bit levels²) of a video to its true frames and to a counterfactual
    rendering.

    `truth` is the clip as the driving condition renders it, `counterfactual` the same person and
    moment rendered with the other condition (another clip's audio or pose); all (T, H, W, 3)
    uint8, shrunk (area) to `side` px. Both errors are means over the pixels where the two
    renderings differ (a channel changed by more than TRUTH_MIN_DIFF levels), i.e. where only the condition decides
    the picture; elsewhere the two errors would be equal. Lower error to the truth than to the
    counterfactual means the video follows its condition. NaN, NaN when nothing differs.
    """
    n = min(len(frames), len(truth), len(counterfactual))
    if n == 0:
        return math.nan, math.nan
    g, t, c = (_shrink(v[:n], side) for v in (frames, truth, counterfactual))
    mask = (np.abs(t - c) > TRUTH_MIN_DIFF).any(axis=-1)  # (T, side, side)
    if not mask.any():
        return math.nan, math.nan
    own = ((g - t) ** 2).mean(axis=-1)[mask].mean()
    other = ((g - c) ** 2).mean(axis=-1)[mask].mean()
    return float(own), float(other)


def truth_match(
    video: np.ndarray,
    swapped: np.ndarray,
    truth: np.ndarray,
    counterfactual: np.ndarray,
    side: int = TRUTH_SIDE,
) -> tuple[float, float]:
    """(matching, mismatching) pixel errors of a pair of videos made with swapped conditions.

    `video` was driven by the clip's own condition (whose rendering is `truth`), `swapped` by the
    other one (rendered as `counterfactual`). Matching: the mean of video-vs-truth and
    swapped-vs-counterfactual; mismatching: video-vs-counterfactual and swapped-vs-truth (errors
    as in `truth_errors`). Each video and each rendering is on both sides, so a generator that
    ignores the condition (video = swapped) scores equal errors whatever the renderings are.
    """
    a_own, a_other = truth_errors(video, truth, counterfactual, side)
    b_own, b_other = truth_errors(swapped, counterfactual, truth, side)
    return (a_own + b_own) / 2, (a_other + b_other) / 2


def _shrink(frames: np.ndarray, side: int) -> np.ndarray:
    import cv2

    frames = np.asarray(frames)
    if frames.shape[1:3] != (side, side):
        frames = np.stack(
            [cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in frames]
        )
    return frames.astype(np.float64)


def colour_similarity(frames: np.ndarray, reference: np.ndarray, bins: int = 8) -> float:
    """Mean histogram intersection in [0, 1] of each frame's RGB histogram with the reference's."""
    ref = _histogram(reference, bins)
    return float(np.mean([np.minimum(_histogram(f, bins), ref).sum() for f in frames]))


def _histogram(image: np.ndarray, bins: int) -> np.ndarray:
    codes = (np.asarray(image, np.int64) * bins // 256).reshape(-1, 3)
    flat = (codes[:, 0] * bins + codes[:, 1]) * bins + codes[:, 2]
    counts = np.bincount(flat, minlength=bins**3).astype(np.float64)
    return counts / counts.sum()
