"""Clip scorers: one decode per clip at the scoring rate feeds every scorer.

Each scorer has a `name`, a `version` (bump it when its numbers change: rows scored with another
version are re-scored on resume), the columns it adds (registered with the manifest), and
`__call__(clip, ctx) -> dict`. Defaults need no download; optional weights are explicit paths.
Column meanings and ranges are documented in docs/manifest.md.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

from omni.manifest import register_columns

SCORING_FPS = 25.0
SCORING_SR = 16000


@dataclass
class ScoreConfig:
    """Options shared by the scorers of one `omni curate score` run."""

    fps: float = SCORING_FPS
    """Scoring rate: frames per second decoded once per clip (lip-sync lags are in these frames)."""
    max_side: int = 640
    """Longer side of the decoded frames; faces of talking-head shots stay large enough for lips."""
    face_detect_every: int = 10  # = facetrack.DETECT_EVERY
    """The full-range face detector runs every n-th frame (and when the mesh loses the face); the
    short-range detector re-centres the face crop on the frames the mesh runs on (the lip-sync
    keyframes when lip-sync needs the mouth, else these detection frames)."""
    lipsync: str = "cavity"
    """Landmark lip-sync mouth signal: "cavity" (face mesh every `lipsync.MOUTH_KEY_EVERY` frames
    placing a mouth box, dark-cavity area in it on every frame) or "mesh" (face mesh on every
    frame, 4-5x the face-track time). See omni.curation.lipsync."""
    pose_fps: float = 1.0
    """Rate of the first pose pass (scores, and the side file of clips that stay sparse)."""
    dense_pose_visibility: float | None = 0.5
    """Clips whose sparse pass reaches this mean body visibility (the filter's default
    min_pose_visibility) get a second, dense pass at `dense_pose_fps`, which their side file and
    jitter come from: dense keypoints where pose training can use them. Head-and-shoulder shots
    score about 0.4, full-body shots above 0.9. None: never dense."""
    dense_pose_fps: float = 12.5
    """Rate of the dense pass (every 2nd frame at 25 fps; the datamodule interpolates keypoints
    to its own frame times). Pose + hands cost ~50 ms per frame on a full-body clip, so the
    dense pass is most of such a clip's scoring time; a lower rate is proportionally faster and
    interpolates over longer gaps (docs/curation.md: the measured error). A rate other than the
    default is part of the pose scorer's version."""
    quality_stride: int = 4
    """Technical quality averages every n-th scoring frame (it changes slowly within a clip)."""
    motion_stride: int = 4
    """Motion averages the flow of the consecutive frame pairs starting at every n-th frame."""
    keypoints_dir: str | None = None
    """Folder for pose keypoint side files (.npz); default `<manifest>.keypoints/` beside the output."""
    syncnet: str | None = None
    """syncnet_python `syncnet_v2.model`: lip-sync by SyncNet instead of the landmark sync."""
    insightface: str | None = None
    """insightface model folder (buffalo_l layout): adds identity consistency to the face scorer."""
    aesthetic_clip: str | None = None
    """open_clip ViT-L/14 (local dir in open_clip's layout, or a checkpoint file) for aesthetics."""
    aesthetic_head: str | None = None
    """LAION improved-aesthetic-predictor MLP weights (.pth); with aesthetic_clip: aesthetics."""

    def __post_init__(self) -> None:
        if not self.dense_pose_fps > 0:
            raise ValueError(f"dense_pose_fps must be positive, got {self.dense_pose_fps}")
        if self.lipsync not in ("cavity", "mesh"):
            raise ValueError(f"lipsync must be 'cavity' or 'mesh', got {self.lipsync!r}")
        if (self.aesthetic_clip is None) != (self.aesthetic_head is None):
            raise ValueError(
                "aesthetics needs both the open_clip model and the LAION head, got "
                f"aesthetic_clip={self.aesthetic_clip!r}, aesthetic_head={self.aesthetic_head!r}"
            )


