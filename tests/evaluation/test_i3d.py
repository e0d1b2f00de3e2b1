"""FVD's I3D: loads a random state dict with pytorch-i3d's parameter names and shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omni.evaluation.i3d import CLIP_FRAMES, _same_padding, i3d_input, load_i3d

# pytorch-i3d's InceptionI3d, written out from its published architecture: (name, in, out, kernel)
_STEM = [
    ("Conv3d_1a_7x7", 3, 64, 7),
    ("Conv3d_2b_1x1", 64, 64, 1),
    ("Conv3d_2c_3x3", 64, 192, 3),
]
_BLOCKS = [
    ("Mixed_3b", 192, [64, 96, 128, 16, 32, 32]),
    ("Mixed_3c", 256, [128, 128, 192, 32, 96, 64]),
    ("Mixed_4b", 480, [192, 96, 208, 16, 48, 64]),
    ("Mixed_4c", 512, [160, 112, 224, 24, 64, 64]),
    ("Mixed_4d", 512, [128, 128, 256, 24, 64, 64]),
    ("Mixed_4e", 512, [112, 144, 288, 32, 64, 64]),
    ("Mixed_4f", 528, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5b", 832, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5c", 832, [384, 192, 384, 48, 128, 128]),
]


def _original_layout() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}

    def unit(name: str, cin: int, cout: int, k: int) -> None:
        shapes[f"{name}.conv3d.weight"] = (cout, cin, k, k, k)
        for p in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.bn.{p}"] = (cout,)

    for name, cin, cout, k in _STEM:
        unit(name, cin, cout, k)
    for name, cin, (b0, b1a, b1b, b2a, b2b, b3b) in _BLOCKS:
        unit(f"{name}.b0", cin, b0, 1)
        unit(f"{name}.b1a", cin, b1a, 1)
        unit(f"{name}.b1b", b1a, b1b, 3)
        unit(f"{name}.b2a", cin, b2a, 1)
        unit(f"{name}.b2b", b2a, b2b, 3)
        unit(f"{name}.b3b", cin, b3b, 1)
    shapes["logits.conv3d.weight"] = (400, 1024, 1, 1, 1)
    shapes["logits.conv3d.bias"] = (400,)
    return shapes


def _random_state(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    state = {}
    for name, shape in shapes.items():
        noise = torch.randn(shape, generator=gen)
        if len(shape) == 5:
            state[name] = noise * (2 / (shape[1] * shape[2] ** 3)) ** 0.5
        elif name.endswith("running_var"):
            state[name] = noise.abs() * 0.2 + 0.8
        elif name.endswith("bn.weight"):
            state[name] = 1 + 0.1 * noise
        else:
            state[name] = 0.1 * noise
    return state


@pytest.fixture(scope="module")
def i3d_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("i3d") / "rgb_imagenet.pt"
    torch.save(_random_state(_original_layout()), path)  # old checkpoints: no num_batches_tracked
    return path


def test_loads_original_layout_and_embeds_a_clip(i3d_file: Path) -> None:
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
