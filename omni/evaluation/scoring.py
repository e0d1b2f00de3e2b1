"""One video through every metric: one streamed pass feeds all per-frame consumers.

The pass collects FID frame features, FVD clip features, the face track (mouth opening for the
landmark sync score, face boxes for SyncNet), hand keypoints (HKC/HKV), plug-in scores and a few
thumbnails. SyncNet's face crops need the whole track smoothed first, so it re-streams the video
once more (only when its weights are given). A metric that cannot be computed for this video
(no audio, no face, too short) is None with a note saying why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from omni.evaluation.extractors import Extractors, resize_for_i3d
from omni.evaluation.hands import hand_keypoint_confidence, hand_keypoint_variance
from omni.evaluation.i3d import CLIP_FRAMES
from omni.evaluation.scorers import ScoreMean
from omni.evaluation.syncnet import FPS, SAMPLE_RATE, syncnet_score
from omni.evaluation.video import VideoSource

THUMB_HEIGHT = 160


@dataclass
class VideoResult:
    """Per-video scalars (`row`), set-level features, and material for the report."""

    row: dict
    fid: np.ndarray | None = None  # (N, 2048) float32
    fvd: np.ndarray | None = None  # (M, 400) float32
    thumbs: np.ndarray | None = None  # (3, h, w, 3) uint8: first, middle, last frame
    curves: dict[str, np.ndarray] = field(default_factory=dict)


class _Clips:
    """Buffers 224² frames into non-overlapping 16-frame clips; embeds them in batches."""

    def __init__(self, ex: Extractors) -> None:
        self.ex, self.buffer, self.ready, self.features = ex, [], [], []

    def add(self, chunk: np.ndarray) -> None:
        self.buffer.extend(resize_for_i3d(chunk))
        while len(self.buffer) >= CLIP_FRAMES:
            self.ready.append(torch.stack(self.buffer[:CLIP_FRAMES]))
            self.buffer = self.buffer[CLIP_FRAMES:]
            if len(self.ready) == max(1, self.ex.options.batch // CLIP_FRAMES):
                self._flush()

    def _flush(self) -> None:
        if self.ready:
            self.features.append(self.ex.i3d_features(torch.stack(self.ready)))
            self.ready = []

    def finish(self) -> np.ndarray:
        self._flush()
        return np.concatenate(self.features) if self.features else np.zeros((0, 400), np.float32)


class _Thumbs:
    def __init__(self, expected_frames: int | None) -> None:
        last = max(0, (expected_frames or 1) - 1)
        self.wanted = {0: 0, last // 2: 1}
        self.frames: list[np.ndarray | None] = [None, None, None]
        self.seen = 0

    def add(self, chunk: np.ndarray) -> None:
        for i, frame in enumerate(chunk, start=self.seen):
            if i in self.wanted:
                self.frames[self.wanted[i]] = _small(frame)
        self.seen += len(chunk)
        self.frames[2] = _small(chunk[-1])

    def finish(self) -> np.ndarray | None:
        frames = [f if f is not None else self.frames[2] for f in self.frames]
        return None if frames[2] is None else np.stack(frames)


def _small(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    width = max(2, round(w * THUMB_HEIGHT / h))
    return cv2.resize(frame, (width, THUMB_HEIGHT), interpolation=cv2.INTER_AREA)


class _FrameFeatures:
    """Inception features of every `stride`-th frame."""

    def __init__(self, ex: Extractors) -> None:
        self.ex, self.seen, self.features = ex, 0, []

    def add(self, chunk: np.ndarray) -> None:
        picked = np.arange(self.seen, self.seen + len(chunk)) % self.ex.options.fid_stride == 0
        if picked.any():
            self.features.append(self.ex.inception_features(chunk[picked]))
        self.seen += len(chunk)


class _Faces:
    """The main face per frame: boxes (for SyncNet crops) and mouth opening (landmark sync)."""

    def __init__(self) -> None:
        from omni.curation.facetrack import FaceTracker

        self.tracker, self.boxes, self.mouths = FaceTracker(), [], []

    def add(self, chunk: np.ndarray) -> None:
        from omni.curation.lipsync import mouth_from_track

        track = self.tracker(chunk)
        self.boxes.append(track.box)  # (T, 4) x0, y0, w, h normalised
        self.mouths.append(mouth_from_track(track))

    def close(self) -> None:
        self.tracker.close()

    def pixel_boxes(self, height: int, width: int) -> np.ndarray:
        box = np.concatenate(self.boxes) * np.array([width, height, width, height])
        box[:, 2:] += box[:, :2]  # → x0, y0, x1, y1 in pixels
        return box


class _Hands:
    """omni.pose keypoints of every frame (video mode: tracking runs across chunks, smoothed at
    the video's frame rate)."""

    def __init__(self, fps: float) -> None:
        from omni.pose import PoseEstimator

        self.estimator, self.conf, self.xy = PoseEstimator(hands=True), [], []
        self.fps, self.frames = fps, 0

    def add(self, chunk: np.ndarray) -> None:
        times = (self.frames + np.arange(len(chunk))) / self.fps
        self.frames += len(chunk)
        kp = self.estimator(chunk, times)
        self.conf.append(kp.conf)
        self.xy.append(kp.xy)

    def close(self) -> None:
        self.estimator.close()


def score_video(
    src: VideoSource, ex: Extractors, fallback_audio: np.ndarray | None = None
) -> VideoResult:
    """Score one video. `fallback_audio` (16 kHz, e.g. the real clip's track) drives the sync
    metrics when the video has no audio of its own."""
    opts = ex.options
    fid = _FrameFeatures(ex) if ex.inception is not None else None
    clips = _Clips(ex) if ex.i3d is not None else None
    faces = _Faces() if opts.landmark_sync or ex.syncnet is not None else None
    hands = _Hands(src.fps) if opts.hands else None
    thumbs = _Thumbs(round(src.duration_s * src.fps) if src.duration_s else None)
    scores = [ScoreMean(s, opts.scorer_stride) for s in ex.scorers]
    consumers = [c for c in (fid, clips, faces, hands, thumbs, *scores) if c is not None]
    frames, size = 0, (0, 0)
    try:
        for chunk in src.chunks():  # the one shared decode
            for consumer in consumers:
                consumer.add(chunk)
            frames, size = frames + len(chunk), chunk.shape[1:3]
    finally:
        for consumer in (faces, hands):
            if consumer is not None:
                consumer.close()
    if frames == 0:
        raise ValueError(f"{src.name}: no frames decoded")

    row = {"name": src.name, "path": src.path, "notes": [], "frames": frames}
    row.update(seconds=frames / src.fps, height=int(size[0]), width=int(size[1]))
    result = VideoResult(row, thumbs=thumbs.finish())
    if fid is not None and fid.features:
        result.fid = np.concatenate(fid.features)
    if clips is not None:
        result.fvd = clips.finish()
        if len(result.fvd) == 0:
            row["notes"].append(f"fvd: shorter than one {CLIP_FRAMES}-frame clip")
    audio, row["audio"] = _driving_audio(src, fallback_audio)
    if hands is not None:
        _hands(row, np.concatenate(hands.conf), np.concatenate(hands.xy), size)
    for s in scores:
        row[s.scorer.name] = s.value()
    if faces is not None and opts.landmark_sync:
        _landmark_sync(result, np.concatenate(faces.mouths), audio, src.fps, opts.max_offset)
    if faces is not None and ex.syncnet is not None:
        _syncnet(result, src, ex, faces.pixel_boxes(*size), audio)
    return result


def _driving_audio(src: VideoSource, fallback: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    if src.audio is not None and np.abs(src.audio).max(initial=0) > 0:
        return _at_16k(src.audio, src.sr), "own"
    if fallback is not None and np.abs(fallback).max(initial=0) > 0:
        return fallback, "real"
    return None, "none" if src.audio is None else "silent"


def _at_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    if sr == SAMPLE_RATE:
        return audio
    import librosa

    return librosa.resample(audio, orig_sr=sr, target_sr=SAMPLE_RATE)


def _hands(row: dict, conf: np.ndarray, xy: np.ndarray, size: tuple[int, int]) -> None:
    row["hkc"] = hand_keypoint_confidence(conf)
    row["hkv"] = hand_keypoint_variance(xy, conf, aspect=size[1] / size[0])
    if math.isnan(row["hkc"]):
        row["notes"].append("hkc/hkv: no hand in view")


def _landmark_sync(result: VideoResult, mouth, audio, fps: float, max_offset: int) -> None:
    from omni.curation.lipsync import audio_envelope, landmark_sync

    row = result.row
    if audio is None:
        row["notes"].append("landmark sync: no audio to compare with")
        return
    envelope = audio_envelope(audio, SAMPLE_RATE, fps, len(mouth))
    sync = landmark_sync(mouth, envelope, max_offset=max_offset)
    if sync is None:
        row["notes"].append(
            f"landmark sync: mouth found in under half the frames or clip under "
            f"{2 * max_offset + 2} frames"
        )
        return
    row.update(
        landmark_sync_corr=float(sync.curve[max_offset]),  # in sync as given: lag 0
        landmark_sync_conf=sync.conf,
        landmark_sync_dist=sync.dist,
        landmark_sync_offset=sync.offset,
    )
    result.curves["landmark_sync"] = sync.curve


def _syncnet(result: VideoResult, src: VideoSource, ex: Extractors, box, audio) -> None:
    row = result.row
    if audio is None:
        row["notes"].append("sync-c/d: no audio to compare with")
        return
    if abs(src.fps - FPS) > 1e-6:
        row["notes"].append(f"sync-c/d: SyncNet needs {FPS} fps, analysis runs at {src.fps}")
        return
    frames = (frame for chunk in src.chunks() for frame in chunk)  # a second decode
    try:
        sync = syncnet_score(
            ex.syncnet, frames, box, audio, ex.options.max_offset, ex.options.batch
        )
    except ValueError as err:
        row["notes"].append(f"sync-c/d: {err}")
        return
    row.update(
        sync_c=sync.sync_c,
        sync_d=sync.sync_d,
        sync_offset=sync.offset,
        sync_windows=sync.num_windows,
    )
    result.curves["syncnet"] = sync.distances
