"""Built-in lip-sync score: mouth opening from face-mesh landmarks vs. the audio envelope.

No weights needed. The mouth opening per frame (inner plus outer lip gap over the eye span) is
cross-correlated with the speech-band audio envelope at every lag within ±`max_offset` frames:
  offset  the lag with the highest correlation (near-ties go to the smaller lag), in frames at
          the scoring rate; positive means the audio comes *late* (the sound follows the mouth)
  conf    peak correlation minus the median over all lags (how much the best lag stands out)
  dist    1 - peak correlation (0 = perfectly matched; comparable across clips of one footage)
This is "landmark sync", never Sync-C/Sync-D: those names belong to the SyncNet model
(`omni.evaluation.syncnet`), which the lip-sync scorer uses instead when its weights are given.
"""

from __future__ import annotations

from dataclasses import dataclass

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
