"""Motion frames in training samples: the frames just before the window, drawn per sample."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import omni.datamodules.dataset as dataset_module
from omni.datamodules.buckets import make_buckets
from omni.datamodules.clips import load_clips
from omni.datamodules.conditions import ConditionRatios, mix_counts
from omni.datamodules.datamodule import OmniDataModule
from omni.datamodules.dataset import ClipDataset, SampleSpec, collate, draw_motion
from omni.generate.segments import MOTION_FRAMES

BUCKETS = tuple(make_buckets(32, [1.5]))
RATIOS = ConditionRatios(text=0.9, ref=0.7)


def _dataset(manifest, motion_prob, train=True):
    table = load_clips([str(manifest)], 9, 25.0, BUCKETS)
    spec = SampleSpec(num_frames=9, buckets=BUCKETS, load=("text", "ref"), motion_prob=motion_prob)
    return ClipDataset(table, spec, RATIOS, seed=7, train=train)


def _frame_index(video: torch.Tensor) -> list[int]:
    grey = (video.mean(dim=(0, 2, 3)) + 1) * 127.5  # (T,)
    return np.round((grey.numpy() - 20) / 6).astype(int).tolist()


def test_default_count_is_generations():
    assert SampleSpec(num_frames=9, buckets=BUCKETS, load=()).motion_frames == MOTION_FRAMES == 5
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        SampleSpec(num_frames=9, buckets=BUCKETS, load=(), motion_frames=4)
    with pytest.raises(ValueError, match="motion_prob"):
        SampleSpec(num_frames=9, buckets=BUCKETS, load=(), motion_prob=1.5)


def test_motion_frames_are_the_true_preceding_frames_in_one_seek(grey_manifest, monkeypatch):
    calls = []
    read = dataset_module.read_video

    def recording(path, start_s, end_s, **kw):
        calls.append((start_s, kw["max_frames"]))
        return read(path, start_s, end_s, **kw)

    monkeypatch.setattr(dataset_module, "read_video", recording)
    with_motion, without = _dataset(grey_manifest, 1.0), _dataset(grey_manifest, 0.0)
    seen = {True: 0, False: 0}
    for epoch in range(6):
        calls.clear()
        sample = with_motion[(0, epoch)]
        assert len(calls) == 2  # window (+ motion frames), reference
        plain = without[(0, epoch)]
        window = _frame_index(sample["video"])
        start = window[0]
        # the window, reference, conditions and noise key are those of the run without motion
        assert torch.equal(sample["video"], plain["video"])
        assert torch.equal(sample["ref"], plain["ref"]) and sample["key"] == plain["key"]
        assert torch.equal(sample["active"], plain["active"])
        assert sample["motion"].shape == (3, 5, 32, 48)
        has = start >= 5
        assert sample["motion_active"] is has
        seen[has] += 1
        if has:
            assert _frame_index(sample["motion"]) == list(range(start - 5, start))
            # window and motion frames come from one read that starts 5 frames before it
            assert calls[0] == (pytest.approx((start - 5) / 25), 14)
        else:  # the clip has too few frames before the window: none, zeros for the batch
            assert not sample["motion"].any()
            assert calls[0] == (pytest.approx(start / 25), 9)
    assert seen[True] > 0
    assert "motion" not in without[(0, 0)]  # motion_prob 0: batches exactly as before


def test_rate_matches_motion_prob_and_is_seeded():
    spec = SampleSpec(num_frames=9, buckets=BUCKETS, load=(), motion_prob=0.3)
    train = SimpleNamespace(spec=spec, train=True)
    draws = [draw_motion(train, 10, np.random.default_rng([7, i])) for i in range(4000)]
    assert np.mean(draws) == pytest.approx(0.3, abs=0.025)  # 4 sigma of 4000 draws
    again = [draw_motion(train, 10, np.random.default_rng([7, i])) for i in range(4000)]
    assert draws == again
    assert not any(draw_motion(train, 4, np.random.default_rng([7, i])) for i in range(200))
    val = SimpleNamespace(spec=spec, train=False)
    assert draw_motion(val, 5, np.random.default_rng(0)) is True  # validation: where available
    off = SimpleNamespace(spec=SampleSpec(num_frames=9, buckets=BUCKETS, load=()), train=True)
    assert not any(draw_motion(off, 10, np.random.default_rng([7, i])) for i in range(200))


def test_dataset_rate_over_clips(grey_manifest):
    ds = _dataset(grey_manifest, 0.5)
    flags = [ds[(i, e)]["motion_active"] for i in range(4) for e in range(8)]
    # windows start in 0..21 of 30 frames: 17 of 22 starts have 5 frames before them
    assert 0.2 < np.mean(flags) < 0.65
    assert any(flags) and not all(flags)


def test_batches_and_condition_mix_carry_motion(grey_manifest):
    ds = _dataset(grey_manifest, 1.0)
    batch = collate([ds[(0, e)] for e in range(4)])
    assert batch["motion"].shape == (4, 3, 5, 32, 48)
    assert batch["motion_active"].dtype == torch.bool
    counts = mix_counts(batch["active"].numpy(), batch["motion_active"].numpy())
    motion_rows = sum(n for name, n in counts.items() if name.endswith("motion"))
    assert motion_rows == int(batch["motion_active"].sum())


def test_datamodule_passes_motion_settings_also_with_a_cache(tmp_path):
    dm = OmniDataModule(manifests=["x.parquet"], motion_prob=0.5, motion_frames=9)
    assert (dm.spec.motion_prob, dm.spec.motion_frames) == (0.5, 9)
    cached = OmniDataModule(manifests=["x.parquet"], motion_prob=0.5, cache_dir=str(tmp_path))
    assert cached.spec.motion_prob == 0.5 and cached.hparams.motion_prob == 0.5
