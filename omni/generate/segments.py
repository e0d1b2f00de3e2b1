"""Long videos as a chain of segments of the model's frame count.

Every segment generates `segment_frames` (1 + 4k) new frames; segment i starts at output frame
i * segment_frames. Segments after the first are conditioned on the last `MOTION_FRAMES` output
frames before them (the motion frames, 5 pixel frames = 2 latent frames of a causal VAE), packed
clean into the token sequence. The last segment is generated whole and cut to the requested
length, so the output has exactly the frames asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

MOTION_FRAMES = 5
"""Pixel frames of the previous segment a segment is conditioned on (paper: 5)."""


@dataclass(frozen=True)
class Segment:
    """One step of the chain, in output frames."""

    index: int
    start: int
    """First output frame this segment generates."""
    frames: int
    """Frames the model generates (its segment length, 1 + 4k)."""
    keep: int
    """Frames kept in the output (fewer than `frames` only for the last segment)."""

    @property
    def stop(self) -> int:
        return self.start + self.keep


def plan_segments(total_frames: int, segment_frames: int) -> list[Segment]:
    """Segments covering `total_frames` output frames with `segment_frames` per segment."""
    if total_frames < 1:
        raise ValueError(f"need at least 1 output frame, got {total_frames}")
    if segment_frames < 1:
        raise ValueError(f"segment length must be >= 1 frame, got {segment_frames}")
    count = -(-total_frames // segment_frames)  # ceil
    return [
        Segment(
            i,
            i * segment_frames,
            segment_frames,
            min(segment_frames, total_frames - i * segment_frames),
        )
        for i in range(count)
    ]


def motion_window(
    frames_so_far: int, temporal_factor: int, motion_frames: int = MOTION_FRAMES
) -> int:
    """How many of the last output frames to use as motion frames: at most `motion_frames`,
    a valid causal-VAE length 1 + r*k, and no more than exist."""
    n = min(motion_frames, frames_so_far)
    if n < 1:
        raise ValueError("motion frames need at least one earlier output frame")
    return 1 + ((n - 1) // temporal_factor) * temporal_factor
