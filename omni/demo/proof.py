"""The demo's three measured claims, computed over held-out samples.

A `Sample` is one held-out clip seen through some video source: the true synthetic clip itself
(calibration: what the measures give on perfect "generations"), or omni's generations. Each claim
pairs a matching and a mismatching condition per sample (see `omni.demo.effects`):
- audio steers the mouth: lip sync with the driving audio, vs. the same reference driven by another
  clip's audio (for the true clips: the same video scored against another clip's audio);
- pose steers the body: keypoint error to the driving pose vs. to another clip's pose;
- the reference steers identity: colour similarity to the own reference vs. another identity's;
- audio steers the mouth and pose steers the body, also as the pixel error to the true frames:
  the video driven by the own audio (pose) and the one driven by the other clip's audio (pose),
  each against the truth of its own condition vs. against the truth of the other one (the person
  re-rendered with the other clip's audio or pose), over the pixels where the two renderings
  differ. Both videos and both truths enter both sides, so a generator that ignores the
  condition scores no difference whatever the renderings look like.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omni.demo import effects
from omni.demo.effects import Effect


@dataclass
class Sample:
    """One held-out clip: the videos to judge and the conditions they should (not) follow."""

    clip_id: str
    kind: str  # "face" | "body" (synth kinds)
    video: np.ndarray  # (T, H, W, 3) uint8 driven by the own conditions
    fps: float
    wave: np.ndarray  # (N,) own driving audio, mono, on the video's timeline
    sr: int
    reference: np.ndarray  # (H, W, 3) own identity's reference
    other_reference: np.ndarray  # another identity's reference
    keypoints: np.ndarray | None = None  # (T, 33, 2) the driving pose (bodies)
    other_keypoints: np.ndarray | None = None  # another clip's pose, same length
    video_other_audio: np.ndarray | None = None  # same reference driven by another clip's audio
    other_wave: np.ndarray | None = None  # that other audio (used when video_other_audio is None)
    video_other_pose: np.ndarray | None = None  # same reference and audio, another clip's pose
    truth: np.ndarray | None = None  # (T, H, W, 3) the true frames (own audio and pose)
    counterfactual: np.ndarray | None = None  # same person, other audio (faces) / pose (bodies)
    swapped: np.ndarray | None = None  # the video driven by the other condition for the pixel
    # measure (None: video_other_audio for faces, video_other_pose for bodies)


def measure(
    samples: Sequence[Sample], progress: Callable[[str], None] | None = None
) -> list[Effect]:
    """The three effects over `samples` (claims with no eligible sample are left out)."""
    audio_own, audio_other, pose_own, pose_other, id_own, id_other = ([] for _ in range(6))
    pixels: dict[str, tuple[list[float], list[float]]] = {"face": ([], []), "body": ([], [])}
    for sample in samples:
        if progress is not None:
            progress(sample.clip_id)
        frames = sample.video
        id_own.append(effects.colour_similarity(frames, _fit(sample.reference, frames)))
        id_other.append(effects.colour_similarity(frames, _fit(sample.other_reference, frames)))
        if sample.kind == "face":
            audio_own.append(effects.lip_sync_r0(frames, sample.wave, sample.sr, sample.fps))
            if sample.video_other_audio is not None:
                other = effects.lip_sync_r0(
                    sample.video_other_audio, sample.wave, sample.sr, sample.fps
                )
            else:
                other = effects.lip_sync_r0(frames, sample.other_wave, sample.sr, sample.fps)
            audio_other.append(other)
        swapped = sample.swapped
        if swapped is None:
            swapped = sample.video_other_audio if sample.kind == "face" else sample.video_other_pose
        if sample.truth is not None and sample.counterfactual is not None and swapped is not None:
            own, other = effects.truth_match(frames, swapped, sample.truth, sample.counterfactual)
            pixels[sample.kind][0].append(own)
            pixels[sample.kind][1].append(other)
        if sample.kind == "body" and sample.keypoints is not None:
            estimated = effects.body_keypoints(frames, sample.fps)
            pose_own.append(effects.keypoint_error(estimated, sample.keypoints[: len(frames)]))
            pose_other.append(
                effects.keypoint_error(estimated, sample.other_keypoints[: len(frames)])
            )
    claims = [  # (claim, measure, own, other, own label, other label, higher is better)
        ("audio steers the mouth", "landmark lip sync r(0)", audio_own, audio_other,
         "driving audio", "other audio", True),
        ("audio steers the mouth", _PIXEL.format("audio"), *pixels["face"],
         "each video vs the truth of its audio", "vs the truth of the other audio", False),
        ("pose steers the body", "arm keypoint error (fraction of frame)", pose_own, pose_other,
         "driving pose", "other pose", False),
        ("pose steers the body", _PIXEL.format("pose"), *pixels["body"],
         "each video vs the truth of its pose", "vs the truth of the other pose", False),
        ("reference steers identity", "colour-histogram similarity", id_own, id_other,
         "own reference", "other identity's reference", True),
    ]  # fmt: skip
    return [
        effects.paired_effect(
            name,
            measure,
            np.array(own),
            np.array(other),
            own_label=own_label,
            other_label=other_label,
            higher_is_better=higher,
        )
        for name, measure, own, other, own_label, other_label, higher in claims
        if own
    ]


_PIXEL = "pixel error to the true frames (where own and other {} differ)"


def _fit(image: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The reference resized to the frames' size (area averaging), for a like-for-like histogram."""
    import cv2

    h, w = frames.shape[1:3]
    if image.shape[:2] == (h, w):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def true_samples(
    manifest_path: str | Path, limit: int | None = None, seconds: float | None = None
) -> list[Sample]:
    """Held-out samples whose 'generation' is the true synthetic clip (measurement calibration).

    Each sample's mismatching audio, pose and reference come from the next clip of its kind.
    `seconds` keeps only each clip's first seconds (the length the generations have).
    """
    import cv2

    from omni.demo.synth import load_truth
    from omni.manifest import read_manifest
    from omni.media import read_audio, read_video

    manifest = read_manifest(manifest_path)
    df = manifest.ok()
    df = df[df.synth_kind.isin(["face", "body"])].reset_index(drop=True)
    if limit is not None:
        df = df.groupby("synth_kind", group_keys=False).head(limit).reset_index(drop=True)
    samples = []
    for kind, group in df.groupby("synth_kind", sort=False):
        group = group.reset_index(drop=True)
        if len(group) < 2:
            continue  # nothing to compare with
        waves = [
            read_audio(manifest.resolve(s), sr=int(r))
            for s, r in zip(group.source, group.audio_sr, strict=True)
        ]
        refs = [cv2.imread(manifest.resolve(p))[..., ::-1] for p in group.synth_reference]
        truths = [load_truth(manifest.resolve(p)) for p in group.synth_truth]
        for i, row in group.iterrows():
            j = (i + 1) % len(group)
            fps, sr = float(row.fps), int(row.audio_sr)
            frames = None if seconds is None else max(1, round(seconds * fps))
            cut = slice(None) if frames is None else slice(0, frames)
            wave_cut = slice(None) if frames is None else slice(0, round(frames / fps * sr))
            samples.append(
                Sample(
                    clip_id=row.clip_id,
                    kind=kind,
                    video=read_video(manifest.resolve(row.source)).frames[cut],
                    fps=fps,
                    wave=waves[i][wave_cut],
                    sr=sr,
                    reference=refs[i],
                    other_reference=refs[j],
                    keypoints=truths[i].keypoints[cut] if kind == "body" else None,
                    other_keypoints=truths[j].keypoints[cut] if kind == "body" else None,
                    other_wave=waves[j][wave_cut],
                    **truth_pair(manifest, row, group.clip_id[j], frames or int(row.num_frames)),
                )
            )
            # a perfect generator driven by the other condition makes the counterfactual
            samples[-1].swapped = samples[-1].counterfactual
    return samples


def truth_pair(manifest, row, partner: str, num_frames: int) -> dict[str, np.ndarray]:
    """{truth, counterfactual} of a held-out row of a synthetic dataset (rendered again from its
    spec.json): the clip as its own conditions render it, and the same person with the partner
    clip's audio (faces) or pose (bodies); {} when the row's folder holds no demo dataset."""
    from omni.demo.synth import render_counterfactual

    data_dir = Path(manifest.resolve(row.source)).parent.parent
    if not (data_dir / "spec.json").exists():
        return {}
    swap = {"audio_from": partner} if row.synth_kind == "face" else {"pose_from": partner}
    return {
        "truth": render_counterfactual(data_dir, row.clip_id, num_frames=num_frames),
        "counterfactual": render_counterfactual(
            data_dir, row.clip_id, num_frames=num_frames, **swap
        ),
    }