@dataclass
class Clip:
    """One decoded clip: frames at the scoring rate, mono audio on the same timeline."""

    clip_id: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    times: np.ndarray  # (T,) seconds on the source's video timeline
    audio: np.ndarray | None  # (N,) float32 at SCORING_SR, or None without an audio stream
    fps: float
    config: ScoreConfig = field(default_factory=ScoreConfig)
    mouth_needed: bool = True
    """Lip-sync will read the mouth: face mesh on its keyframes (every frame with
    `lipsync="mesh"`); else only at the detection frames."""
    _gray: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    """Grey frames made so far (`gray`); quality and motion may fill it from two threads."""

    @cached_property
    def faces(self):
        every = self.config.face_detect_every
        return face_tracker(every)(self.frames, mesh_every=self.mesh_every)

    @property
    def mesh_every(self) -> int:
        """The face mesh's frame step for this clip (see `mouth_needed`)."""
        return _mesh_every(self.config, self.mouth_needed)

    @property
    def sparse_pose_index(self) -> np.ndarray:
        """The frames of the first pose pass: every `round(fps / pose_fps)`-th."""
        step = max(1, round(self.fps / self.config.pose_fps))
        return np.arange(0, len(self.frames), step)

    @cached_property
    def sparse_pose(self):
        """`omni.pose.Keypoints` of the first pose pass (at `sparse_pose_index`)."""
        index = self.sparse_pose_index
        return _keypoints(self.frames[index], self.times[index], smooth=False)

    def gray(self, index) -> np.ndarray:
        """(len(index), h, w) float32 grey frames for quality and motion: the longer side reduced
        by an integer factor to 160..319 px (integer-factor area averaging is fast); each frame is
        converted once, when a scorer first asks for it."""
        h, w = self.frames.shape[1:3]
        k = max(1, max(h, w) // 160)
        size = (max(1, w // k), max(1, h // k))
        out = []
        for i in np.asarray(index, np.int64).reshape(-1):
            if i not in self._gray:
                grey = cv2.cvtColor(self.frames[i], cv2.COLOR_RGB2GRAY)
                small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
                self._gray[int(i)] = small.astype(np.float32)
            out.append(self._gray[int(i)])
        return np.stack(out) if out else np.zeros((0, size[1], size[0]), np.float32)

    @property
    def gray_small(self) -> np.ndarray:
        """Every frame grey (T, h, w), as `gray`."""
        return self.gray(np.arange(len(self.frames)))


def _mesh_every(config: ScoreConfig, mouth_needed: bool) -> int:
    from omni.curation.lipsync import MOUTH_KEY_EVERY

    if not mouth_needed:
        return config.face_detect_every
    if config.lipsync == "mesh" or config.syncnet:
        return 1  # SyncNet crops the face box, re-centred on every meshed frame
    return MOUTH_KEY_EVERY


@lru_cache(maxsize=4)
def face_tracker(detect_every: int):
    """The process's FaceTracker (its detector graphs load once; each call starts a fresh mesh)."""
    from omni.curation.facetrack import FaceTracker

    return FaceTracker(detect_every=detect_every)


@lru_cache(maxsize=2)
def pose_estimator(smooth: bool, /):
    """The process's PoseEstimator of the first pass (`smooth=False`: its frames are a second
    apart, too far for mediapipe's smoothing filters to follow, which held every frame's
    visibility near the first one's) or of the dense pass (smoothed in real time); loading the
    graphs costs about a second, so each is made once and reset per clip. Positional only: one
    cache key per estimator."""
    from omni.pose import PoseEstimator

    return PoseEstimator(hands=True, smooth=smooth)


def scorer_version(name: str, config: ScoreConfig) -> str:
    """The `<name>_version` value of a scorer run with these options (weights change it)."""
    scorer = SCORERS[name]
    version = scorer.version
    if name == "lipsync" and (config.lipsync == "mesh" or config.syncnet):
        version = "2"  # the mesh signal's and SyncNet's numbers are those of lipsync version 2
    if name == "pose" and config.dense_pose_fps != ScoreConfig.dense_pose_fps:
        version = f"{version}+dense{config.dense_pose_fps:g}fps"  # other side files
    paths = [getattr(config, option) for option in scorer.weights]
    if not any(paths):
        return version
    from omni.curation.pretrained import weights_tag

    tags = []
    for option, path in zip(scorer.weights, paths, strict=True):
        if path:
            file = _weights_file(option, path)
            tags.append(f"{option}:{weights_tag(file)}")
    return f"{version}+" + "+".join(tags)


def _weights_file(option: str, path: str) -> str:
    """The file whose content identifies the weights given to an option."""
    if option == "insightface":
        from omni.curation.pretrained import recognition_file

        return str(recognition_file(path))
    if option == "aesthetic_clip":  # the checkpoint open_clip itself picks in a model folder
        from omni.curation.pretrained import open_clip_weights_file

        return str(open_clip_weights_file(path, option="--aesthetic-clip"))
    return path


def _mean(x: np.ndarray) -> float | None:
    x = np.asarray(x, np.float64)
    return float(np.nanmean(x)) if x.size and not np.isnan(x).all() else None


class FaceScorer:
    """Main face: frames with a face, face count, area fraction, yaw; identity consistency with
    insightface weights (null without)."""

    name, version, weights = "face", "3", ("insightface",)
    columns = (
        pa.field("face_present", pa.float64()),
        pa.field("face_count", pa.float64()),
        pa.field("face_area", pa.float64()),
        pa.field("face_yaw", pa.float64()),
        pa.field("face_identity", pa.float64()),
    )

    def __call__(self, clip: Clip, config: ScoreConfig) -> dict:
        track = clip.faces
        found = ~np.isnan(track.box[:, 0])
        area = track.box[:, 2] * track.box[:, 3]
        return {
            "face_present": float(found.mean()),
            "face_count": float(track.count.mean()),
            "face_area": _mean(area[found]) if found.any() else 0.0,
            "face_yaw": _mean(np.abs(track.yaw_degrees())),
            "face_identity": _identity(clip, config),
        }


def _identity(clip: Clip, config: ScoreConfig) -> float | None:
    if config.insightface is None:
        return None
    from omni.curation.pretrained import identity_consistency, identity_embeddings

    emb = identity_embeddings(clip.frames, clip.faces.landmarks, config.insightface)
    return identity_consistency(emb)


class LipSyncScorer:
    """Lip-sync offset / confidence / distance: SyncNet with its weights, else the landmark sync
    on the `ScoreConfig.lipsync` mouth signal.

    `sync_offset` is in scoring frames, positive when the audio comes late, for every method;
    `sync_conf` / `sync_dist` are each method's own scale (`sync_method` says which: "cavity",
    "landmark" for the mesh signal, "syncnet").
    """

    name, version, weights = "lipsync", "3", ("syncnet",)
    columns = (
        pa.field("sync_offset", pa.int64()),
        pa.field("sync_conf", pa.float64()),
        pa.field("sync_dist", pa.float64()),
        pa.field("sync_method", pa.string()),
    )

    def __call__(self, clip: Clip, config: ScoreConfig) -> dict:
        from omni.curation.lipsync import (
            audio_envelope,
            landmark_sync,
            mouth_cavity,
            mouth_from_track,
        )

        empty = dict.fromkeys(("sync_offset", "sync_conf", "sync_dist", "sync_method"))
        if clip.audio is None:
            return empty
        if config.syncnet is not None:
            return _syncnet(clip, config.syncnet, empty)
        if config.lipsync == "mesh":
            mouth, method = mouth_from_track(clip.faces), "landmark"
        else:
            mouth, method = mouth_cavity(clip.frames, clip.faces), "cavity"
        env = audio_envelope(clip.audio, SCORING_SR, clip.fps, len(mouth))
        result = landmark_sync(mouth, env)
        if result is None:
            return empty
        return {
            "sync_offset": result.offset,
            "sync_conf": result.conf,
            "sync_dist": result.dist,
            "sync_method": method,
        }


def _syncnet(clip: Clip, path: str, empty: dict) -> dict:
    from omni.curation.pretrained import syncnet_sync

    if np.isnan(clip.faces.box[:, 0]).all():
        return empty  # no face: nothing to judge, as with the landmark sync
    result = syncnet_sync(clip.frames, clip.faces.box, clip.audio, clip.fps, path)
    return {
        "sync_offset": -result.offset,  # syncnet_python reports a late audio as a negative offset
        "sync_conf": result.sync_c,
        "sync_dist": result.sync_d,
        "sync_method": "syncnet",
    }


class PoseScorer:
    """Body visibility, hands visible, keypoint jitter; writes the keypoints side file.

    A sparse pass at `pose_fps` scores every clip; clips whose body is visible enough for pose
    training (`dense_pose_visibility`) get a dense pass at `dense_pose_fps`, which their scores
    and side file come from. Jitter is measured on dense keypoints only (null otherwise), per
    dense step.
    """

    name, version, weights = "pose", "5", ()
    columns = (
        pa.field("pose_visibility", pa.float64()),
        pa.field("pose_hands", pa.float64()),
        pa.field("pose_jitter", pa.float64()),
        pa.field("keypoints_path", pa.string()),
    )

    def __call__(self, clip: Clip, config: ScoreConfig) -> dict:
        from omni.pose import NUM_BODY, save_keypoints

        step = max(1, round(clip.fps / config.pose_fps))
        dense_step = max(1, round(clip.fps / config.dense_pose_fps))
        index, kp = clip.sparse_pose_index, clip.sparse_pose
        dense = step <= dense_step
        threshold = config.dense_pose_visibility
        if not dense and threshold is not None and kp.conf[:, :NUM_BODY].mean() >= threshold:
            index = np.arange(0, len(clip.frames), dense_step)
            kp, dense = _keypoints(clip.frames[index], clip.times[index], smooth=True), True
        path = None
        if config.keypoints_dir:
            name = hashlib.sha1(clip.clip_id.encode()).hexdigest()[:16] + ".npz"
            path = str(save_keypoints(Path(config.keypoints_dir) / name, kp, clip.times[index]))
        hands = (kp.conf[:, NUM_BODY:] > 0).any(axis=1)
        body_xy, body_conf = kp.xy[:, :NUM_BODY], kp.conf[:, :NUM_BODY]
        return {
            "pose_visibility": float(body_conf.mean()),
            "pose_hands": float(hands.mean()),
            "pose_jitter": pose_jitter(body_xy, body_conf) if dense else None,
            "keypoints_path": path,
        }


def _keypoints(frames: np.ndarray, times: np.ndarray, smooth: bool):
    estimator = pose_estimator(smooth)
    estimator.reset()  # a new clip: no tracking from the previous one
    return estimator(frames, times)


def pose_jitter(xy: np.ndarray, conf: np.ndarray, min_conf: float = 0.5) -> float | None:
    """Median |second difference| of confident joints (T, J, 2), in frame-size units per step².

    Smooth motion has a small second difference; detector jitter makes it large.
    """
    if len(xy) < 3:
        return None
    ok = (conf[:-2] > min_conf) & (conf[1:-1] > min_conf) & (conf[2:] > min_conf)  # (T-2, J)
    accel = np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=-1)  # (T-2, J)
    return float(np.median(accel[ok])) if ok.any() else None


class QualityScorer:
    """Technical quality (never called aesthetics): sharpness, exposure, noise."""

    name, version, weights = "quality", "2", ()
    columns = (
        pa.field("sharpness", pa.float64()),
        pa.field("exposure", pa.float64()),
        pa.field("noise", pa.float64()),
    )

    def __call__(self, clip: Clip, config: ScoreConfig) -> dict:
        return technical_quality(clip.gray(np.arange(0, len(clip.frames), config.quality_stride)))


def technical_quality(gray: np.ndarray) -> dict:
    """Per-clip means over grey frames (T, h, w) in 0..255.

    sharpness: variance of the Laplacian; exposure: mean brightness in [0, 1] (0.5 is mid grey);
    noise: std of the residual after a 3x3 median, over the flattest half of the pixels (where
    the residual is sensor/compression noise rather than texture), in grey levels.
    """
    sharp, noise = [], []
    for g in gray:
        sharp.append(cv2.Laplacian(g, cv2.CV_32F).var())
        residual = g - cv2.medianBlur(g.astype(np.uint8), 3).astype(np.float32)
        gradient = np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1))
        flat = gradient <= np.median(gradient)
        noise.append(residual[flat].std())
    return {
        "sharpness": float(np.mean(sharp)),
        "exposure": float(gray.mean() / 255.0),
        "noise": float(np.mean(noise)),
    }


