"""FVD's I3D: loads a random state dict with pytorch-i3d's parameter names and shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omni.evaluation.i3d import CLIP_FRAMES, _same_padding, i3d_input, load_i3d


def test_loads_original_layout(i3d_file: Path) -> None:
    model = load_i3d(i3d_file)
    saved = torch.load(i3d_file, weights_only=True)
    loaded = model.state_dict()
    assert len(saved) == 287
    for name in (
        "Conv3d_1a_7x7.conv3d.weight",
        "Mixed_4e.b2b.bn.running_var",
        "logits.conv3d.bias",
    ):
        torch.testing.assert_close(loaded[name], saved[name])


@pytest.mark.slow
def test_embeds_a_clip(i3d_file: Path) -> None:
    model = load_i3d(i3d_file)
    gen = torch.Generator().manual_seed(1)
    clips = torch.randint(0, 256, (1, CLIP_FRAMES, 48, 64, 3), dtype=torch.uint8, generator=gen)
    x = i3d_input(clips)
    assert x.shape == (1, 3, CLIP_FRAMES, 224, 224)
    with torch.inference_mode():
        logits = model(x)
    assert logits.shape == (1, 400)
    assert torch.isfinite(logits).all() and logits.std() > 0


def test_input_scaling_and_shape_errors() -> None:
    white = torch.full((1, 2, 8, 8, 3), 255, dtype=torch.uint8)
    assert torch.allclose(i3d_input(white), torch.ones(1))
    assert torch.allclose(i3d_input(torch.zeros_like(white)), -torch.ones(1))
    with pytest.raises(ValueError, match=r"expected uint8 clips \(B, T, H, W, 3\)"):
        i3d_input(torch.zeros(2, 3, 8, 8))


def test_same_padding_matches_tensorflow() -> None:
    # TF SAME: output = ceil(n / s); the odd pixel of padding goes after
    assert _same_padding((16, 224, 224), (7, 7, 7), (2, 2, 2)) == [2, 3, 2, 3, 2, 3]
    assert _same_padding((8, 7, 7), (3, 3, 3), (1, 1, 1)) == [1, 1, 1, 1, 1, 1]
    assert _same_padding((5,), (2,), (2,)) == [0, 1]


def test_wrong_checkpoint_names_the_problem(tmp_path: Path, i3d_file: Path) -> None:
    state = torch.load(i3d_file, weights_only=True)
    state["logits.conv3d.weight"] = torch.zeros(157, 1024, 1, 1, 1)  # a Charades head
    state.pop("Mixed_5c.b0.bn.weight")
    path = tmp_path / "charades.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"--i3d: .*1 missing .*1 with other shapes"):
        load_i3d(path)
    with pytest.raises(ValueError, match="no such file"):
        load_i3d(tmp_path / "absent.pt")
