"""Reading and writing video and audio with exact timing (PyAV).

Every time in omni is on the *video timeline*: t = 0 is the first video frame's presentation
time. Audio is placed on that timeline by stream timestamps, never by counting samples from
zero, because real files start their video later than their audio (a fixture's video starts
33 ms in). Files omni writes come out in sync: the AAC encoder's 1024 priming samples are hidden
by the edit list PyAV 18 writes when frames carry timestamps (checked by a click-vs-flash test),
and libx264's reordering delay likewise.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

_VFR_TOLERANCE = 0.05  # relative spread of frame intervals above which a stream is variable-rate
_VFR_PACKETS = 240  # packets demuxed (not decoded) to judge the frame-rate regularity
DECODE_THREADS = 0
"""Video decoder threads: 0 lets FFmpeg use every core; worker pools set 1 (their processes
already fill the cores)."""


class MediaError(ValueError):
    """A media file cannot be used: missing, unreadable, or without the stream asked for."""


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` learns from a file's container and stream headers (plus a few packets)."""

    path: str
    duration_s: float
    size_bytes: int
    container: str
    has_video: bool
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    vfr: bool | None = None
    num_frames: int | None = None
    rotation: int = 0
    video_codec: str | None = None
    video_start_s: float = 0.0
    video_duration_s: float | None = None
    """The video stream's own length (its header's), when it gives one: a file's `duration_s` is
    its longest stream's, often the audio's."""
    has_audio: bool = False
    audio_codec: str | None = None
    audio_sr: int | None = None
    audio_channels: int | None = None
    audio_start_s: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def _open(path: str | os.PathLike) -> Iterator[av.container.InputContainer]:
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as err:
        raise MediaError(f"{path}: not a readable media file ({err})") from err
    try:
        yield container
    finally:
        container.close()


def _stream_start(stream: av.stream.Stream) -> float:
    if stream.start_time is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read container metadata; raises `MediaError` for a file that is not usable media."""
    path = Path(path)
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError(f"{path}: no video or audio stream")
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        info: dict = {
            "path": str(path),
            "duration_s": duration,
            "size_bytes": path.stat().st_size,
            "container": container.format.name,
            "has_video": video is not None,
        }
        if audio is not None:
            info.update(
                has_audio=True,
                audio_codec=audio.codec_context.name,
                audio_sr=int(audio.rate or audio.codec_context.sample_rate or 0) or None,
                audio_channels=audio.codec_context.channels,
                audio_start_s=_stream_start(audio),
            )
        if video is not None:
            info.update(_probe_video(container, video))
    return MediaInfo(**info)


def _probe_video(container: av.container.InputContainer, video: av.stream.Stream) -> dict:
    times = []
    for packet in container.demux(video):
        if packet.pts is not None:
            times.append(float(packet.pts * video.time_base))
        if len(times) >= _VFR_PACKETS:
            break
    times = np.unique(np.asarray(times))
    intervals = np.diff(times)
    if len(intervals):
        median = float(np.median(intervals))
        vfr = bool(np.percentile(np.abs(intervals - median), 90) > _VFR_TOLERANCE * median)
    else:
        vfr = False
    rate = video.average_rate or video.guessed_rate
    fps = float(rate) if rate else (1.0 / median if len(intervals) else None)
    rotation = 0
    container.seek(0)
    for frame in container.decode(video):
        rotation = round(frame.rotation or 0) % 360
        break
    num_frames = video.frames or None
    if num_frames is None and fps and container.duration:
        num_frames = round(container.duration / av.time_base * fps)
    return {
        "width": video.codec_context.width,
        "height": video.codec_context.height,
        "fps": fps,
        "vfr": vfr,
        "num_frames": num_frames,
        "rotation": rotation,
        "video_codec": video.codec_context.name,
        "video_start_s": _stream_start(video),
        "video_duration_s": float(video.duration * video.time_base) if video.duration else None,
    }


@dataclass
class VideoClip:
    """Decoded RGB frames and their presentation times on the video timeline."""

    frames: np.ndarray  # (T, H, W, 3) uint8
    times: np.ndarray  # (T,) float64 seconds


def _upright(image: np.ndarray, rotation: float | None) -> np.ndarray:
    # The display matrix rotation is counter-clockwise in degrees; np.rot90 turns counter-clockwise.
    quarter_turns = round((rotation or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def iter_frames(
    path: str | os.PathLike,
    start_s: float = 0.0,
    end_s: float | None = None,
    size: tuple[int, int] | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (time, RGB frame) for every frame in [start_s, end_s), seeking to start_s.

    `size` = (width, height) resizes in the decoder (after rotation is applied, the size is that of
    the upright picture).
    """
    for t, frame in _decoded(path, start_s, end_s):
        yield t, _rgb(path, frame, size)


