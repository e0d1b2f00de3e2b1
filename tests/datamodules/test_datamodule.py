import pytest
import torch

from datamodules.grey_clips import rms_per_frame
from omni.datamodules.conditions import ConditionRatios
from omni.datamodules.datamodule import OmniDataModule, _val_mask


def _dm(manifest, **kw):
    args = dict(
        manifests=[str(manifest)],
        resolution=32,
        aspect_ratios=(1.5,),
        batch_size=2,
        ratios=ConditionRatios(text=0.9, ref=0.7, audio=0.5),
        val_fraction=0.01,
    )
    dm = OmniDataModule(**{**args, **kw})
    dm.audio_fn = rms_per_frame
    dm.setup("fit")
    return dm


def test_batches_from_manifest(grey_manifest):
    dm = _dm(grey_manifest)
    assert len(dm.train_table) == 3 and len(dm.val_table) == 1  # error row never sampled
    assert dm.train_table.excluded == {"status=error": 1}
    batches = list(dm.train_dataloader())
    assert len(batches) == 1
    batch = batches[0]
    assert batch["video"].shape == (2, 3, 9, 32, 48)
    assert batch["ref"].shape == (2, 3, 1, 32, 48)
    assert batch["audio"].shape == (2, 9, 1)
    assert "pose" not in batch  # the stage never uses pose: not loaded
    assert batch["key"].dtype == torch.int64 and len(set(batch["key"].tolist())) == 2
    val = list(dm.val_dataloader())
    assert len(val) == 1 and val[0]["video"].shape[0] == 2  # padded by wrapping
    assert val[0]["active"][:, :3].all()


def test_workers_give_the_same_batches(grey_manifest):
    a = next(iter(_dm(grey_manifest).train_dataloader()))
    b = next(iter(_dm(grey_manifest, num_workers=2).train_dataloader()))
    assert a["clip_id"] == b["clip_id"]
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["active"], b["active"])


def test_resume_state_restarts_mid_epoch(grey_manifest):
    dm = _dm(grey_manifest, batch_size=1)
    full = [b["clip_id"] for b in dm.train_dataloader()]
    dm.load_state_dict({"epoch": 0, "batches_done": 2})
    assert [b["clip_id"] for b in dm.train_dataloader()] == full[2:]


def test_val_split_is_stable():
    ids = [f"clip{i}" for i in range(200)]
    mask = _val_mask(ids, 0.1)
    assert 10 <= mask.sum() <= 30
    assert (_val_mask(ids[::-1], 0.1)[::-1] == mask).all()
    assert _val_mask(["a", "b"], 0.01).sum() == 1


def test_no_sampleable_clip_is_a_clear_error(grey_manifest):
    with pytest.raises(ValueError, match="no clip can be sampled"):
        _dm(grey_manifest, num_frames=41)


def test_test_batches_carry_the_driving_wave_and_fps(grey_manifest):
    dm = _dm(grey_manifest, test_manifests=[str(grey_manifest)], batch_size=2)
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    assert batch["fps"].tolist() == [25.0, 25.0]
    assert batch["has_audio"].tolist() == [True, True]
    assert (
        batch["wave"].shape == (2, round(9 / 25 * 16000)) and batch["wave"].dtype == torch.float32
    )
    # the grey clips' tone plays in frames i % 4 == 0: the wave follows the window's frames
    start = round(float(batch["t0"][0]) * 25)
    frames = batch["wave"][0].reshape(9, -1)  # 640 samples per frame at 16 kHz, 25 fps
    loud = frames.pow(2).mean(1).sqrt()
    on = [(start + k) % 4 == 0 for k in range(9)]
    assert all(loud[k] > 0.2 for k in range(9) if on[k])
    assert all(loud[k] < 0.05 for k in range(9) if not on[k])
    predict = next(iter(dm.predict_dataloader()))
    assert predict["wave"].shape == (1, 5760) and predict["fps"].tolist() == [25.0]
    assert "wave" not in next(iter(dm.val_dataloader()))  # training batches stay lean


def test_lightning_advances_the_epoch_of_the_train_sampler(grey_manifest):
    """Lightning sets the epoch through `batch_sampler.sampler`: each epoch draws anew."""
    from lightning.fabric.utilities.data import _set_sampler_epoch

    loader = _dm(grey_manifest, batch_size=1).train_dataloader()
    epochs = {}
    for epoch in (0, 1, 2):
        _set_sampler_epoch(loader, epoch)
        epochs[epoch] = [(b["clip_id"][0], int(b["key"][0]), float(b["t0"][0])) for b in loader]
    assert sorted(c for c, _, _ in epochs[1]) == sorted(c for c, _, _ in epochs[0])
    keys = [{k for _, k, _ in batches} for batches in epochs.values()]
    assert not keys[0] & keys[1] and not keys[1] & keys[2]  # new noise seeds every epoch
    assert len({tuple(t for *_, t in b) for b in epochs.values()}) > 1  # new windows
