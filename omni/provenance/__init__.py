"""Provenance for generated videos: invisible watermark, metadata record, C2PA, verification.

Generation calls `write_marked_video(path, frames, fps, audio, sr, record, ...)`; `omni verify`
calls `verify(path)`. See docs/provenance.md.
"""

from omni.provenance.record import ProvenanceRecord, file_sha256
from omni.provenance.signing import C2paStatus
from omni.provenance.video import VerifyReport, verify, write_marked_video
from omni.provenance.watermark import Payload, WatermarkResult, detect_watermark, watermark_frames

__all__ = [
    "C2paStatus",
    "Payload",
    "ProvenanceRecord",
    "VerifyReport",
    "WatermarkResult",
    "detect_watermark",
    "file_sha256",
    "verify",
    "watermark_frames",
    "write_marked_video",
]