def _decoded(
    path: str | os.PathLike, start_s: float, end_s: float | None
) -> Iterator[tuple[float, av.VideoFrame]]:
    """(time, decoded frame) for every frame in [start_s, end_s): not yet converted to RGB, which
    costs about as much as decoding (`_rgb`), so callers convert only the frames they keep."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream")
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        video.thread_count = DECODE_THREADS
        origin = _stream_start(video)
        if start_s > 0:
            container.seek(int((origin + start_s) / video.time_base), stream=video, backward=True)
        half_frame = 0.5 / float(video.average_rate or 25)
        try:
            for frame in container.decode(video):
                if frame.pts is None:
                    continue
                t = float(frame.pts * video.time_base) - origin
                if t < start_s - half_frame:
                    continue
                if end_s is not None and t >= end_s - 1e-6:
                    break
                yield t, frame
        except av.error.FFmpegError as err:
            raise MediaError(f"{path}: decoding failed ({err})") from err


def _rgb(path, frame: av.VideoFrame, size: tuple[int, int] | None) -> np.ndarray:
    """The decoded frame upright as RGB (H, W, 3) uint8, resized to `size` = (width, height)."""
    rotation = frame.rotation or 0
    try:
        if size is not None:
            w, h = size
            if round(rotation / 90) % 2:
                w, h = h, w
            image = frame.to_ndarray(format="rgb24", width=w, height=h)
        else:
            image = frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as err:
        raise MediaError(f"{path}: decoding failed ({err})") from err
    return _upright(image, rotation)


def iter_resampled(
    path: str | os.PathLike,
    start_s: float,
    end_s: float | None,
    fps: float,
    size: tuple[int, int] | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """(time, RGB frame) at `fps` from start_s: frame k is the source frame shown at
    start_s + k / fps (the one whose presentation interval contains it), which is right for
    variable-frame-rate files too. A source frame shown at several times is yielded as the same
    array; source frames shown at none (a higher source rate, the second before start_s that
    the seek decodes) are never converted to RGB."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    previous: list | None = None  # [time, decoded frame, its RGB once converted]

    def image() -> np.ndarray:
        if previous[2] is None:
            previous[2] = _rgb(path, previous[1], size)
        return previous[2]

    k, target = 0, start_s
    shown = None  # how long the previous source frame is shown: the gap to the next one
    ran_out = True  # the video ended before end_s (or end_s is None)
    for t, frame in _decoded(path, max(0.0, start_s - 1.0), None):
        if end_s is not None and t >= end_s - 1e-6:
            ran_out = False  # this frame starts at or after end_s: the previous one lasts to it
            break
        # every target time before this frame is covered by the previous one
        while previous is not None and target < t - 1e-6:
            yield target, image()
            k += 1
            target = start_s + k / fps
        if previous is not None:
            shown = t - previous[0]
        previous = [t, frame, None]
    if previous is None:
        return
    if end_s is None:  # the last frame is shown for one output frame (its own time, not 1e-6 less)
        limit = previous[0] + 0.5 / fps
    elif ran_out:  # the video ends before end_s: its last frame is shown for one frame's time
        limit = min(end_s, previous[0] + (shown or 1.0 / fps))
    else:
        limit = end_s
    while target < limit - 1e-6:
        if end_s is None and target > previous[0] + 1.0 / fps:
            break
        yield target, image()
        k += 1
        target = start_s + k / fps


def read_video(
    path: str | os.PathLike,
    start_s: float = 0.0,
    end_s: float | None = None,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
) -> VideoClip:
    """Decode [start_s, end_s) of a video, optionally resampled to `fps` by timestamps
    (`iter_resampled`: right for variable-frame-rate files too)."""
    frames, times = [], []
    if fps is None:
        source = iter_frames(path, start_s, end_s, size)
    else:
        source = iter_resampled(path, start_s, end_s, fps, size)
    for t, image in source:
        frames.append(image)
        times.append(t)
        if max_frames is not None and len(frames) >= max_frames:
            break
    return _clip(path, frames, times)


def _clip(path, frames: list[np.ndarray], times: list[float]) -> VideoClip:
    if not frames:
        raise MediaError(f"{path}: no video frames in the requested range")
    return VideoClip(np.stack(frames), np.asarray(times, dtype=np.float64))


