"""The demo's generations: held-out identities driven by held-out audio and pose, via OmniPipeline.

Per held-out clip (pairs are formed within a kind: clip i with clip i+1):
- `own/<clip>.mp4`: the clip's reference picture driven by its own audio (and, for bodies, its own
  pose), with its caption;
- `other_audio/<clip>.mp4` (faces): the same reference, caption and seed driven by the paired
  clip's audio — the counterfactual for "audio steers the mouth".
Files are written atomically by `save_video`, so an interrupted run resumes past finished ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from omni.demo.proof import Sample, truth_pair
from omni.manifest import Manifest, read_manifest


@dataclass(frozen=True)
class Job:
    """One generation to make."""

    clip_id: str
    kind: str
    out: Path
    ref: str
    audio: str
    pose: str | None
    text: str


def pairs(manifest: Manifest) -> pd.DataFrame:
    """Held-out face and body rows with the row they are compared against (`partner`)."""
    df = manifest.ok()
    df = df[df.synth_kind.isin(["face", "body"])]
    parts = []
    for _, group in df.groupby("synth_kind", sort=True):
        if len(group) < 2:
            continue
        group = group.reset_index(drop=True)
        group["partner"] = [group.clip_id[(i + 1) % len(group)] for i in range(len(group))]
        parts.append(group)
    return pd.concat(parts, ignore_index=True) if parts else df.assign(partner=[])


def plan_jobs(manifest: Manifest, data_dir: Path, out_dir: Path) -> list[Job]:
    """The generations for every paired held-out row: own conditions, and the same reference
    driven by the partner's audio (faces, `other_audio/`) or pose (bodies, `other_pose/`)."""
    rows = pairs(manifest).set_index("clip_id", drop=False)
    jobs = []
    for row in rows.itertuples():
        partner = rows.loc[row.partner]
        ref = manifest.resolve(row.synth_reference)
        pose = None
        if row.synth_kind == "body":  # driven by its exact keypoints (omni.pose side file)
            pose = str(data_dir / "keypoints" / f"{row.clip_id}.npz")
        own_audio = manifest.resolve(row.synth_audio)
        jobs.append(
            Job(
                row.clip_id,
                row.synth_kind,
                out_dir / "own" / f"{row.clip_id}.mp4",
                ref,
                own_audio,
                pose,
                row.caption,
            )
        )
        if row.synth_kind == "face":
            other_audio = manifest.resolve(partner.synth_audio)
            out = out_dir / "other_audio" / f"{row.clip_id}.mp4"
            jobs.append(Job(row.clip_id, "face", out, ref, other_audio, None, row.caption))
        else:  # the same reference and audio driven by the partner's pose
            other_pose = str(data_dir / "keypoints" / f"{partner.clip_id}.npz")
            out = out_dir / "other_pose" / f"{row.clip_id}.mp4"
            jobs.append(Job(row.clip_id, "body", out, ref, own_audio, other_pose, row.caption))
    return jobs


def run_jobs(
    ckpt: Path,
    jobs: list[Job],
    steps: int,
    seed: int,
    seconds: float | None = None,
    progress=None,
    guidance=None,
) -> int:
    """Generate every job whose video does not exist yet; returns how many were made.
    `guidance`: an `omni.generate.pipeline.Guidance` (None: the pipeline's default)."""
    from omni.generate.pipeline import OmniPipeline, save_video

    todo = [j for j in jobs if not j.out.exists()]
    if not todo:
        return 0
    pipe = OmniPipeline.from_checkpoint(ckpt)
    for job in todo:
        if progress is not None:
            progress(job.out.name)
        result = pipe(
            ref=job.ref,
            audio=job.audio,
            pose=job.pose,
            text=job.text,
            steps=steps,
            seed=seed,
            seconds=seconds,
            check_face=False,
            cfg=guidance,
        )
        save_video(result, job.out)
    return len(todo)


def generated_samples(heldout: Path, gen_dir: Path) -> list[Sample]:
    """`Sample`s of the generations (read back from disk) for `omni.demo.proof.measure`."""
    import cv2

    from omni.demo.synth import load_truth
    from omni.media import read_audio, read_video

    manifest = read_manifest(heldout)
    rows = pairs(manifest).set_index("clip_id", drop=False)
    samples = []
    for row in rows.itertuples():
        own = gen_dir / "own" / f"{row.clip_id}.mp4"
        if not own.exists():
            continue
        partner = rows.loc[row.partner]
        clip = read_video(own)
        fps = 1 / float(np.median(np.diff(clip.times))) if len(clip.times) > 1 else float(row.fps)
        sr = int(row.audio_sr)
        wave = read_audio(manifest.resolve(row.synth_audio), sr=sr)[
            : round(len(clip.frames) / fps * sr)
        ]
        other_video = None
        other = gen_dir / "other_audio" / f"{row.clip_id}.mp4"
        if row.synth_kind == "face" and other.exists():
            other_video = read_video(other).frames
        other_pose = gen_dir / "other_pose" / f"{row.clip_id}.mp4"
        other_pose_video = read_video(other_pose).frames if other_pose.exists() else None
        keypoints = other_keypoints = None
        if row.synth_kind == "body":
            keypoints = _resampled(load_truth(manifest.resolve(row.synth_truth)), clip.times)
            other_keypoints = _resampled(
                load_truth(manifest.resolve(partner.synth_truth)), clip.times
            )
        samples.append(
            Sample(
                clip_id=row.clip_id,
                kind=row.synth_kind,
                video=clip.frames,
                fps=fps,
                wave=wave,
                sr=sr,
                reference=cv2.imread(manifest.resolve(row.synth_reference))[..., ::-1],
                other_reference=cv2.imread(manifest.resolve(partner.synth_reference))[..., ::-1],
                keypoints=keypoints,
                other_keypoints=other_keypoints,
                video_other_audio=other_video,
                video_other_pose=other_pose_video,
                **truth_pair(manifest, row, row.partner, len(clip.frames)),
            )
        )
    return samples


def _resampled(truth, times: np.ndarray) -> np.ndarray:
    """The truth keypoints at the generated frames' times (nearest earlier frame)."""
    index = np.clip(np.searchsorted(truth.times, times + 1e-6) - 1, 0, len(truth.times) - 1)
    return truth.keypoints[index]