class MotionScorer:
    """Motion amplitude: mean optical-flow magnitude on a low-resolution decode."""

    name, version, weights = "motion", "3", ()
    columns = (pa.field("motion", pa.float64()),)

    def __call__(self, clip: Clip, config: ScoreConfig) -> dict:
        first = np.arange(0, len(clip.frames) - 1, config.motion_stride)
        return {"motion": pair_motion(clip.gray(first), clip.gray(first + 1))}


def motion_amplitude(gray: np.ndarray) -> float | None:
    """Mean DIS optical-flow magnitude between consecutive grey frames (T, h, w), as a fraction
    of the width per frame (OpenCV's ultrafast DIS preset: ~20x cheaper than Farneback)."""
    return pair_motion(gray[:-1], gray[1:])


def pair_motion(first: np.ndarray, second: np.ndarray) -> float | None:
    """`motion_amplitude` over frame pairs (first[i] -> second[i]), each (N, h, w); None if N=0."""
    if len(first) == 0:
        return None
    h, w = first.shape[1:]
    if max(h, w) < 12:  # OpenCV's DIS flow raises a bare size error below this
        raise ValueError(
            f"frames of {w}x{h} px are too small for optical flow (needs 12 px a side)"
        )
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    a_frames = np.clip(first, 0, 255).astype(np.uint8)
    b_frames = np.clip(second, 0, 255).astype(np.uint8)
    flows = (dis.calc(a, b, None) for a, b in zip(a_frames, b_frames, strict=True))
    mags = [cv2.magnitude(f[..., 0], f[..., 1]).mean() for f in flows]  # each flow (h, w, 2)
    return float(np.mean(mags) / first.shape[2])


