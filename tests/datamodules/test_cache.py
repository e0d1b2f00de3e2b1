import json

import pytest
import torch
import torch.nn.functional as F

from datamodules.grey_clips import rms_per_frame
from omni.datamodules.buckets import make_buckets
from omni.datamodules.cache import CachedClipDataset, CacheWriter
from omni.datamodules.clips import load_clips
from omni.datamodules.conditions import ConditionRatios
from omni.datamodules.datamodule import OmniDataModule
from omni.datamodules.dataset import ClipDataset, SampleSpec

BUCKETS = tuple(make_buckets(32, [1.5]))
SPEC = SampleSpec(num_frames=9, buckets=BUCKETS, load=("text", "ref", "audio"))


def pool(video: torch.Tensor) -> torch.Tensor:
    """A stand-in encoder: (B, 3, T, H, W) -> (B, 3, T, H/4, W/4)."""
    return F.avg_pool3d(video, (1, 4, 4))


def _writer(manifest, out, **kw):
    table = load_clips([str(manifest)], 9, 25.0, BUCKETS)
    return CacheWriter(out, table, SPEC, pool, "pool4", audio_fn=rms_per_frame, **kw), table


def test_cache_holds_the_encoded_windows(grey_manifest, tmp_path):
    writer, table = _writer(grey_manifest, tmp_path / "cache", windows_per_clip=2, shard_size=3)
    writer.write(progress=False)
    writer.finish()
    assert writer.is_complete() and writer.num_shards == 2
    cached = CachedClipDataset(tmp_path / "cache", table, SPEC, ConditionRatios(0.9, 0.7, 0.5))
    raw = ClipDataset(table, SPEC, ConditionRatios(), audio_fn=rms_per_frame)
    sample = cached[(1, 0)]
    assert sample["latent"].shape == (3, 9, 8, 12) and sample["ref_latent"].shape == (3, 1, 8, 12)
    row = raw._rows[1]
    video = raw._frames(row["path"], row, sample["t0"], 9, BUCKETS[0])[None]
    assert torch.allclose(sample["latent"], pool(video)[0])
    assert torch.allclose(sample["audio"], raw._audio(row["path"], row, sample["t0"], True))
    # same condition draw as the raw dataset for the same item
    raw_train = ClipDataset(table, SPEC, ConditionRatios(0.9, 0.7, 0.5), audio_fn=rms_per_frame)
    assert torch.equal(sample["active"], raw_train[(1, 0)]["active"])


def test_interrupted_build_resumes_and_failures_are_recorded(grey_manifest, tmp_path):
    writer, table = _writer(grey_manifest, tmp_path / "cache", windows_per_clip=1, shard_size=2)
    writer.dataset._rows[3] = {**writer.dataset._rows[3], "path": str(tmp_path / "gone.mp4")}
    writer.write(progress=False)
    first = writer.shard_path(0).stat().st_mtime_ns
    writer.shard_path(1).unlink()  # as if killed before the last shard
    writer.write(progress=False)
    assert writer.shard_path(0).stat().st_mtime_ns == first
    writer.finish()
    cached = CachedClipDataset(tmp_path / "cache", table, SPEC, ConditionRatios())
    assert cached.usable().tolist() == [True, True, True, False]
    assert "no such file" in cached.failed["error"].iloc[0]


def test_datamodule_trains_from_cache(grey_manifest, tmp_path):
    dm = OmniDataModule(
        manifests=[str(grey_manifest)], resolution=32, aspect_ratios=(1.5,), batch_size=2,
        ratios=ConditionRatios(1.0, 1.0, 0.5), val_fraction=0.01, cache_dir=str(tmp_path / "c"),
        cache_windows=1,
    )  # fmt: skip
    dm.audio_fn = rms_per_frame
    dm.encoder = (pool, "pool4")
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["latent"].shape == (2, 3, 9, 8, 12) and "video" not in batch
    assert (tmp_path / "c" / "train" / "index.parquet").exists()
    assert (tmp_path / "c" / "val" / "index.parquet").exists()


