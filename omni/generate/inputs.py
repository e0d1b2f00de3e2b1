"""Generation inputs from files or arrays: reference picture, driving audio, driving pose.

Everything is brought to the output's frame grid here: the reference is resized to cover the
output size and centre-cropped (as training crops its clips), audio is read on the video timeline
at the model's sample rate, and pose keypoints are resampled to the output frame times and put
through the same crop as the picture they were measured on.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from omni.datamodules.clips import cover_crop
from omni.datamodules.pose import crop_keypoints
from omni.media import MediaError, probe, read_audio, read_video
from omni.pose import Keypoints, load_keypoints, resample_keypoints

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
KEYPOINT_SUFFIXES = (".npz",)
PathLike = str | os.PathLike


def _existing(path: PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist (expected a readable file)")
    return path


def fit_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, 3) uint8 -> (H, W, 3): resized to cover `size` = (H, W), centre-cropped."""
    import cv2

    h, w = image.shape[:2]
    (cw, ch), (x0, y0) = cover_crop(w, h, size)
    interp = cv2.INTER_AREA if cw < w else cv2.INTER_CUBIC
    resized = cv2.resize(image, (cw, ch), interpolation=interp)
    return np.ascontiguousarray(resized[y0 : y0 + size[0], x0 : x0 + size[1]])


def load_reference(ref: PathLike | np.ndarray) -> np.ndarray:
    """The reference picture (h, w, 3) uint8 RGB: an array, an image file, or a video's first frame."""
    if isinstance(ref, np.ndarray):
        image = ref
    else:
        path = _existing(ref, "reference")
        if path.suffix.lower() in IMAGE_SUFFIXES:
            image = _read_image(path)
        else:
            try:
                image = read_video(path, max_frames=1).frames[0]
            except MediaError as err:
                raise ValueError(
                    f"reference {str(path)!r} is neither an image ({', '.join(IMAGE_SUFFIXES)}) "
                    f"nor a readable video: {err}"
                ) from err
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(
            f"reference must be an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}"
        )
    return np.ascontiguousarray(image[..., :3])


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"reference {str(path)!r} is not a readable image: {err}") from err


def has_face(image: np.ndarray, min_confidence: float = 0.5) -> bool:
    """Whether mediapipe's face detector (full range, then short range) finds a face."""
    import mediapipe as mp

    from omni.mpgraph import on_calling_thread

    frame = np.ascontiguousarray(image)
    detector_class = on_calling_thread(mp.solutions.face_detection.FaceDetection)
    for selection in (1, 0):
        with detector_class(
            model_selection=selection, min_detection_confidence=min_confidence
        ) as detector:
            if detector.process(frame).detections:
                return True
    return False


@dataclass
class DrivingAudio:
    """Mono audio on the output's timeline: sample 0 is the first output frame."""

    wave: np.ndarray
    """(N,) float32 in [-1, 1]."""
    sr: int

    @property
    def seconds(self) -> float:
        return len(self.wave) / self.sr