class SpeechScorer:
    """Speech activity: fraction of frames whose speech-band energy stands above the floor."""

    name, version, weights = "speech", "1", ()
    columns = (pa.field("speech_activity", pa.float64()),)

    def __call__(self, clip: Clip, config: ScoreConfig) -> dict:
        if clip.audio is None:
            return {"speech_activity": None}
        return {"speech_activity": speech_activity(clip.audio, SCORING_SR, clip.fps)}


def speech_activity(audio: np.ndarray, sr: int, fps: float, floor_db: float = -45.0) -> float:
    """Fraction of video frames whose speech-band RMS is within 30 dB of the clip's loudest and
    above `floor_db` dBFS (so a silent track scores 0, continuous speech near 1)."""
    from omni.curation.lipsync import audio_envelope

    n = max(1, int(len(audio) / sr * fps))
    env = audio_envelope(audio, sr, fps, n)
    db = 20 * np.log10(env + 1e-10)
    active = (db > floor_db) & (db > db.max() - 30)
    return float(active.mean())


class AestheticsScorer:
    """LAION aesthetic score from open_clip ViT-L/14 + the aesthetic MLP head (local files); null
    without them — technical quality is reported instead, never under this name."""

    name, version, weights = "aesthetics", "1", ("aesthetic_clip", "aesthetic_head")
    columns = (pa.field("aesthetic", pa.float64()),)

    def __call__(self, clip: Clip, config: ScoreConfig) -> dict:
        if config.aesthetic_clip is None or config.aesthetic_head is None:
            return {"aesthetic": None}
        from omni.curation.pretrained import aesthetic_score

        return {
            "aesthetic": aesthetic_score(clip.frames, config.aesthetic_clip, config.aesthetic_head)
        }


