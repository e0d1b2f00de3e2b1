import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from datamodules.grey_clips import rms_per_frame
from omni.datamodules.buckets import make_buckets
from omni.datamodules.clips import ClipTable, load_clips
from omni.datamodules.conditions import ConditionRatios, GuidanceDrop
from omni.datamodules.dataset import ClipDataset, SampleSpec, collate, is_empty
from omni.manifest import read_manifest, register_columns, write_manifest
from omni.media import probe, read_video
from omni.pose import NUM_KEYPOINTS, Keypoints, save_keypoints

BUCKETS = tuple(make_buckets(32, [1.0, 1.5]))


def _dataset(manifest, train=True, ratios=None, load=("text", "ref", "audio"), **kw):
    table = load_clips([str(manifest)], 9, 25.0, BUCKETS)
    spec = SampleSpec(num_frames=9, buckets=BUCKETS, load=load)
    ratios = ratios or ConditionRatios(text=0.9, ref=0.7, audio=0.5)
    return ClipDataset(table, spec, ratios, seed=7, train=train, audio_fn=rms_per_frame, **kw)


def _frame_index(video: torch.Tensor) -> np.ndarray:
    grey = (video.mean(dim=(0, 2, 3)) + 1) * 127.5  # (T,)
    return np.round((grey.numpy() - 20) / 6).astype(int)


def test_sample_is_the_decoded_window(grey_manifest):
    ds = _dataset(grey_manifest)
    sample = ds[(0, 0)]
    assert sample["video"].shape == (3, 9, 32, 48)
    assert sample["ref"].shape == (3, 1, 32, 48)
    frames = _frame_index(sample["video"])
    start = frames[0]
    assert frames.tolist() == list(range(start, start + 9))  # seeked to the window, in order
    assert sample["t0"] == pytest.approx(start / 25)
    ref = _frame_index(sample["ref"])[0]
    assert not start <= ref < start + 9  # the reference comes from outside the window
    # audio on the video timeline: the tone plays exactly in frames i % 4 == 0
    tone = sample["audio"][:, 0].numpy() > 0.1
    assert tone.tolist() == [(start + k) % 4 == 0 for k in range(9)]
    assert sample["caption"] in ("", "a grey clip called c0")


def test_same_item_same_sample_other_epoch_other_window(grey_manifest):
    ds = _dataset(grey_manifest)
    a, b = ds[(1, 0)], ds[(1, 0)]
    assert torch.equal(a["video"], b["video"]) and a["key"] == b["key"]
    starts = {_frame_index(ds[(1, e)]["video"])[0] for e in range(6)}
    assert len(starts) > 1


def test_validation_sample_is_fixed_and_fully_conditioned(grey_manifest):
    ds = _dataset(grey_manifest, train=False)
    sample = ds[(2, 5)]
    assert _frame_index(sample["video"])[0] == (30 - 9) // 2
    assert sample["active"].tolist() == [True, True, True, False]
    assert sample["key"] == ds[(2, 0)]["key"]


