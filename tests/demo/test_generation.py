"""Which generations the demo makes for its held-out proof, and how they are paired."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omni.demo import generation, synth
from omni.manifest import read_manifest


def test_jobs_pair_within_a_kind(tmp_path):
    data = tmp_path / "data"
    mix = {"face": 0.5, "body": 0.5}
    synth.make_demo_dataset(
        data, n_clips=5, seconds=0.4, size=64, held_out=4, mix=mix, progress=False
    )
    held = read_manifest(data / "heldout.parquet")
    paired = generation.pairs(held)
    assert len(paired) == 4
    for row in paired.itertuples():
        partner = paired.set_index("clip_id").loc[row.partner]
        assert partner.synth_kind == row.synth_kind and row.partner != row.clip_id
    jobs = generation.plan_jobs(held, data, tmp_path / "gen")
    own = [j for j in jobs if j.out.parent.name == "own"]
    other = [j for j in jobs if j.out.parent.name == "other_audio"]
    assert len(own) == 4 and len(other) == 2 and all(j.kind == "face" for j in other)
    for job in own:
        assert Path(job.ref).exists() and Path(job.audio).exists() and job.text
        assert (job.pose is not None) == (job.kind == "body")
        if job.pose:
            assert Path(job.pose).exists()
    by_clip = {j.clip_id: j for j in own}
    for job in other:  # same reference and caption, the partner's audio
        assert job.ref == by_clip[job.clip_id].ref and job.text == by_clip[job.clip_id].text
        assert job.audio != by_clip[job.clip_id].audio
    other_pose = [j for j in jobs if j.out.parent.name == "other_pose"]
    assert len(other_pose) == 2 and len(jobs) == 8
    for job in other_pose:  # same reference, caption and audio, the partner's keypoints
        mine = by_clip[job.clip_id]
        assert job.kind == "body" and (job.ref, job.text, job.audio) == (
            mine.ref,
            mine.text,
            mine.audio,
        )
        assert Path(job.pose).exists() and job.pose != mine.pose


def test_truth_keypoints_follow_the_generated_frame_times():
    truth = synth.Truth(
        mouth=np.zeros(4),
        rounding=np.zeros(4),
        head=np.zeros((4, 3)),
        blink=np.zeros(4),
        keypoints=np.arange(4, dtype=float)[:, None, None] * np.ones((4, 33, 2)),
        times=np.arange(4) / 25,
    )
    got = generation._resampled(truth, np.array([0.0, 0.04, 0.079, 0.2]))
    assert list(got[:, 0, 0]) == [0, 1, 1, 3]
