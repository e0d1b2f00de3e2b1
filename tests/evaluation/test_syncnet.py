"""SyncNet: syncnet_python's parameter layout, its inputs, and the ±15 offset search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from omni.evaluation.syncnet import (
    CROP_SIZE,
    audio_windows,
    face_crop,
    lip_windows,
    load_syncnet,
    mfcc,
    offset_search,
    smooth_boxes,
    syncnet_score,
)


def test_loads_original_layout_and_embeds(syncnet_file: Path) -> None:
    model = load_syncnet(syncnet_file)
    saved = torch.load(syncnet_file, weights_only=True)
    loaded = model.state_dict()
    for name in ("netcnnaud.18.weight", "netcnnlip.19.running_var", "netfclip.3.bias"):
        torch.testing.assert_close(loaded[name], saved[name])

    rng = np.random.default_rng(0)
    audio = rng.normal(scale=0.1, size=16000).astype(np.float32)  # 1 s = 25 frames
    features = mfcc(audio)
    assert features.shape[0] == 13 and 98 <= features.shape[1] <= 101
    windows = audio_windows(features, num_windows=20)
    assert windows.shape == (20, 1, 13, 20)
    torch.testing.assert_close(windows[3, 0], torch.from_numpy(features[:, 12:32]))

    crops = [rng.integers(0, 256, (CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8) for _ in range(8)]
    batches = list(lip_windows(crops, batch=3))
    assert [b.shape[0] for b in batches] == [3, 1]  # 8 frames -> 4 windows of 5
    assert batches[0].shape == (3, 3, 5, CROP_SIZE, CROP_SIZE)
    torch.testing.assert_close(
        batches[1][0, :, 0], torch.from_numpy(crops[3]).permute(2, 0, 1).float()
    )
    with torch.inference_mode():
        lips = model.forward_lip(batches[0])
        sound = model.forward_audio(windows[:3])
    assert lips.shape == sound.shape == (3, 1024)
    assert torch.isfinite(lips).all() and lips.std() > 0


def test_offset_search_matches_calc_pdist_and_finds_delay() -> None:
    gen = torch.Generator().manual_seed(0)
    video = torch.randn(60, 8, generator=gen)
    delay = 3  # the audio of frame i sits at frame i + 3
    audio = torch.cat([torch.randn(delay, 8, generator=gen), video[:-delay]])
    result = offset_search(video, audio, max_offset=15)
    # reference: syncnet_python's per-frame loop over zero-padded audio features
    padded = torch.nn.functional.pad(audio, (0, 0, 15, 15))
    rows = [
        torch.nn.functional.pairwise_distance(video[[i]].repeat(31, 1), padded[i : i + 31])
        for i in range(len(video))
    ]
    mean = torch.stack(rows, 1).mean(1)
    np.testing.assert_allclose(result.distances, mean.numpy(), rtol=1e-5)
    assert result.offset == -delay
    assert result.sync_d == pytest.approx(float(mean.min()), rel=1e-5)
    assert result.sync_c == pytest.approx(float(mean.median() - mean.min()), rel=1e-5)
    assert result.sync_c > 1.0 and result.num_windows == 60
    with pytest.raises(ValueError, match="one shape"):
        offset_search(video, audio[:10])


def test_face_box_smoothing_and_crop_geometry() -> None:
    boxes = np.array([[100, 100, 200, 200]] * 20, dtype=np.float64)
    boxes[5] = [400, 400, 600, 600]  # one wild detection is voted out by the median filter
    boxes[7:9] = np.nan  # missed frames are interpolated
    track = smooth_boxes(boxes)
    np.testing.assert_allclose(track, np.tile([150, 150, 50], (20, 1)))
    with pytest.raises(ValueError, match="no face"):
        smooth_boxes(np.full((4, 4), np.nan))

    frame = np.zeros((300, 300, 3), np.uint8)
    frame[:, :, 0] = 255  # red picture
    crop = face_crop(frame, cx=150, cy=150, half=50)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3)
    assert tuple(crop[100, 100]) == (0, 0, 255)  # BGR order, as cv2.imread gives SyncNet
    corner = face_crop(frame, cx=10, cy=10, half=50)
    assert tuple(corner[5, 5]) == (110, 110, 110)  # grey canvas beyond the picture


def test_mfcc_needs_16k() -> None:
    with pytest.raises(ValueError, match="16000 Hz"):
        mfcc(np.zeros(100), sr=8000)


def test_syncnet_score_refuses_clips_it_cannot_score(syncnet_file: Path) -> None:
    model = load_syncnet(syncnet_file)
    frames = np.zeros((5, 64, 64, 3), np.uint8)
    boxes = np.tile([16.0, 16.0, 48.0, 48.0], (5, 1))
    with pytest.raises(ValueError, match="at least 6 frames"):
        syncnet_score(model, frames, boxes, np.zeros(16000, np.float32))
    with pytest.raises(ValueError, match="no face"):
        syncnet_score(model, frames, np.full((5, 4), np.nan), np.zeros(16000, np.float32))