def load_audio(audio: PathLike | np.ndarray, sr: int, source_sr: int | None = None) -> DrivingAudio:
    """Driving audio from any file FFmpeg reads (wav, mp3, m4a, a video's track) or an array.

    A file is decoded, mixed to mono and resampled to `sr`. An array (N,) or (C, N) needs
    `source_sr`; it is mixed to mono and resampled likewise.
    """
    if isinstance(audio, np.ndarray):
        if source_sr is None or source_sr <= 0:
            raise ValueError(
                f"audio given as an array needs its sample rate (audio_sr=...), got {source_sr}"
            )
        wave = np.asarray(audio, dtype=np.float32)
        if wave.ndim == 2:
            wave = wave.mean(axis=0 if wave.shape[0] <= 8 else 1)
        if wave.ndim != 1:
            raise ValueError(f"audio array must be (N,) or (C, N), got shape {audio.shape}")
        if source_sr != sr:
            from scipy.signal import resample_poly

            g = math.gcd(int(source_sr), int(sr))
            wave = resample_poly(wave, sr // g, source_sr // g).astype(np.float32)
        return DrivingAudio(wave, sr)
    path = _existing(audio, "audio")
    try:
        info = probe(path)
        # the container's duration, not the decoded length: AAC/MP3 pad their last frame
        origin = info.video_start_s if info.has_video else 0.0
        end = info.duration_s - origin if info.duration_s > 0 else None
        wave = read_audio(path, sr=sr, end_s=end)
    except MediaError as err:
        raise ValueError(
            f"audio {str(path)!r} could not be read: {err}. Expected an audio file "
            "(wav, mp3, m4a, flac, ...) or a video with an audio track."
        ) from err
    if len(wave) == 0:
        raise ValueError(f"audio {str(path)!r} decoded to 0 samples; expected some sound")
    return DrivingAudio(wave, sr)


@dataclass
class DrivingPose:
    """Keypoints per output frame, normalised to the output picture."""

    keypoints: Keypoints
    """(T, 75) keypoints at the output frame times 0, 1/fps, ... (omni.pose layout)."""

    @property
    def num_frames(self) -> int:
        return len(self.keypoints)


def load_pose(
    pose: PathLike | Keypoints,
    fps: float,
    size: tuple[int, int],
    max_seconds: float | None = None,
) -> DrivingPose:
    """Driving pose at `fps`, in the coordinates of an output of `size` = (H, W).

    - a video: decoded at `fps` and run through omni.pose's estimator (the one curation uses);
      its keypoints get the same cover-resize and centre crop as the output picture;
    - a keypoints file (.npz written by `omni.pose.save_keypoints`): resampled to the output
      frame times; its coordinates are taken as normalised to a frame of the output's aspect;
    - `Keypoints` already at `fps` in output coordinates are used as they are.
    """
    if isinstance(pose, Keypoints):
        return DrivingPose(pose)
    path = _existing(pose, "pose")
    if path.suffix.lower() in KEYPOINT_SUFFIXES:
        try:
            kp, times = load_keypoints(path)
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(
                f"pose keypoints {str(path)!r} could not be read: {err}. Expected an .npz "
                "written by omni.pose.save_keypoints (xy, conf, times, version)."
            ) from err
        if len(kp) == 0:
            raise ValueError(f"pose keypoints {str(path)!r} hold 0 frames")
        step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / fps
        end = times[-1] - times[0] + step  # the last source frame shows for one interval
        if max_seconds is not None:
            end = min(end, max_seconds)
        new_times = times[0] + np.arange(max(1, math.ceil(end * fps - 1e-6))) / fps  # t < end
        return DrivingPose(resample_keypoints(kp, times, new_times))
    return DrivingPose(_pose_from_video(path, fps, size, max_seconds))


def _pose_from_video(
    path: Path, fps: float, size: tuple[int, int], max_seconds: float | None
) -> Keypoints:
    from omni.pose import estimate_keypoints

    try:
        info = probe(path)
        if not info.has_video:
            raise MediaError(f"{path}: no video stream")
        clip = read_video(path, end_s=max_seconds, fps=fps)
    except MediaError as err:
        raise ValueError(
            f"pose {str(path)!r} is neither a keypoints file (.npz) nor a readable video: {err}"
        ) from err
    h, w = clip.frames.shape[1:3]
    log.info("estimating pose on %d frames of %s", len(clip.frames), path.name)
    kp = estimate_keypoints(clip.frames, times=clip.times)
    return crop_keypoints(kp, (w, h), size)


def fit_pose_length(
    pose: DrivingPose, num_frames: int, mode: Literal["hold", "trim"]
) -> tuple[DrivingPose, int, str | None]:
    """Match the pose to `num_frames` output frames -> (pose, output frames, warning or None).

    Longer pose is cut. Shorter pose either holds its last frame to the end ("hold") or
    shortens the output to the pose ("trim").
    """
    if mode not in ("hold", "trim"):
        raise ValueError(f"pose fit must be 'hold' or 'trim', got {mode!r}")
    n = pose.num_frames
    if n >= num_frames:
        return DrivingPose(pose.keypoints[:num_frames]), num_frames, None
    if mode == "trim":
        warning = (
            f"pose covers {n} frames but {num_frames} were asked for: the video is trimmed to "
            f"{n} frames (use --pose-fit hold to keep the full length)"
        )
        return pose, n, warning
    index = np.minimum(np.arange(num_frames), n - 1)
    warning = (
        f"pose covers {n} frames but {num_frames} were asked for: its last frame is held for "
        f"the remaining {num_frames - n} (use --pose-fit trim to stop with the pose)"
    )
    return DrivingPose(pose.keypoints[index]), num_frames, warning