def test_cache_of_other_settings_is_refused(grey_manifest, tmp_path):
    writer, table = _writer(grey_manifest, tmp_path / "cache", windows_per_clip=1, shard_size=8)
    writer.write(progress=False)
    writer.finish()
    other = CacheWriter(
        tmp_path / "cache", table, SPEC, pool, "another-vae", audio_fn=rms_per_frame
    )
    assert not other.is_complete()
    with pytest.raises(ValueError, match=r"another data\.cache_dir"):
        other.write(progress=False)


def _datamodule(manifest, cache_dir=None) -> OmniDataModule:
    dm = OmniDataModule(
        manifests=[str(manifest)], resolution=32, aspect_ratios=(1.5,), batch_size=2,
        ratios=ConditionRatios(0.9, 0.7, 0.5), val_fraction=0.3, cache_dir=cache_dir,
        cache_windows=2, motion_prob=0.5, seed=3,
    )  # fmt: skip
    dm.audio_fn = rms_per_frame
    dm.encoder = (pool, "pool4")
    dm.setup("fit")
    return dm


def _batches(loader, epoch):
    loader.batch_sampler.set_epoch(epoch)
    return list(loader)


def _assert_same_batch(cached: dict, raw: dict) -> None:
    """The cached batch is the decoded one with pixels replaced by their encodings."""
    assert cached["clip_id"] == raw["clip_id"] and cached["caption"] == raw["caption"]
    for key in ("active", "eligible", "key", "t0", "audio", "motion_active"):
        assert torch.equal(cached[key], raw[key]), key
    assert torch.allclose(cached["latent"], pool(raw["video"]), atol=1e-6)
    assert torch.allclose(cached["ref_latent"], pool(raw["ref"]), atol=1e-6)
    on = raw["motion_active"]
    assert torch.allclose(cached["motion_latent"][on], pool(raw["motion"][on]), atol=1e-6)
    assert not cached["motion_latent"][~on].any()


def test_cached_and_decoded_runs_give_the_same_batches(grey_manifest, tmp_path):
    """Same seed, motion frames on: every batch of the first cache_windows epochs and of
    validation equals the decoding run's, motion-frame latents included."""
    cached = _datamodule(grey_manifest, str(tmp_path / "c"))
    raw = _datamodule(grey_manifest)
    assert cached.spec.motion_prob == 0.5  # the cache no longer turns motion frames off
    motion_rows = 0
    for epoch in (0, 1):
        pairs = zip(
            _batches(cached.train_dataloader(), epoch),
            _batches(raw.train_dataloader(), epoch),
            strict=True,
        )
        for c, r in pairs:
            assert "video" not in c and "motion" not in c
            _assert_same_batch(c, r)
            motion_rows += int(r["motion_active"].sum())
    assert motion_rows > 0  # the comparison covered motion frames
    val = list(zip(cached.val_dataloader(), raw.val_dataloader(), strict=True))
    assert val
    for c, r in val:
        _assert_same_batch(c, r)
    # epoch 2 reuses window 0 (the first epoch's windows) with the epoch's own draws
    again = cached.train_dataloader().dataset
    assert again[(0, 2)]["t0"] == again[(0, 0)]["t0"]
    assert again[(0, 2)]["key"] != again[(0, 0)]["key"]


def test_cache_of_an_older_format_is_refused_with_what_to_do(grey_manifest, tmp_path):
    writer, table = _writer(grey_manifest, tmp_path / "cache", windows_per_clip=1, shard_size=8)
    writer.write(progress=False)
    writer.finish()
    meta = json.loads((tmp_path / "cache" / "meta.json").read_text())
    (tmp_path / "cache" / "meta.json").write_text(json.dumps({**meta, "version": 1}))
    with pytest.raises(ValueError, match=r"format version 1.*re-run `omni curate cache`"):
        CachedClipDataset(tmp_path / "cache", table, SPEC, ConditionRatios())
    with pytest.raises(ValueError, match=r"format version 1.*re-run `omni curate cache`"):
        writer.write(progress=False)
