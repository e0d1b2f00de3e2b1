"""The frame watermark: the package's embedding rule, round trips, attacks, unmarked frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from imwatermark.dwtDctSvd import EmbedDwtDctSvd

from omni.provenance import watermark as wm
from omni.provenance.watermark import Payload, detect_watermark, watermark_frames


@pytest.fixture
def clip(small_clip: np.ndarray) -> np.ndarray:
    return small_clip


def test_payload_bits_round_trip() -> None:
    payload = Payload(checkpoint="a1b2c3", version=7)
    bits = payload.to_bits()
    assert bits.shape == (64,)
    assert np.packbits(bits[:32]).tobytes() == b"omni"
    magic, back = Payload.from_bits(bits)
    assert magic == b"omni" and back == payload


@pytest.mark.parametrize("checkpoint", ["a1b2c", "zzzzzz", "a1b2c3d4"])
def test_payload_rejects_bad_checkpoint(checkpoint: str) -> None:
    with pytest.raises(ValueError, match="6 hex digits"):
        Payload(checkpoint=checkpoint)


def test_embedding_rule_is_imwatermarks_dwtdctsvd() -> None:
    rng = np.random.default_rng(0)
    blocks = rng.uniform(150, 350, size=(50, 4, 4))
    bits = rng.integers(0, 2, size=50)
    ours = wm.embed_blocks(blocks, bits, 36.0)
    package = EmbedDwtDctSvd(scales=[0, 36, 0])
    for block, bit, mine in zip(blocks, bits, ours, strict=True):
        theirs = package.diffuse_dct_svd(block.copy(), int(bit), 36)
        np.testing.assert_allclose(mine, theirs, atol=1e-6)
        assert package.infer_dct_svd(mine, 36) == bit


def test_power_iteration_matches_svd(clip: np.ndarray) -> None:
    u = wm.chroma_u(clip[0]).astype(np.float64)
    ll = u.reshape(128, 2, 128, 2).sum(axis=(1, 3)) / 2
    blocks = ll.reshape(32, 4, 32, 4).transpose(0, 2, 1, 3)
    exact = np.linalg.svd(blocks, compute_uv=False)[..., 0]
    assert np.max(np.abs(wm._top_singular(blocks) - exact)) < 1e-3 * wm.STRENGTH


def test_layout_shifts_do_not_alias() -> None:
    signs = wm._SIGNS  # (64, 8, 8), shift 0 first
    agreement = np.sum((signs == signs[0]) & (signs[0] != 0), axis=(1, 2))
    assert agreement[0] == wm.KNOWN_BITS
    assert agreement[1:].max() <= 15


def test_round_trip_and_visual_cost(clip: np.ndarray) -> None:
    marked = watermark_frames(clip, Payload("c0ffee"))
    assert marked.shape == clip.shape and marked.dtype == np.uint8
    mse = np.mean((marked.astype(float) - clip) ** 2)
    assert 10 * np.log10(255**2 / mse) > 38  # PSNR
    found = detect_watermark(marked)
    assert found.found and found.payload == Payload("c0ffee")
    assert found.matched_bits == 40 and found.p_value < 1e-10 and found.cell == 2.0
    clean = detect_watermark(clip)
    assert not clean.found and clean.payload is None and clean.matched_bits < 35


def test_survives_crop_and_half_size(clip: np.ndarray) -> None:
    marked = watermark_frames(clip, Payload("123abc"))
    cropped = marked[:, 13:243, 7:237]  # 10% off, not on the block grid
    assert detect_watermark(cropped).payload == Payload("123abc")
    half = np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA) for f in marked])
    result = detect_watermark(half)
    assert result.payload == Payload("123abc") and result.cell == 1.0


def test_small_frames_use_a_finer_cell_and_tiny_frames_are_refused() -> None:
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 255, (6, 128, 128, 3), dtype=np.uint8)
    frames = np.stack([cv2.GaussianBlur(f, (0, 0), 3) for f in noise])
    marked = watermark_frames(frames, Payload("abcdef"))
    result = detect_watermark(marked)
    assert result.payload == Payload("abcdef") and result.cell == 1.0
    with pytest.raises(ValueError, match="at least 64x64"):
        watermark_frames(frames[:, :40, :40], Payload())


def test_smallest_markable_side_is_read(clip: np.ndarray) -> None:
    """64 px frames hold exactly one tile: the detector reads them at the one phase that fits."""
    small = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in clip])
    result = detect_watermark(watermark_frames(small, Payload("abcdef")))
    assert result.found and result.payload == Payload("abcdef")
    assert result.cell == 1.0 and result.offset == (0, 0)
    assert not detect_watermark(small).found
    assert wm._whole_tile_phases(np.zeros((1, 64, 64)), list(range(64))) == [0]
    assert len(wm._whole_tile_phases(np.zeros((1, 72, 72)), list(range(64)))) == 64


def test_rejects_wrong_frames() -> None:
    with pytest.raises(ValueError, match="uint8"):
        watermark_frames(np.zeros((2, 64, 64, 3), np.float32), Payload())
    with pytest.raises(ValueError, match="T >= 1"):
        detect_watermark(np.zeros((0, 64, 64, 3), np.uint8))
