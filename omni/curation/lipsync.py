"""Built-in lip-sync score: a per-frame mouth signal vs. the audio envelope.

No weights needed. Two mouth signals (`ScoreConfig.lipsync`):
  cavity  (default) face mesh on every `MOUTH_KEY_EVERY`-th frame only: its mouth opening at those
          keyframes, linearly interpolated, plus on every frame the dark-cavity area inside a
          mouth box placed from the keyframes' lip landmarks (interpolated between them): the
          fraction of a 32x32 grey crop's central pixels darker than the clip's 15th percentile.
          Both are standardised and summed: the keyframes carry the slow opening, the cavity
          area the frame-to-frame timing. About 1/5 of the mesh work (docs/curation.md compares
          it with the mesh signal on every fixture).
  mesh    face mesh on every frame: inner plus outer lip gap over the eye span.
The mouth signal is cross-correlated with the speech-band audio envelope at every lag within
±`max_offset` frames:
  offset  the lag with the highest correlation (near-ties go to the smaller lag), in frames at
          the scoring rate; positive means the audio comes *late* (the sound follows the mouth)
  conf    peak correlation minus the median over all lags (how much the best lag stands out)
  dist    1 - peak correlation (0 = perfectly matched; comparable across clips of one footage)
This is "landmark sync", never Sync-C/Sync-D: those names belong to the SyncNet model
(`omni.evaluation.syncnet`), which the lip-sync scorer uses instead when its weights are given.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.signal

from omni.curation.facetrack import EYE_OUTER, FaceTrack, track_faces

# upper / lower lip landmark pairs of the face mesh, centre to corners; the outer contour moves
# with the jaw and is steadier than the inner one, together they follow the opening best
INNER_LIP_PAIRS = ((80, 88), (81, 178), (82, 87), (13, 14), (312, 317), (311, 402), (310, 318))
OUTER_LIP_PAIRS = ((39, 181), (37, 84), (0, 17), (267, 314), (269, 405))
SPEECH_BAND_HZ = (300.0, 3000.0)
_DETREND_FRAMES = 7  # removes slow drifts (head motion, loudness) the lag search should ignore
# Speech is rhythmic (syllables every ~7 frames), so lags a syllable apart can correlate almost
# equally; this small penalty per frame of lag breaks such near-ties toward the smaller offset.
# conf and dist are read from the unpenalised curve.
_TIE_BREAK = 0.05
_MIN_VALID = 0.5  # fraction of frames that need a mouth for a score
MOUTH_KEY_EVERY = 5  # cavity signal: face mesh keyframe spacing (10 loses d12's shifts)
LIP_BOX = (61, 291, 0, 17)  # mouth corners, upper and lower outer lip centre
_CAVITY_CROP = 32  # side of the grey mouth crop
_CAVITY_PERCENTILE = 15.0


@dataclass(frozen=True)
class SyncResult:
    """Landmark sync of one clip; see the module docstring for the meaning of each field."""

    offset: int
    conf: float
    dist: float
    curve: np.ndarray  # (2 * max_offset + 1,) correlation at lags -max_offset..max_offset


def mouth_from_track(track: FaceTrack) -> np.ndarray:
    """Mouth opening per frame (T,), NaN = no face.

    Mean inner-lip gap plus mean outer-lip gap, over the outer-eye-corner distance (scale-free).
    """
    p = track.pixels()  # (T, 468, 2)
    gap = sum(
        np.mean([np.linalg.norm(p[:, a] - p[:, b], axis=-1) for a, b in pairs], axis=0)
        for pairs in (INNER_LIP_PAIRS, OUTER_LIP_PAIRS)
    )
    eyes = np.linalg.norm(p[:, EYE_OUTER[0]] - p[:, EYE_OUTER[1]], axis=-1)
    return np.where(eyes > 0, gap / np.where(eyes > 0, eyes, 1), np.nan).astype(np.float32)


def mouth_opening(frames: np.ndarray) -> np.ndarray:
    """Mouth opening per frame of consecutive frames (T, H, W, 3) uint8 -> (T,), NaN = no face."""
    return mouth_from_track(track_faces(frames))


def mouth_signal(frames: np.ndarray, method: str = "cavity") -> np.ndarray:
    """The lip-sync mouth signal of consecutive frames (T, H, W, 3) uint8 -> (T,), NaN = no face,
    by `method` "cavity" or "mesh" (see the module docstring); one-off, tracks the face itself."""
    if method == "mesh":
        return mouth_opening(frames)
    if method != "cavity":
        raise ValueError(f"lip-sync method must be 'cavity' or 'mesh', got {method!r}")
    from omni.curation.facetrack import DETECT_EVERY, FaceTracker

    tracker = FaceTracker(detect_every=DETECT_EVERY)
    try:
        track = tracker(frames, mesh_every=MOUTH_KEY_EVERY)
    finally:
        tracker.close()
    return mouth_cavity(frames, track)


def mouth_cavity(frames: np.ndarray, track: FaceTrack) -> np.ndarray:
    """The cavity mouth signal (T,) from frames (T, H, W, 3) uint8 and a track whose mesh ran on
    some frames (the keyframes; NaN landmarks elsewhere). NaN where the track has no face, all
    NaN with fewer than two keyframes."""
    opening = mouth_from_track(track)
    keys = np.flatnonzero(~np.isnan(opening))
    n = len(frames)
    out = np.full(n, np.nan, np.float32)
    face = ~np.isnan(track.box[:, 0])
    if len(keys) < 2 or not face.any():
        return out
    p = track.pixels()[keys]
    centre = p[:, list(LIP_BOX)].mean(axis=1)
    width = np.linalg.norm(p[:, LIP_BOX[0]] - p[:, LIP_BOX[1]], axis=-1)
    t = np.flatnonzero(face)
    cx, cy = np.interp(t, keys, centre[:, 0]), np.interp(t, keys, centre[:, 1])
    side = np.interp(t, keys, width)
    boxes = zip(t, cx, cy, side, strict=True)
    crops = np.stack([_mouth_crop(frames[i], x, y, w) for i, x, y, w in boxes])
    q = _CAVITY_CROP // 4
    middle = crops[:, q:-q, q:-q].reshape(len(t), -1)
    dark = (middle < np.percentile(middle, _CAVITY_PERCENTILE)).mean(axis=1)
    slow = np.interp(t, keys, opening[keys])
    out[t] = _z(dark) + _z(slow)
    return out


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9)


def _mouth_crop(frame: np.ndarray, cx: float, cy: float, width: float) -> np.ndarray:
    """Grey (32, 32) crop of 1.6 x 1.2 mouth widths around the mouth centre (edge-padded)."""
    h, w = frame.shape[:2]
    half_w, half_h = max(2.0, 0.8 * width), max(2.0, 0.6 * width)
    x0, x1 = round(cx - half_w), round(cx + half_w)
    y0, y1 = round(cy - half_h), round(cy + half_h)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if sx1 - sx0 < 2 or sy1 - sy0 < 2:
        return np.zeros((_CAVITY_CROP, _CAVITY_CROP), np.uint8)
    grey = cv2.cvtColor(frame[sy0:sy1, sx0:sx1], cv2.COLOR_RGB2GRAY)
    if (sx0, sy0, sx1, sy1) != (x0, y0, x1, y1):
        grey = cv2.copyMakeBorder(
            grey, sy0 - y0, y1 - sy1, sx0 - x0, x1 - sx1, cv2.BORDER_REPLICATE
        )
    interp = cv2.INTER_AREA if grey.shape[1] > _CAVITY_CROP else cv2.INTER_LINEAR
    return cv2.resize(grey, (_CAVITY_CROP, _CAVITY_CROP), interpolation=interp)


def audio_envelope(audio: np.ndarray, sr: int, fps: float, num_frames: int) -> np.ndarray:
    """Speech-band RMS of mono audio (N,) in each video frame's interval [k/fps, (k+1)/fps) -> (T,).

    Samples beyond the end of `audio` count as silence.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono (N,), got shape {audio.shape}")
    high = min(SPEECH_BAND_HZ[1], 0.45 * sr)
    sos = scipy.signal.butter(4, [SPEECH_BAND_HZ[0], high], btype="band", fs=sr, output="sos")
    if len(audio) > 30:
        audio = scipy.signal.sosfiltfilt(sos, audio, padlen=min(len(audio) - 1, 300))
    bounds = np.round(np.arange(num_frames + 1) * sr / fps).astype(np.int64)
    power = np.concatenate([[0.0], np.cumsum(audio**2)])
    power = np.concatenate([power, np.full(max(0, bounds[-1] + 1 - len(power)), power[-1])])
    width = np.maximum(np.diff(bounds), 1)
    return np.sqrt((power[bounds[1:]] - power[bounds[:-1]]) / width).astype(np.float32)


