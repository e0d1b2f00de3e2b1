"""Write a generated video with its provenance, and verify a video's provenance.

`write_marked_video` is what every omni command that writes a video calls; `verify` is what
`omni verify` prints.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from omni.media import MediaError, iter_frames, probe, write_video
from omni.provenance.record import ProvenanceRecord
from omni.provenance.signing import C2paStatus, read_c2pa, sign_mp4
from omni.provenance.watermark import WatermarkResult, detect_watermark, watermark_frames

VERIFY_FRAMES = 40  # frames sampled evenly over a video; the detector needs 8 + 32


def write_marked_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sr: int = 16000,
    record: ProvenanceRecord | None = None,
    sign_key: str | os.PathLike | None = None,
    sign_cert: str | os.PathLike | None = None,
    watermark: bool = True,
) -> Path:
    """Write frames (T, H, W, 3) uint8 (+ audio) as mp4 with omni's provenance, atomically.

    The frames get the invisible watermark unless `watermark=False` (research only; the record
    says so). The record goes into the container metadata and, with a key and certificate chain
    (PEM files), into a signed C2PA manifest.
    """
    if (sign_key is None) != (sign_cert is None):
        raise ValueError(
            "C2PA signing needs both sign_key and sign_cert (PEM files), got only "
            f"{'sign_key' if sign_key is not None else 'sign_cert'}; pass both or neither"
        )
    record = dataclasses.replace(record or ProvenanceRecord(), watermark=watermark)
    if watermark:
        frames = watermark_frames(frames, record.payload())
    path = Path(path)
    if sign_key is None:
        return write_video(path, frames, fps, audio, sr, metadata=record.to_metadata())
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as tmp:
        metadata = record.to_metadata()
        unsigned = write_video(
            Path(tmp) / "unsigned.mp4", frames, fps, audio, sr, metadata=metadata
        )
        signed = Path(tmp) / "signed.mp4"
        sign_mp4(unsigned, signed, record, sign_key, sign_cert)
        os.replace(signed, path)
    return path


@dataclass(frozen=True)
class VerifyReport:
    """What `verify` found in one file."""

    path: str
    watermark: WatermarkResult | None
    """None when the file could not be read as video."""
    record: ProvenanceRecord | None
    """The provenance record from the container metadata, None when absent."""
    c2pa: C2paStatus
    error: str | None = None
    """Why the file could not be fully read (unreadable video, damaged record)."""

    @property
    def marked(self) -> bool:
        return self.watermark is not None and self.watermark.found

    @property
    def consistent(self) -> bool | None:
        """Does the watermark's checkpoint hash agree with the record's? None if not both known."""
        if not self.marked or self.record is None or self.watermark.payload is None:
            return None
        return self.watermark.payload == self.record.payload()

    def to_dict(self) -> dict:
        mark = None
        if self.watermark is not None:
            mark = dataclasses.asdict(self.watermark)
            mark["confidence"] = self.watermark.confidence
        return {
            "path": self.path,
            "marked": self.marked,
            "watermark": mark,
            "record": self.record.to_dict() if self.record else None,
            "consistent": self.consistent,
            "c2pa": self.c2pa.to_dict(),
            "error": self.error,
        }


def sample_frames(path: str | os.PathLike, count: int = VERIFY_FRAMES) -> np.ndarray:
    """About `count` frames spread evenly over the video, (N, H, W, 3) uint8."""
    info = probe(path)
    if not info.has_video:
        raise MediaError(f"{path}: no video stream")
    stride = max(1, (info.num_frames or count) // count)
    frames = [f for i, (_, f) in enumerate(iter_frames(path)) if i % stride == 0]
    if not frames:
        raise MediaError(f"{path}: no decodable video frames")
    return np.stack(frames[:count])


def _container_metadata(path: str | os.PathLike) -> dict[str, str]:
    with av.open(str(path), metadata_errors="ignore") as container:
        return dict(container.metadata)


def verify(path: str | os.PathLike, trust_anchors: str | os.PathLike | None = None) -> VerifyReport:
    """Watermark, metadata record and C2PA manifest of one file.

    A bad file gives a report with `error` set; only a bad `trust_anchors` file raises ValueError.
    """
    path = str(path)
    if not Path(path).is_file():
        return VerifyReport(path, None, None, C2paStatus(present=False), f"{path}: no such file")
    errors = []
    try:
        mark = detect_watermark(sample_frames(path))
    except (MediaError, ValueError) as err:
        mark = None
        errors.append(str(err))
    record = None
    try:
        record = ProvenanceRecord.from_metadata(_container_metadata(path))
    except (av.error.FFmpegError, OSError):
        pass  # not a media file: already reported by the watermark step
    except (ValueError, TypeError) as err:
        errors.append(f"provenance record unreadable: {err}")
    c2pa_status = read_c2pa(path, trust_anchors)
    return VerifyReport(path, mark, record, c2pa_status, "; ".join(errors) or None)
