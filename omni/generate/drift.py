"""Long-video drift: per segment, the mean colour and the similarity to the reference.

Pure functions of frames; `drift_report` gathers them for the JSON written beside a video. The
similarity is SSIM of luma at a fixed working size (scikit-image's `structural_similarity`),
averaged over the segment's frames; it is a picture similarity, not an identity score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SSIM_SIZE = 128
"""Longer side, in pixels, at which SSIM is computed (keeps long videos cheap)."""


def mean_rgb(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) or (H, W, 3) uint8 -> (3,) mean R, G, B in [0, 255]."""
    frames = np.asarray(frames)
    if frames.shape[-1] != 3 or frames.ndim not in (3, 4):
        raise ValueError(f"expected (T, H, W, 3) or (H, W, 3) frames, got {frames.shape}")
    return frames.reshape(-1, 3).astype(np.float64).mean(axis=0)


def _luma(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, h, w) float64 luma in [0, 1], longer side SSIM_SIZE at most."""
    import cv2

    t, h, w = frames.shape[:3]
    scale = min(1.0, SSIM_SIZE / max(h, w))
    size = (max(7, round(w * scale)), max(7, round(h * scale)))
    out = np.empty((t, size[1], size[0]), np.float64)
    for i, frame in enumerate(frames):
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if scale < 1 else frame
        out[i] = (small.astype(np.float64) @ np.array([0.299, 0.587, 0.114])) / 255.0
    return out


def ref_similarity(frames: np.ndarray, ref: np.ndarray) -> float:
    """Mean SSIM (luma) of frames (T, H, W, 3) against the reference (H, W, 3), in [-1, 1]."""
    from skimage.metrics import structural_similarity

    frames, ref = np.asarray(frames), np.asarray(ref)
    if frames.ndim != 4 or frames.shape[1:] != ref.shape:
        raise ValueError(
            f"frames (T, H, W, 3) and reference (H, W, 3) must share H, W: got {frames.shape} "
            f"and {ref.shape}"
        )
    target = _luma(ref[None])[0]
    return float(np.mean([structural_similarity(f, target, data_range=1.0) for f in _luma(frames)]))


def drift_report(
    segments: Sequence[np.ndarray], ref: np.ndarray, fps: float, starts: Sequence[int]
) -> dict:
    """Per-segment mean colour, colour distance and SSIM to the reference, plus first->last change.

    segments: the kept frames of each segment (T_i, H, W, 3) uint8; starts: their first frame.
    """
    if len(segments) != len(starts) or not segments:
        raise ValueError(
            f"need one start per segment and at least one segment, got {len(segments)} "
            f"segments and {len(starts)} starts"
        )
    ref_rgb = mean_rgb(ref)
    rows = []
    for i, (frames, start) in enumerate(zip(segments, starts, strict=True)):
        rgb = mean_rgb(frames)
        rows.append(
            {
                "index": i,
                "start_frame": int(start),
                "frames": len(frames),
                "start_s": start / fps,
                "mean_rgb": [round(float(v), 3) for v in rgb],
                "colour_distance_to_ref": round(float(np.linalg.norm(rgb - ref_rgb)), 4),
                "ssim_to_ref": round(ref_similarity(frames, ref), 5),
            }
        )
    first, last = rows[0], rows[-1]
    return {
        "reference": {"mean_rgb": [round(float(v), 3) for v in ref_rgb]},
        "segments": rows,
        "change_first_to_last": {
            "colour_distance": round(
                float(np.linalg.norm(np.subtract(last["mean_rgb"], first["mean_rgb"]))), 4
            ),
            "ssim_to_ref": round(last["ssim_to_ref"] - first["ssim_to_ref"], 5),
        },
        "ssim_note": "SSIM of luma at <=128 px against the reference picture, not an identity score",
    }