SCORERS = {
    s.name: s
    for s in (
        FaceScorer,
        LipSyncScorer,
        PoseScorer,
        QualityScorer,
        AestheticsScorer,
        MotionScorer,
        SpeechScorer,
    )
}
DEFAULT_SCORERS = ("face", "lipsync", "pose", "quality", "aesthetics", "motion", "speech")

for _scorer in SCORERS.values():
    register_columns(*_scorer.columns, pa.field(f"{_scorer.name}_version", pa.string()))
register_columns(pa.field("score_error", pa.string()))


def decode_clip(
    path: str,
    clip_id: str,
    start_s: float,
    end_s: float | None,
    config: ScoreConfig,
    overlap: bool = False,
    faces: bool = False,
    mouth_needed: bool = True,
    pose: bool = False,
) -> Clip:
    """The one decode per clip: frames at `config.fps` with the longer side `max_side`, audio.

    `overlap`: the video decodes in a thread and the audio in another; with `faces` the face track
    (`Clip.faces`, for `mouth_needed` as `Clip.mouth_needed`) runs on the frames as they arrive,
    with `pose` the first pose pass (`Clip.sparse_pose`) runs on its frames as they arrive, in a
    third thread. The clip is the same as without overlap (tests/curation/test_scorers.py).
    """
    from omni.media import MediaError, probe, read_audio, read_video

    info = probe(path)
    if not info.has_video:
        raise MediaError(f"{path}: no video stream (audio-only file)")
    w, h = info.width or 0, info.height or 0
    if info.rotation in (90, 270):
        w, h = h, w
    size = None
    if max(w, h) > config.max_side:
        scale = config.max_side / max(w, h)
        size = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2))
    if overlap:
        mouth = mouth_needed and info.has_audio
        return _decode_overlapped(
            path, clip_id, start_s, end_s, config, size, info, faces, mouth, pose
        )
    audio = None
    video = read_video(path, start_s, end_s, fps=config.fps, size=size)
    if info.has_audio:
        end = start_s + len(video.frames) / config.fps
        audio = read_audio(path, SCORING_SR, start_s, end)
    return Clip(clip_id, video.frames, video.times, audio, config.fps, config)