def test_condition_mix_follows_ratios(grey_manifest):
    ds = _dataset(grey_manifest, ratios=ConditionRatios(text=0.0, ref=0.0, audio=0.5))
    active = torch.stack([ds.load(i % 4, epoch=i // 4)["active"] for i in range(24)])
    assert active[:, 2].float().mean() == pytest.approx(0.5, abs=0.25)
    assert (active[:, 0] == active[:, 2]).all()  # text is on only through audio here


def test_guidance_drop_switches_conditions_off_after_the_closure(grey_manifest):
    drop = GuidanceDrop(text=0.5)
    ds = _dataset(grey_manifest, ratios=ConditionRatios(audio=1.0), cfg_drop=drop)
    samples = [ds.load(i % 4, epoch=i // 4) for i in range(40)]
    active = torch.stack([s["active"] for s in samples])
    dropped = torch.stack([s["cfg_dropped"] for s in samples])
    assert active[:, 1:3].all()  # audio always drawn: reference and audio always on
    assert torch.equal(active[:, 0], ~dropped[:, 0])  # text on unless dropped
    assert 0.2 < dropped[:, 0].float().mean() < 0.8 and not dropped[:, 1:].any()
    assert all((s["caption"] == "") == bool(s["cfg_dropped"][0]) for s in samples)
    again = ds.load(3, epoch=2)
    assert torch.equal(again["cfg_dropped"], samples[3 + 2 * 4]["cfg_dropped"])  # seeded
    assert "cfg_dropped" not in _dataset(grey_manifest).load(0)  # no drop configured
    assert "cfg_dropped" not in _dataset(grey_manifest, train=False, cfg_drop=drop).load(0)


def test_unreadable_clip_is_replaced_and_reported(grey_manifest, tmp_path):
    ds = _dataset(grey_manifest)
    ds._rows[0] = {**ds._rows[0], "path": str(tmp_path / "gone.mp4")}
    sample = ds[(0, 0)]
    assert sample["clip_id"] == "c1"
    assert len(sample["skipped"]) == 1 and sample["skipped"][0].startswith("c0: ")
    batch = collate([sample, ds[(2, 0)]])
    assert batch["video"].shape == (2, 3, 9, 32, 48)
    assert batch["active"].dtype == torch.bool and batch["active"].shape == (2, 4)
    assert batch["skipped"] == sample["skipped"]


def test_unreadable_validation_clip_is_left_out_not_replaced(grey_manifest, tmp_path):
    """Validation never scores a stand-in twice: a clip that fails is dropped from its batch with
    its reason; a bucket whose clips all fail gives a batch of reasons only, and no error."""
    ds = _dataset(grey_manifest, train=False)
    ds._rows[0] = {**ds._rows[0], "path": str(tmp_path / "gone.mp4")}
    batch = collate([ds[(0, 0)], ds[(1, 0)]])
    assert batch["clip_id"] == ["c1"] and batch["video"].shape[0] == 1
    assert len(batch["skipped"]) == 1 and batch["skipped"][0].startswith("c0: ")
    for i in range(4):
        ds._rows[i] = {**ds._rows[i], "path": str(tmp_path / "gone.mp4")}
    empty = collate([ds[(i, 0)] for i in range(4)])
    assert is_empty(empty) and set(empty) == {"skipped"}
    assert [n.split(":")[0] for n in empty["skipped"]] == ["c0", "c1", "c2", "c3"]


def test_training_bucket_that_never_decodes_is_dropped_not_raised(grey_manifest, tmp_path):
    ds = _dataset(grey_manifest)
    for i in range(4):
        ds._rows[i] = {**ds._rows[i], "path": str(tmp_path / "gone.mp4")}
    batch = collate([ds[(0, 0)], ds[(1, 0)]])
    assert is_empty(batch) and len(batch["skipped"]) == 8  # 4 attempts per sample, all counted


def test_num_frames_must_be_one_plus_4k():
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        SampleSpec(num_frames=8, buckets=BUCKETS, load=())


def test_real_footage_window(footage):
    """d12.mp4: a 512x512 talking clip with AAC audio; the window seeks to 4 s."""
    path = footage("d12.mp4")
    info = probe(path)
    df = pd.DataFrame([{
        "clip_id": "d12", "path": str(path), "keypoints": None, "start_s": 4.0,
        "end_s": 4.0 + 10 / 25, "fps": info.fps, "fps_t": 25.0, "n_frames": 10,
        "width": 512, "height": 512, "rotation": 0, "has_audio": True,
        "caption": "a man speaking", "bucket": 0,
    }])  # fmt: skip
    table = ClipTable(df, np.ones((1, 4), bool))
    spec = SampleSpec(num_frames=9, buckets=((64, 64),), load=("text", "ref", "audio"))
    ds = ClipDataset(table, spec, ConditionRatios(1, 1, 1), train=False, audio_fn=rms_per_frame)
    sample = ds.load(0)
    assert sample["video"].shape == (3, 9, 64, 64)
    # the same frames decoded by media.read_video directly (centred window: frame 0 of 10)
    direct = read_video(path, 4.0, 4.0 + 9 / 25, fps=25.0, size=(64, 64), max_frames=9)
    expected = torch.from_numpy(direct.frames).float() / 127.5 - 1
    assert torch.allclose(sample["video"].permute(1, 2, 3, 0), expected)
    assert sample["audio"].abs().sum() > 0  # speech


def test_pose_heatmaps_follow_keypoints_through_crop(grey_manifest, tmp_path):
    """Nose keypoint at x = 0.1 + 0.02 i in frame i; square bucket crops the 48x32 clip."""

    xy = np.full((30, NUM_KEYPOINTS, 2), np.nan, np.float32)
    conf = np.zeros((30, NUM_KEYPOINTS), np.float32)
    xy[:, 0, 0] = 0.1 + 0.02 * np.arange(30) + 1 / 6  # +1/6: the crop cuts 8 of 48 px each side
    xy[:, 0, 1] = 0.5
    conf[:, 0] = 1.0
    save_keypoints(tmp_path / "c0.npz", Keypoints(xy, conf), np.arange(30) / 25)
    manifest = read_manifest(grey_manifest)
    df = manifest.df.assign(
        source=[manifest.resolve(s) for s in manifest.df["source"]],
        eligible_pose=True,
        keypoints_path=[str(tmp_path / "c0.npz")] * len(manifest.df),
    )
    register_columns(pa.field("keypoints_path", pa.string()))
    path = write_manifest(pd.DataFrame(df), tmp_path / "m.parquet")
    buckets = ((32, 32),)
    table = load_clips([str(path)], 9, 25.0, buckets)
    spec = SampleSpec(num_frames=9, buckets=buckets, load=("text", "ref", "audio", "pose"))
    ds = ClipDataset(table, spec, ConditionRatios(pose=1.0), train=True, audio_fn=rms_per_frame)
    sample = ds.load(0, epoch=3)
    heat = sample["pose"]
    assert heat.shape == (17, 9, 32, 32)
    assert sample["active"].tolist() == [True, True, True, True]
    start = _frame_index(sample["video"])[0]
    nose = heat[0]  # (T, H, W)
    cols = nose.amax(dim=1).argmax(dim=1).numpy()  # peak column per frame
    # x in the crop = (x_full * 48 - 8) / 32; the peak pixel is the one whose centre is nearest
    expected = np.floor((0.1 + 0.02 * (start + np.arange(9)) + 1 / 6) * 48 - 8).astype(int)
    assert np.abs(cols - expected).max() <= 1
    assert nose.amax() == pytest.approx(1.0, abs=0.05)
    assert heat[1:].abs().sum() == 0  # no other joint
    # test batches also carry the keypoints themselves (to drive OmniPipeline), in the crop
    test = ClipDataset(table, spec, ConditionRatios(pose=1.0), train=False, wave=True,
                       audio_fn=rms_per_frame)  # fmt: skip
    window = test.load(0)
    first = _frame_index(window["video"])[0]
    assert window["kp_xy"].shape == (9, NUM_KEYPOINTS, 2) and window["kp_conf"][:, 0].eq(1).all()
    x = (0.1 + 0.02 * (first + np.arange(9)) + 1 / 6) * 48 - 8  # crop pixels
    assert np.allclose(window["kp_xy"][:, 0, 0].numpy() * 32, x, atol=0.05)