def read_audio(
    path: str | os.PathLike,
    sr: int = 16000,
    start_s: float = 0.0,
    end_s: float | None = None,
    mono: bool = True,
) -> np.ndarray:
    """Audio of [start_s, end_s) on the video timeline, resampled to `sr`, float32 in [-1, 1].

    Returns (N,) if mono else (C, N). For a file with video, t = 0 is its first video frame;
    parts of the range the audio does not cover are zeros. Works for any format FFmpeg reads
    (wav, mp3, m4a, flac, a video's track).
    """
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path}: no audio stream")
        audio = container.streams.audio[0]
        origin = (
            _stream_start(container.streams.video[0])
            if container.streams.video
            else _stream_start(audio)
        )
        seek_to = origin + start_s - 0.5
        if seek_to > 0:
            container.seek(int(seek_to / audio.time_base), stream=audio, backward=True)
        channels = 1 if mono else audio.codec_context.channels
        layout = "mono" if mono else ("stereo" if channels == 2 else None)
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=sr)
        chunks, first_t = [], None
        try:
            for frame in container.decode(audio):
                if first_t is None and frame.pts is not None:
                    first_t = float(frame.pts * audio.time_base) - origin
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                if end_s is not None and first_t is not None:
                    decoded = sum(c.shape[1] for c in chunks) / sr
                    if first_t + decoded > end_s + 0.1:
                        break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.error.FFmpegError as err:
            raise MediaError(f"{path}: audio decoding failed ({err})") from err
    data = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    first_t = first_t or 0.0
    if end_s is None:
        end_s = first_t + data.shape[1] / sr
    n = max(0, round((end_s - start_s) * sr))
    out = np.zeros((data.shape[0], n), dtype=np.float32)
    offset = round((first_t - start_s) * sr)  # where decoded sample 0 lands in the output
    src0, dst0 = max(0, -offset), max(0, offset)
    length = min(data.shape[1] - src0, n - dst0)
    if length > 0:
        out[:, dst0 : dst0 + length] = data[:, src0 : src0 + length]
    return out[0] if mono else out


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sr: int = 16000,
    metadata: dict[str, str] | None = None,
    crf: int = 18,
) -> Path:
    """Write RGB frames (T, H, W, 3) uint8 as h264 mp4, with audio (N,) or (C, N) as AAC in sync.

    The audio is trimmed or zero-padded to the video's length. The file appears atomically: it is
    written beside the target under a temporary name and renamed when complete.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    _, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"h264 needs even width and height, got {w}x{h}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4.part", dir=path.parent)
    os.close(fd)
    try:
        _encode(tmp, frames, fps, audio, sr, metadata or {}, crf)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _encode(tmp: str, frames, fps, audio, sr, metadata, crf) -> None:
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(tmp, mode="w", format="mp4") as out:
        for key, value in metadata.items():
            out.metadata[key] = str(value)
        vstream = out.add_stream("libx264", rate=rate)
        vstream.width, vstream.height = frames.shape[2], frames.shape[1]
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"crf": str(crf), "preset": "medium"}
        astream = None
        if audio is not None:
            audio = np.asarray(audio, dtype=np.float32)
            audio = audio[None] if audio.ndim == 1 else audio
            if audio.ndim != 2 or audio.shape[0] not in (1, 2):
                raise ValueError(f"audio must be (N,) or (C, N) with C in 1..2, got {audio.shape}")
            astream = out.add_stream("aac", rate=sr)
            astream.layout = "mono" if audio.shape[0] == 1 else "stereo"
        for image in frames:
            for packet in vstream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in vstream.encode():
            out.mux(packet)
        if astream is not None:
            _encode_audio(out, astream, audio, sr, len(frames) / float(rate))


def _encode_audio(out, astream, audio: np.ndarray, sr: int, seconds: float) -> None:
    n = round(seconds * sr)
    audio = audio[:, :n]
    audio = np.pad(audio, ((0, 0), (0, n - audio.shape[1])))
    audio = np.ascontiguousarray(np.clip(audio, -1.0, 1.0))
    layout = "mono" if audio.shape[0] == 1 else "stereo"
    step = 1024
    for i in range(0, audio.shape[1], step):
        frame = av.AudioFrame.from_ndarray(audio[:, i : i + step], format="fltp", layout=layout)
        frame.sample_rate = sr
        frame.pts = i  # timestamps let the muxer write the edit list that hides AAC priming
        for packet in astream.encode(frame):
            out.mux(packet)
    for packet in astream.encode():
        out.mux(packet)