def _smooth(x: np.ndarray) -> np.ndarray:
    # the same light smoothing on both sides: lips move with inertia, a 40 ms RMS is spiky
    return np.convolve(np.pad(x, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")


def _standardise(x: np.ndarray) -> np.ndarray:
    k = _DETREND_FRAMES
    trend = np.convolve(np.pad(x, (k // 2, k // 2), mode="edge"), np.ones(k) / k, mode="valid")
    x = x - trend
    return (x - x.mean()) / (x.std() + 1e-9)


def landmark_sync(
    mouth: np.ndarray, envelope: np.ndarray, max_offset: int = 15
) -> SyncResult | None:
    """Cross-correlate mouth opening (T,) with the audio envelope (T,) over ±max_offset frames.

    Frames without a mouth (NaN) are filled by interpolation; returns None when fewer than half
    the frames have one or the clip is too short to test every lag.
    """
    mouth = np.asarray(mouth, np.float64)
    envelope = np.asarray(envelope, np.float64)
    if mouth.shape != envelope.shape or mouth.ndim != 1:
        raise ValueError(
            f"mouth and envelope must be (T,) of one length, got {mouth.shape} and {envelope.shape}"
        )
    valid = ~np.isnan(mouth)
    if valid.mean() < _MIN_VALID or len(mouth) < 2 * max_offset + 2:
        return None
    t = np.arange(len(mouth))
    mouth = np.interp(t, t[valid], mouth[valid])
    if np.ptp(envelope) == 0 or np.ptp(mouth) == 0:
        return None
    m, e = _standardise(_smooth(mouth)), _standardise(_smooth(envelope))
    lags = np.arange(-max_offset, max_offset + 1)
    curve = np.array(
        [
            np.mean(m[: len(m) - s] * e[s:]) if s >= 0 else np.mean(m[-s:] * e[: len(e) + s])
            for s in lags
        ]
    )
    best = int(np.argmax(curve - _TIE_BREAK * np.abs(lags) / max_offset))
    peak = float(curve[best])
    return SyncResult(int(lags[best]), peak - float(np.median(curve)), 1.0 - peak, curve)