_DONE = object()


def _decode_overlapped(
    path: str,
    clip_id: str,
    start_s: float,
    end_s: float | None,
    config: ScoreConfig,
    size: tuple[int, int] | None,
    info,
    faces: bool,
    mouth_needed: bool,
    pose: bool,
) -> Clip:
    import queue
    from concurrent.futures import ThreadPoolExecutor

    from omni.media import MediaError, iter_resampled, read_audio

    frames: list[np.ndarray] = []
    times: list[float] = []
    arrived: queue.SimpleQueue = queue.SimpleQueue()
    posed: queue.SimpleQueue | None = queue.SimpleQueue() if pose else None
    pose_step = max(1, round(config.fps / config.pose_fps))  # = Clip.sparse_pose_index

    def produce() -> None:
        end = _DONE
        try:
            for t, image in iter_resampled(path, start_s, end_s, config.fps, size):
                if posed is not None and len(frames) % pose_step == 0:
                    posed.put((t, image))
                frames.append(image)
                times.append(t)
                arrived.put(image)
        except BaseException as err:  # handed to the consumer, which raises it
            end = err
        arrived.put(end)
        if posed is not None:
            posed.put(end)

    def sparse_pose():
        """The first pose pass on its frames as they arrive (None when decoding failed)."""
        from omni.pose import Keypoints

        estimator = pose_estimator(False)  # unsmoothed, as `Clip.sparse_pose`
        estimator.reset()  # as `_keypoints`: a new clip
        xy, conf = [], []
        while (item := posed.get()) is not _DONE:
            if isinstance(item, BaseException):
                return None
            t, image = item
            kp = estimator(image[None], [t])  # one frame; the tracking state carries on
            xy.append(kp.xy)
            conf.append(kp.conf)
        return Keypoints(np.concatenate(xy), np.concatenate(conf)) if xy else None

    ended = []  # set once the consumer has seen the end (or the producer's error)

    def consume():
        while not ended:
            item = arrived.get()
            if item is _DONE or isinstance(item, BaseException):
                ended.append(item)
                if item is not _DONE:
                    raise item
                return
            yield item

    # the video covers [start_s, end_s) at config.fps, so its audio range is known ahead
    n = None if end_s is None else max(0, math.ceil((end_s - start_s) * config.fps - 1e-5))
    with ThreadPoolExecutor(3) as pool:
        video = pool.submit(produce)
        posing = pool.submit(sparse_pose) if pose else None
        sound = None
        if info.has_audio and n is not None:
            sound = pool.submit(read_audio, path, SCORING_SR, start_s, start_s + n / config.fps)
        track = None
        try:
            if faces:
                every = _mesh_every(config, mouth_needed)
                track = face_tracker(config.face_detect_every)(consume(), mesh_every=every)
        except (MediaError, OSError):
            raise
        except Exception:  # the face scorer tracks again and reports the error as its own
            track = None
        finally:
            for _ in consume():  # the rest of the frames (when the tracker stopped early)
                pass
            video.result()
        audio = sound.result() if sound is not None else None
        try:
            keypoints = posing.result() if posing is not None else None
        except Exception:  # the pose scorer runs the pass again and reports the error as its own
            keypoints = None
    if not frames:
        raise MediaError(f"{path}: no video frames in the requested range")
    if info.has_audio and len(frames) != n:  # open end or a short file: the frames' audio
        audio = read_audio(path, SCORING_SR, start_s, start_s + len(frames) / config.fps)
    clip = Clip(clip_id, np.stack(frames), np.asarray(times, np.float64), audio, config.fps, config)
    clip.mouth_needed = mouth_needed
    if track is not None:
        clip.__dict__["faces"] = track  # the cached_property's value
    if keypoints is not None:
        clip.__dict__["sparse_pose"] = keypoints
    return clip
