"""The Generate tab's work: one request through `OmniPipeline`, saved and then verified.

Generation is the generation engineer's `OmniPipeline.__call__` + `save_video` (the app adds
no second path); afterwards the written file is checked with `omni.provenance.verify`, so the
watermark and provenance status the app shows is what `omni verify` would say about the file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from omni.generate.pipeline import GenerationResult, Guidance, OmniPipeline, save_video
from omni.provenance import VerifyReport, verify

Fraction = Callable[[float, str], None]
"""on_progress(fraction done in [0, 1], description)."""


@dataclass(frozen=True)
class Request:
    """What the Generate tab sends: inputs (file paths) and the sampler settings."""

    ref: str | None
    """Reference picture (image, or a video's first frame)."""
    audio: str | None = None
    """Driving audio file (upload or microphone recording)."""
    pose: str | None = None
    """Driving pose: a video or a keypoints .npz."""
    text: str = ""
    steps: int = 30
    seed: int = 0
    seconds: float | None = None
    """Output length; None = the audio's (else the pose's, else one segment)."""
    cfg_text: float = 2.0
    cfg_text_end: float = 1.0
    cfg_audio: float = 3.0
    cfg_audio_end: float = 1.0
    schedule: Literal["constant", "linear", "cosine"] = "cosine"
    solver: Literal["euler", "heun"] = "euler"


@dataclass
class Generated:
    """A finished generation as the app shows it."""

    video: Path
    result: GenerationResult
    provenance: VerifyReport
    details: dict = field(default_factory=dict)


def generate(
    pipe: OmniPipeline,
    request: Request,
    out_dir: str | os.PathLike,
    on_progress: Fraction | None = None,
) -> Generated:
    """Generate, write OUT_DIR/omni-<time>-seed<seed>.mp4 (+ drift JSON) and verify it."""
    if not request.ref:
        raise ValueError("expected a reference picture (upload one or pick an example), got none")
    if request.steps < 1:
        raise ValueError(f"expected at least 1 sampler step, got {request.steps}")

    def progress(segment: int, segments: int, forward: int, forwards: int) -> None:
        if on_progress is not None:
            done = (segment * forwards + forward) / (segments * forwards)
            on_progress(done, f"segment {segment + 1}/{segments}, step {forward}/{forwards}")

    result = pipe(
        ref=request.ref,
        audio=request.audio or None,
        pose=request.pose or None,
        text=request.text,
        seconds=request.seconds,
        cfg=Guidance(
            text=request.cfg_text,
            text_end=request.cfg_text_end,
            audio=request.cfg_audio,
            audio_end=request.cfg_audio_end,
            schedule=request.schedule,
        ),
        steps=request.steps,
        seed=request.seed,
        solver=request.solver,
        on_progress=progress,
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(out_dir) / f"omni-{stamp}-{time.time_ns() % 10**6:06d}-seed{request.seed}.mp4"
    if on_progress is not None:
        on_progress(1.0, "writing the video")
    save_video(result, path)
    if on_progress is not None:
        on_progress(1.0, "checking its watermark and provenance")
    report = verify(path)
    details = {
        "conditions": list(result.conditions),
        "frames": len(result.frames),
        "seconds": round(result.seconds, 3),
        "seed": result.seed,
        "settings": result.settings,
        "stats": result.stats,
        "warnings": result.warnings,
        "model": pipe.source,
    }
    return Generated(path, result, report, details)


def provenance_markdown(report: VerifyReport) -> str:
    """What `omni verify` found in the file, as a few markdown lines."""
    lines = []
    mark = report.watermark
    if mark is None:
        lines.append("- **watermark**: could not be checked")
    elif mark.found:
        payload = f", checkpoint {mark.payload.checkpoint}" if mark.payload else ""
        lines.append(
            f"- **watermark**: found (p = {mark.p_value:.2g}, {mark.matched_bits}/40 known bits"
            f"{payload})"
        )
    else:
        lines.append(
            f"- **watermark**: not found (p = {mark.p_value:.2g}, {mark.matched_bits}/40 known bits)"
        )
    record = report.record
    if record is None:
        lines.append("- **provenance record**: none in the file's metadata")
    else:
        sha = (record.checkpoint_sha256 or "none")[:12]
        state = "on" if record.watermark else "OFF (research)"
        lines.append(
            f"- **provenance record**: {record.generator} {record.version}, checkpoint {sha}, "
            f"seed {record.seed}, watermark {state}, {record.created}"
        )
    c2pa = report.c2pa
    if not c2pa.present:
        lines.append("- **C2PA**: not signed")
    else:
        lines.append(
            f"- **C2PA**: {c2pa.state or 'unreadable'} ({c2pa.signer or 'unknown signer'})"
        )
    if report.consistent is False:
        lines.append("- the watermark's checkpoint does not match the record's")
    if report.error:
        lines.append(f"- note: {report.error}")
    return "\n".join(lines)
